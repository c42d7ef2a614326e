"""The nemesis run (#23): faults mixed at random while load keeps arriving, and a history checker.

run.py drives the cluster and records the history; faults.py is the nemesis; checker.py holds the
final state against the history. `make nemesis` / `make nemesis-quick`.
"""
