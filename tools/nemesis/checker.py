"""The nemesis run's history checker: pure functions over what the load generator was told and what
the services hold at the end, so that each check can be fed a synthetic anomaly (tests/test_nemesis_checker.py).

A history is a list of operations (dicts, one JSON line each). Every request the generator sent is
one, with `op`, `service`, `t` (epoch seconds when it was sent), `ms` and `status` (0: no answer,
a timeout or a refused connection); an acknowledged one is a 2xx and carries the ids its answer
gave. The nemesis adds `{"op": "fault", "kind", "start", "end"}` and what it injected
(`{"op": "forged", "event_ids", "verdict_ids"}`, the ids being the CloudEvents ids and where each
landed, topic:partition:offset, which is how a consumer names an event whose id it cannot trust;
`{"op": "replayed", "event_id"}`).

A state is what the databases and topics hold after the quiet period (see `State`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

QUALIFIES_CLARIFICATION = ("untrue", "malicious")
REMOVED_ENTRY = ("revoked", "repaired")
CHECKS = ("lost", "twice", "order", "forged_applied", "identity", "audit")


@dataclass
class State:
    """What each service holds, as plain rows.

    reports (intake): id, external_ref, outcome, verdict_id, verdict_version
    cases (verification): id, report_id, status
    verdicts (verification): id, report_id, case_id, version, state, verdict, exempted, concluded_by, decided_by
    verdict_events (verification's outbox, report.verified.v1): event_id, verdict_id
    clarifications: id, report_id, verdict_id, outcome;  clar_seen (verdicts_seen): report_id, verdict_id, version
    meetings: id, clarification_id;  entries: id, report_id, verdict_id, status
    bl_seen (report_verdicts): report_id, verdict_id, version;  objections: id, entry_id
    inbox: service, event_id, outcome (applied | dead_lettered)
    releases (intake's reporter.identity_released audit records): report_id, verdict_id, verdict_version
    audit: service -> the answer of GET /v1/audit/verify
    topic (reports.verified as read at the end): event_id, partition, offset; None when not read
    """

    reports: list[dict[str, Any]] = field(default_factory=list)
    cases: list[dict[str, Any]] = field(default_factory=list)
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    verdict_events: list[dict[str, Any]] = field(default_factory=list)
    clarifications: list[dict[str, Any]] = field(default_factory=list)
    clar_seen: list[dict[str, Any]] = field(default_factory=list)
    meetings: list[dict[str, Any]] = field(default_factory=list)
    entries: list[dict[str, Any]] = field(default_factory=list)
    bl_seen: list[dict[str, Any]] = field(default_factory=list)
    objections: list[dict[str, Any]] = field(default_factory=list)
    inbox: list[dict[str, Any]] = field(default_factory=list)
    releases: list[dict[str, Any]] = field(default_factory=list)
    audit: dict[str, dict[str, Any]] = field(default_factory=dict)
    topic: list[dict[str, Any]] | None = None
    backlog: int = 0


@dataclass
class Anomaly:
    check: str
    what: str
    report_id: str | None = None

    def __str__(self) -> str:
        return f"{self.check}: {self.what}"


def acked(history: Iterable[dict[str, Any]], op: str | None = None) -> list[dict[str, Any]]:
    return [h for h in history if 200 <= h.get("status", 0) < 300 and (op is None or h.get("op") == op)]


def qualifies(verdict: dict[str, Any]) -> bool:
    """A verdict that obliges a clarification: untrue, malicious, or true but exempted."""
    return verdict["verdict"] in QUALIFIES_CLARIFICATION or (verdict["verdict"] == "true"
                                                             and bool(verdict.get("exempted")))


def newest_final(state: State) -> dict[str, dict[str, Any]]:
    """Per report, the final verdict in force (the highest version)."""
    out: dict[str, dict[str, Any]] = {}
    for v in state.verdicts:
        if v["state"] == "final" and (v["report_id"] not in out or v["version"] > out[v["report_id"]]["version"]):
            out[v["report_id"]] = v
    return out


def _applied(state: State) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for row in state.inbox:
        if row["outcome"] == "applied":
            out[row["service"]].add(row["event_id"])
    return out


def _event_of(state: State) -> dict[str, str]:
    return {e["verdict_id"]: e["event_id"] for e in state.verdict_events}


# --- the checks ---------------------------------------------------------------------------------------


def check_lost(history: list[dict[str, Any]], state: State) -> list[Anomaly]:
    out: list[Anomaly] = []
    reports = {r["id"] for r in state.reports}
    cased = {c["report_id"] for c in state.cases}
    verdict_ids = {v["id"] for v in state.verdicts}
    for h in acked(history, "submit"):
        if h["report_id"] not in reports:
            out.append(Anomaly("lost", f"acknowledged report {h['report_id']} not in intake", h["report_id"]))
        elif h["report_id"] not in cased:
            out.append(Anomaly("lost", f"report {h['report_id']} never reached verification", h["report_id"]))
    for h in acked(history):
        if h["op"] in ("conclude", "approve") and h.get("verdict_id") and h["verdict_id"] not in verdict_ids:
            out.append(Anomaly("lost", f"acknowledged verdict {h['verdict_id']} not in verification",
                               h.get("report_id")))
    cases_per_report = Counter(c["report_id"] for c in state.cases)
    for h in acked(history, "correction_decision"):
        if h.get("decision") == "approve" and cases_per_report[h["report_id"]] < 2:
            out.append(Anomaly("lost", f"approved correction of {h['report_id']} opened no new case", h["report_id"]))
    applied = _applied(state)
    event_of = _event_of(state)
    intake = {r["id"]: r for r in state.reports}
    clar_by_verdict = {c["verdict_id"] for c in state.clarifications if c.get("outcome") != "cancelled"}
    entry_by_verdict = {e["verdict_id"] for e in state.entries}
    on_topic = None if state.topic is None else {e["event_id"] for e in state.topic}
    seen = {"clarification": {s["report_id"]: s for s in state.clar_seen},
            "credit_blacklist": {s["report_id"]: s for s in state.bl_seen}}
    for report_id, v in newest_final(state).items():
        event = event_of.get(v["id"])
        rep = intake.get(report_id)
        if rep is not None and rep.get("verdict_id") != v["id"] and event not in applied["intake"]:
            out.append(Anomaly("lost", f"intake never applied verdict {v['id']} of {report_id}", report_id))
        for service, rows in seen.items():
            if (rows.get(report_id) or {}).get("verdict_id") != v["id"] and event not in applied[service]:
                out.append(Anomaly("lost", f"{service} never applied verdict {v['id']} of {report_id}", report_id))
        if qualifies(v) and v["id"] not in clar_by_verdict and event in applied["clarification"]:
            out.append(Anomaly("lost", f"no clarification for verdict {v['id']} of {report_id}", report_id))
        if v["verdict"] == "malicious" and v.get("decided_by") and v["id"] not in entry_by_verdict \
                and event in applied["credit_blacklist"]:
            out.append(Anomaly("lost", f"no entry for malicious verdict {v['id']} of {report_id}", report_id))
        if on_topic is not None and event is not None and event not in on_topic:
            out.append(Anomaly("lost", f"verdict {v['id']} of {report_id} is on no topic", report_id))
    injected = {e for h in history if h.get("op") == "forged" for e in h["event_ids"]}
    for row in state.inbox:  # a genuine event given up on is lost to that service until someone redrives it
        if row["outcome"] == "dead_lettered" and row["event_id"] not in injected:
            out.append(Anomaly("lost", f"{row['service']} dead-lettered the genuine event {row['event_id']}"))
    for op, rows, key in (("consent", state.clarifications, "clarification_id"),
                          ("meeting", state.meetings, "meeting_id"), ("objection", state.objections, "objection_id")):
        have = {r["id"] for r in rows}
        for h in acked(history, op):
            if h[key] not in have:
                out.append(Anomaly("lost", f"acknowledged {op} {h[key]} not found", h.get("report_id")))
    return out


def check_twice(history: list[dict[str, Any]], state: State) -> list[Anomaly]:
    out: list[Anomaly] = []
    by_ref = Counter(r["external_ref"] for r in state.reports if r.get("external_ref"))
    out += [Anomaly("twice", f"{n} reports for submission {ref}") for ref, n in by_ref.items() if n > 1]
    live_cases = Counter(c["report_id"] for c in state.cases if c["status"] != "superseded")
    out += [Anomaly("twice", f"{n} current cases for report {r}", r) for r, n in live_cases.items() if n > 1]
    live_clar = Counter(c["report_id"] for c in state.clarifications if c.get("outcome") != "cancelled")
    out += [Anomaly("twice", f"{n} live clarifications for report {r}", r) for r, n in live_clar.items() if n > 1]
    clar_verdict = Counter(c["verdict_id"] for c in state.clarifications if c.get("verdict_id"))
    out += [Anomaly("twice", f"{n} clarifications for verdict {v}") for v, n in clar_verdict.items() if n > 1]
    entry_verdict = Counter(e["verdict_id"] for e in state.entries)
    out += [Anomaly("twice", f"{n} entries for verdict {v}") for v, n in entry_verdict.items() if n > 1]
    live_entries = Counter(e["report_id"] for e in state.entries if e["status"] not in REMOVED_ENTRY)
    out += [Anomaly("twice", f"{n} live entries for report {r}", r) for r, n in live_entries.items() if n > 1]
    tries = Counter(h.get("clarification_id") for h in history if h.get("op") == "meeting")
    meetings = Counter(m["clarification_id"] for m in state.meetings)
    out += [Anomaly("twice", f"{n} meetings for clarification {c}, {tries[c]} asked for")
            for c, n in meetings.items() if n > max(1, tries[c])]
    objections = Counter(o["entry_id"] for o in state.objections)
    out += [Anomaly("twice", f"{n} objections to entry {e}") for e, n in objections.items() if n > 1]
    return out


def check_order(history: list[dict[str, Any]], state: State) -> list[Anomaly]:
    """A consumer that applied the newest verdict of a report but holds an older one: an older event
    was applied after a newer one (the newest version must win whatever order they come in)."""
    out: list[Anomaly] = []
    applied = _applied(state)
    event_of = _event_of(state)
    newest = newest_final(state)
    holds: dict[str, dict[str, dict[str, Any]]] = {
        "intake": {r["id"]: {"verdict_id": r.get("verdict_id"), "version": r.get("verdict_version") or 0}
                   for r in state.reports},
        "clarification": {s["report_id"]: s for s in state.clar_seen},
        "credit_blacklist": {s["report_id"]: s for s in state.bl_seen},
    }
    for report_id, v in newest.items():
        event = event_of.get(v["id"])
        for service, rows in holds.items():
            held = rows.get(report_id)
            if event in applied[service] and held is not None and held["verdict_id"] != v["id"]:
                out.append(Anomaly("order", f"{service} holds version {held['version']} of {report_id} after "
                                            f"applying version {v['version']}", report_id))
    for c in state.clarifications:
        v = newest.get(c["report_id"])
        if v is not None and c.get("outcome") != "cancelled" and c.get("verdict_id") != v["id"] \
                and event_of.get(v["id"]) in applied["clarification"]:
            out.append(Anomaly("order", f"clarification {c['id']} of a superseded verdict still live", c["report_id"]))
    for e in state.entries:
        v = newest.get(e["report_id"])
        if v is not None and e["status"] not in REMOVED_ENTRY and e["verdict_id"] != v["id"] \
                and event_of.get(v["id"]) in applied["credit_blacklist"]:
            out.append(Anomaly("order", f"entry {e['id']} of a superseded verdict still live", e["report_id"]))
    return out


def check_forged(history: list[dict[str, Any]], state: State) -> list[Anomaly]:
    out: list[Anomaly] = []
    events: set[str] = set()
    verdicts: set[str] = set()
    for h in history:
        if h.get("op") == "forged":
            events.update(h["event_ids"])
            verdicts.update(h["verdict_ids"])
    for row in state.inbox:
        if row["event_id"] in events and row["outcome"] == "applied":
            out.append(Anomaly("forged_applied", f"{row['service']} applied forged event {row['event_id']}"))
    for name, rows in (("intake", [{"report_id": r["id"], **r} for r in state.reports]),
                       ("clarification", state.clarifications), ("clarification seen", state.clar_seen),
                       ("credit_blacklist", state.entries), ("credit_blacklist seen", state.bl_seen)):
        for row in rows:
            if row.get("verdict_id") in verdicts:
                out.append(Anomaly("forged_applied", f"{name} holds forged verdict {row['verdict_id']}",
                                   row.get("report_id")))
    return out


def check_identity(history: list[dict[str, Any]], state: State) -> list[Anomaly]:
    """Each release of a reporter's identity for listing names an approved (four eyes) malicious
    verdict of that report at that version."""
    out: list[Anomaly] = []
    verdicts = {v["id"]: v for v in state.verdicts}
    for rel in state.releases:
        v = verdicts.get(rel["verdict_id"])
        why = None
        if v is None:
            why = "no such verdict"
        elif v["report_id"] != rel["report_id"] or v["version"] != rel["verdict_version"]:
            why = "another report or version"
        elif v["verdict"] != "malicious":
            why = f"the verdict is {v['verdict']}"
        elif not v.get("decided_by") or v["decided_by"] == v.get("concluded_by"):
            why = "not approved by a second officer"
        elif v["state"] not in ("final", "superseded"):
            why = f"the verdict is {v['state']}"
        if why:
            out.append(Anomaly("identity", f"identity of {rel['report_id']} released for {rel['verdict_id']}: {why}",
                               rel["report_id"]))
    return out


def check_audit(history: list[dict[str, Any]], state: State) -> list[Anomaly]:
    return [Anomaly("audit", f"{s}'s audit chain: {r.get('problem') or 'not valid'} at {r.get('first_broken_seq')}")
            for s, r in sorted(state.audit.items()) if not r.get("valid")]


def check(history: list[dict[str, Any]], state: State) -> dict[str, list[Anomaly]]:
    return {"lost": check_lost(history, state), "twice": check_twice(history, state),
            "order": check_order(history, state), "forged_applied": check_forged(history, state),
            "identity": check_identity(history, state), "audit": check_audit(history, state)}


# --- figures ------------------------------------------------------------------------------------------


def faults(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted((h for h in history if h.get("op") == "fault"), key=lambda f: f["start"])


def in_fault(t: float, windows: list[dict[str, Any]], grace_s: float = 0.0) -> bool:
    return any(f["start"] <= t <= f["end"] + grace_s for f in windows)


def answered(h: dict[str, Any]) -> bool:
    """Available: an answer that is not a server error (a 4xx is the service saying no, and saying it)."""
    return 0 < h.get("status", 0) < 500


def availability(requests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for h in requests:
        per[h["service"]][0 if answered(h) else 1] += 1
    return {s: {"answered": ok, "failed": bad, "availability": round(ok / (ok + bad), 4) if ok + bad else None}
            for s, (ok, bad) in sorted(per.items())}


def requests_of(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [h for h in history if "service" in h and "status" in h]


def availability_per_fault(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    reqs = requests_of(history)
    out = []
    for f in faults(history):
        during = [h for h in reqs if f["start"] <= h["t"] <= f["end"]]
        out.append({"kind": f["kind"], "detail": f.get("detail"), "start": f["start"], "end": f["end"],
                    "availability": availability(during)})
    return out


def percentiles(values: list[float]) -> dict[str, float | int]:
    v = sorted(values)
    if not v:
        return {"n": 0}

    def at(q: float) -> float:
        return round(v[min(len(v) - 1, int(q * len(v)))], 3)

    return {"n": len(v), "p50": at(0.5), "p95": at(0.95), "p99": at(0.99), "max": round(v[-1], 3)}


def end_to_end(history: list[dict[str, Any]], opened_at: dict[str, float]) -> dict[str, Any]:
    """Seconds from a report's acknowledgement to its case opening in verification, for reports
    acknowledged during a fault (or within 5 s of its end) and outside."""
    windows = faults(history)
    during, outside = [], []
    for h in acked(history, "submit"):
        if h["report_id"] in opened_at:
            lat = opened_at[h["report_id"]] - (h["t"] + h.get("ms", 0) / 1000)
            (during if in_fault(h["t"], windows, 5.0) else outside).append(max(0.0, lat))
    return {"during_faults_s": percentiles(during), "outside_faults_s": percentiles(outside)}


def recovery(history: list[dict[str, Any]], opened_at: dict[str, float]) -> list[float | None]:
    """Per fault: seconds from its end until every report acknowledged from its start to its end
    has its case open (None: some never did)."""
    submits = acked(history, "submit")
    out: list[float | None] = []
    for f in faults(history):
        ids = [h["report_id"] for h in submits if f["start"] <= h["t"] <= f["end"]]
        if any(i not in opened_at for i in ids):
            out.append(None)
        else:
            out.append(round(max([opened_at[i] - f["end"] for i in ids] + [0.0]), 1))
    return out


def attribute(anomalies: dict[str, list[Anomaly]], history: list[dict[str, Any]], grace_s: float = 30.0
              ) -> dict[str, Counter[str]]:
    """Which fault kinds each anomaly's report lived through: an acknowledged operation on it while the
    fault was on (or within `grace_s` after)."""
    times: dict[str, list[float]] = defaultdict(list)
    for h in acked(history):
        if h.get("report_id"):
            times[h["report_id"]].append(h["t"])
    windows = faults(history)
    out: dict[str, Counter[str]] = defaultdict(Counter)
    for name, found in anomalies.items():
        for a in found:
            kinds = {f["kind"] for f in windows for t in times.get(a.report_id or "", [])
                     if f["start"] <= t <= f["end"] + grace_s} or {"none"}
            for k in kinds:
                out[k][name] += 1
    return out
