"""Operational harnesses: a multi-process cluster for fault injection (`make chaos`) and benchmarks."""
