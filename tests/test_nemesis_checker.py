"""The nemesis run's checker (tools/nemesis/checker.py) on synthetic histories: a consistent one
passes every check, and each anomaly -- lost, applied twice, out of order, forged applied, an
identity released without an approved rule, a broken audit chain -- is found by its check."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tools.nemesis import checker
from tools.nemesis.checker import State
from tools.nemesis.faults import KINDS, schedule
from tools.nemesis.run import classify, plan_for

SERVICES = ("intake", "verification", "clarification", "credit_blacklist")
CONSUMERS = ("intake", "clarification", "credit_blacklist")


def consistent() -> tuple[list[dict[str, Any]], State]:
    """r1: malicious, approved by a second officer, listed, a clarification with a meeting and an
    objection; r2: untrue, corrected to true (the clarification of the first verdict cancelled)."""
    history: list[dict[str, Any]] = [
        {"op": "submit", "service": "intake", "t": 100.0, "ms": 20, "status": 201, "report_id": "r1"},
        {"op": "submit", "service": "intake", "t": 101.0, "ms": 20, "status": 201, "report_id": "r2"},
        {"op": "conclude", "service": "verification", "t": 110.0, "status": 200, "report_id": "r1",
         "case_id": "c1", "case_status": "awaiting_approval"},
        {"op": "approve", "service": "verification", "t": 111.0, "status": 200, "report_id": "r1", "case_id": "c1",
         "case_status": "final", "verdict_id": "v1", "version": 1, "verdict": "malicious"},
        {"op": "conclude", "service": "verification", "t": 112.0, "status": 200, "report_id": "r2",
         "case_id": "c2a", "case_status": "final", "verdict_id": "v2a", "version": 1, "verdict": "untrue"},
        {"op": "correction_decision", "service": "verification", "t": 113.0, "status": 200, "report_id": "r2",
         "decision": "approve"},
        {"op": "conclude", "service": "verification", "t": 114.0, "status": 200, "report_id": "r2",
         "case_id": "c2b", "case_status": "final", "verdict_id": "v2b", "version": 2, "verdict": "true"},
        {"op": "consent", "service": "clarification", "t": 120.0, "status": 200, "report_id": "r1",
         "clarification_id": "k1"},
        {"op": "meeting", "service": "clarification", "t": 121.0, "status": 201, "report_id": "r1",
         "meeting_id": "m1", "clarification_id": "k1"},
        {"op": "objection", "service": "credit_blacklist", "t": 122.0, "status": 201, "report_id": "r1",
         "objection_id": "o1", "entry_id": "n1"},
    ]
    applied = [{"service": s, "event_id": e, "outcome": "applied"} for s in CONSUMERS for e in ("e1", "e2a", "e2b")]
    state = State(
        reports=[{"id": "r1", "external_ref": "X-1", "outcome": "malicious", "verdict_id": "v1", "verdict_version": 1},
                 {"id": "r2", "external_ref": "X-2", "outcome": "true", "verdict_id": "v2b", "verdict_version": 2}],
        cases=[{"id": "c1", "report_id": "r1", "status": "final"},
               {"id": "c2a", "report_id": "r2", "status": "superseded"},
               {"id": "c2b", "report_id": "r2", "status": "final"}],
        verdicts=[
            {"id": "v1", "report_id": "r1", "case_id": "c1", "version": 1, "state": "final", "verdict": "malicious",
             "exempted": False, "concluded_by": "investigator", "decided_by": "approver"},
            {"id": "v2a", "report_id": "r2", "case_id": "c2a", "version": 1, "state": "superseded",
             "verdict": "untrue", "exempted": False, "concluded_by": "investigator", "decided_by": None},
            {"id": "v2b", "report_id": "r2", "case_id": "c2b", "version": 2, "state": "final", "verdict": "true",
             "exempted": False, "concluded_by": "investigator", "decided_by": None}],
        verdict_events=[{"event_id": "e1", "verdict_id": "v1"}, {"event_id": "e2a", "verdict_id": "v2a"},
                        {"event_id": "e2b", "verdict_id": "v2b"}],
        clarifications=[{"id": "k1", "report_id": "r1", "verdict_id": "v1", "outcome": None},
                        {"id": "k2", "report_id": "r2", "verdict_id": "v2a", "outcome": "cancelled"}],
        clar_seen=[{"report_id": "r1", "verdict_id": "v1", "version": 1},
                   {"report_id": "r2", "verdict_id": "v2b", "version": 2}],
        meetings=[{"id": "m1", "clarification_id": "k1"}],
        entries=[{"id": "n1", "report_id": "r1", "verdict_id": "v1", "status": "under_review"}],
        bl_seen=[{"report_id": "r1", "verdict_id": "v1", "version": 1},
                 {"report_id": "r2", "verdict_id": "v2b", "version": 2}],
        objections=[{"id": "o1", "entry_id": "n1"}],
        inbox=applied,
        releases=[{"report_id": "r1", "verdict_id": "v1", "verdict_version": 1}],
        audit={s: {"valid": True, "records_checked": 5} for s in SERVICES},
        topic=[{"event_id": e, "partition": 0, "offset": i} for i, e in enumerate(("e1", "e2a", "e2b"))],
    )
    return history, state


def found(history: list[dict[str, Any]], state: State) -> dict[str, list[str]]:
    return {k: [str(a) for a in v] for k, v in checker.check(history, state).items() if v}


def test_a_consistent_history_passes_every_check() -> None:
    assert found(*consistent()) == {}


# --- lost ---------------------------------------------------------------------------------------------


def test_an_acknowledged_report_missing_from_intake_is_lost() -> None:
    history, state = consistent()
    state.reports = [r for r in state.reports if r["id"] != "r1"]
    assert any("acknowledged report r1 not in intake" in a for a in found(history, state)["lost"])


def test_a_report_that_never_reached_verification_is_lost() -> None:
    history, state = consistent()
    state.cases = [c for c in state.cases if c["report_id"] != "r1"]
    assert found(history, state)["lost"] == ["lost: report r1 never reached verification"]


def test_a_verdict_a_consumer_never_applied_is_lost() -> None:
    history, state = consistent()
    state.inbox = [r for r in state.inbox if not (r["service"] == "clarification" and r["event_id"] == "e1")]
    state.clar_seen = [s for s in state.clar_seen if s["report_id"] != "r1"]
    state.clarifications = [c for c in state.clarifications if c["id"] != "k1"]
    state.meetings = []
    history = [h for h in history if h["op"] not in ("consent", "meeting")]
    assert found(history, state) == {"lost": ["lost: clarification never applied verdict v1 of r1"]}


def test_an_applied_malicious_verdict_without_its_entry_is_lost() -> None:
    history, state = consistent()
    state.entries, state.objections = [], []
    history = [h for h in history if h["op"] != "objection"]
    assert found(history, state) == {"lost": ["lost: no entry for malicious verdict v1 of r1"]}


@pytest.mark.parametrize(("rows", "op"), [("meetings", "meeting"), ("objections", "objection"),
                                          ("clarifications", "consent")])
def test_an_acknowledged_meeting_objection_or_consent_not_found_is_lost(rows: str, op: str) -> None:
    history, state = consistent()
    setattr(state, rows, [r for r in getattr(state, rows) if r["id"] not in ("m1", "o1", "k1")])
    assert any(a.startswith(f"lost: acknowledged {op}") for a in found(history, state)["lost"])


def test_an_acknowledged_verdict_missing_from_verification_is_lost() -> None:
    history, state = consistent()
    history.append({"op": "approve", "service": "verification", "t": 130.0, "status": 200, "report_id": "r1",
                    "verdict_id": "v-gone", "case_status": "final"})
    assert found(history, state)["lost"] == ["lost: acknowledged verdict v-gone not in verification"]


def test_an_approved_correction_that_opened_no_case_is_lost() -> None:
    history, state = consistent()
    history.append({"op": "correction_decision", "service": "verification", "t": 130.0, "status": 200,
                    "report_id": "r1", "decision": "approve"})
    assert found(history, state)["lost"] == ["lost: approved correction of r1 opened no new case"]


def test_a_verdict_on_no_topic_is_lost() -> None:
    history, state = consistent()
    state.topic = [e for e in state.topic or [] if e["event_id"] != "e2b"]
    assert found(history, state)["lost"] == ["lost: verdict v2b of r2 is on no topic"]


def test_a_failed_request_is_not_acknowledged_so_nothing_it_asked_for_is_owed() -> None:
    history, state = consistent()
    history.append({"op": "submit", "service": "intake", "t": 130.0, "status": 503})
    history.append({"op": "meeting", "service": "clarification", "t": 131.0, "status": 0,
                    "clarification_id": "k1"})
    assert found(history, state) == {}


def test_a_genuine_event_dead_lettered_is_lost() -> None:
    history, state = consistent()
    state.inbox.append({"service": "intake", "event_id": "e-anchor", "outcome": "dead_lettered"})
    assert found(history, state) == {"lost": ["lost: intake dead-lettered the genuine event e-anchor"]}


# --- twice --------------------------------------------------------------------------------------------


def test_one_submission_stored_twice_is_applied_twice() -> None:
    history, state = consistent()
    state.reports.append({**state.reports[0], "id": "r1-again"})
    assert found(history, state)["twice"] == ["twice: 2 reports for submission X-1"]


@pytest.mark.parametrize("what", ["clarification", "entry", "case", "objection"])
def test_a_verdict_applied_twice_downstream_is_found(what: str) -> None:
    history, state = consistent()
    if what == "clarification":
        state.clarifications.append({"id": "k1b", "report_id": "r1", "verdict_id": "v1", "outcome": None})
    elif what == "entry":
        state.entries.append({"id": "n1b", "report_id": "r1", "verdict_id": "v1", "status": "notified"})
    elif what == "case":
        state.cases.append({"id": "c1b", "report_id": "r1", "status": "open"})
    else:
        state.objections.append({"id": "o1b", "entry_id": "n1"})
    assert found(history, state).get("twice")


def test_more_meetings_than_were_asked_for_is_applied_twice() -> None:
    history, state = consistent()
    state.meetings.append({"id": "m1b", "clarification_id": "k1"})
    assert found(history, state)["twice"] == ["twice: 2 meetings for clarification k1, 1 asked for"]
    history.append({"op": "meeting", "service": "clarification", "t": 125.0, "status": 0, "clarification_id": "k1"})
    assert "twice" not in found(history, state)  # retried after a timeout: two asked for


# --- order --------------------------------------------------------------------------------------------


def test_an_older_verdict_held_after_the_newer_was_applied_is_an_order_violation() -> None:
    history, state = consistent()
    state.reports[1].update(outcome="untrue", verdict_id="v2a", verdict_version=1)
    state.bl_seen[1].update(verdict_id="v2a", version=1)
    assert found(history, state) == {"order": [
        "order: intake holds version 1 of r2 after applying version 2",
        "order: credit_blacklist holds version 1 of r2 after applying version 2"]}


def test_a_live_clarification_of_a_superseded_verdict_is_an_order_violation() -> None:
    history, state = consistent()
    state.clarifications[1]["outcome"] = None
    assert found(history, state) == {"order": ["order: clarification k2 of a superseded verdict still live"]}


def test_a_live_entry_of_a_superseded_verdict_is_an_order_violation() -> None:
    history, state = consistent()
    state.entries.append({"id": "n2", "report_id": "r2", "verdict_id": "v2a", "status": "active"})
    assert found(history, state) == {"order": ["order: entry n2 of a superseded verdict still live"]}


def test_the_newer_verdict_not_yet_applied_is_lost_not_out_of_order() -> None:
    history, state = consistent()
    state.inbox = [r for r in state.inbox if not (r["service"] == "intake" and r["event_id"] == "e2b")]
    state.reports[1].update(verdict_id="v2a", verdict_version=1)
    assert found(history, state) == {"lost": ["lost: intake never applied verdict v2b of r2"]}


# --- forged -------------------------------------------------------------------------------------------


def test_a_forged_event_dead_lettered_everywhere_passes() -> None:
    history, state = consistent()
    history.append({"op": "forged", "t": 115.0, "event_ids": ["f1", "reports.verified:2:37"], "verdict_ids": ["r1"],
                    "report_ids": ["r1"]})
    state.inbox += [{"service": s, "event_id": "f1", "outcome": "dead_lettered"} for s in CONSUMERS]
    # an unverifiable signature: the consumer names the event by where it found it
    state.inbox += [{"service": s, "event_id": "reports.verified:2:37", "outcome": "dead_lettered"}
                    for s in CONSUMERS]
    assert found(history, state) == {}


def test_a_forged_event_applied_is_found() -> None:
    history, state = consistent()
    history.append({"op": "forged", "t": 115.0, "event_ids": ["f1"], "verdict_ids": ["r1"], "report_ids": ["r1"]})
    state.inbox.append({"service": "credit_blacklist", "event_id": "f1", "outcome": "applied"})
    state.entries.append({"id": "nf", "report_id": "r1", "verdict_id": "r1", "status": "notified"})
    forged = found(history, state)["forged_applied"]
    assert "forged_applied: credit_blacklist applied forged event f1" in forged
    assert "forged_applied: credit_blacklist holds forged verdict r1" in forged


def test_intake_holding_a_forged_verdict_is_found() -> None:
    history, state = consistent()
    history.append({"op": "forged", "t": 115.0, "event_ids": ["f1"], "verdict_ids": ["r2"], "report_ids": ["r2"]})
    state.reports[1].update(verdict_id="r2", verdict_version=99)
    assert "forged_applied: intake holds forged verdict r2" in found(history, state)["forged_applied"]


# --- identity and audit -------------------------------------------------------------------------------


@pytest.mark.parametrize(("release", "why"), [
    ({"report_id": "r2", "verdict_id": "v2b", "verdict_version": 2}, "the verdict is true"),
    ({"report_id": "r1", "verdict_id": "v-none", "verdict_version": 1}, "no such verdict"),
    ({"report_id": "r2", "verdict_id": "v1", "verdict_version": 1}, "another report or version"),
])
def test_an_identity_released_without_an_approved_malicious_verdict_is_found(release: dict[str, Any],
                                                                              why: str) -> None:
    history, state = consistent()
    state.releases.append(release)
    [anomaly] = found(history, state)["identity"]
    assert anomaly.endswith(why)


def test_an_identity_released_for_a_verdict_its_own_investigator_approved_is_found() -> None:
    history, state = consistent()
    state.verdicts[0]["decided_by"] = "investigator"
    assert found(history, state)["identity"] == [
        "identity: identity of r1 released for v1: not approved by a second officer"]


def test_a_broken_audit_chain_is_found() -> None:
    history, state = consistent()
    state.audit["verification"] = {"valid": False, "first_broken_seq": 3, "problem": "record content does not "
                                   "match its MAC"}
    assert found(history, state) == {"audit": [
        "audit: verification's audit chain: record content does not match its MAC at 3"]}


# --- figures ------------------------------------------------------------------------------------------


def test_availability_counts_a_4xx_as_answered_and_a_5xx_or_no_answer_as_failed() -> None:
    reqs = [{"service": "intake", "t": 1.0, "status": s} for s in (201, 409, 503, 0)]
    assert checker.availability(reqs) == {"intake": {"answered": 2, "failed": 2, "availability": 0.5}}


def test_figures_split_by_fault_window() -> None:
    history, _ = consistent()
    history.append({"op": "fault", "kind": "kill", "start": 100.5, "end": 101.5})
    history.append({"op": "read", "service": "intake", "t": 101.0, "status": 0})
    [window] = checker.availability_per_fault(history)
    assert window["availability"]["intake"] == {"answered": 1, "failed": 1, "availability": 0.5}
    e2e = checker.end_to_end(history, {"r1": 103.0, "r2": 111.0})
    assert e2e["during_faults_s"]["n"] == 1 and e2e["outside_faults_s"]["n"] == 1
    assert checker.recovery(history, {"r1": 103.0, "r2": 111.0}) == [9.5]
    assert checker.recovery(history, {"r1": 103.0}) == [None]  # r2 never opened


def test_anomalies_are_attributed_to_the_faults_their_report_lived_through() -> None:
    history, state = consistent()
    history.append({"op": "fault", "kind": "broker", "start": 110.5, "end": 111.5})
    state.entries, state.objections = [], []
    history = [h for h in history if h["op"] != "objection"]
    assert checker.attribute(checker.check(history, state), history) == {"broker": {"lost": 1}}


# --- the schedule and the plans -----------------------------------------------------------------------


def test_the_same_seed_gives_the_same_faults_and_paths() -> None:
    assert schedule(42, 600, SERVICES) == schedule(42, 600, SERVICES)
    assert schedule(42, 600, SERVICES) != schedule(43, 600, SERVICES)
    assert [plan_for(42, n) for n in range(50)] == [plan_for(42, n) for n in range(50)]


def test_a_twenty_minute_schedule_injects_every_kind_at_least_three_times() -> None:
    for seed in range(5):
        plan = schedule(seed, 1200, SERVICES, gap_s=(5, 30))
        kinds = [s["kind"] for s in plan]
        assert all(kinds.count(k) >= 3 for k in KINDS), (seed, sorted(kinds))
        assert all(s["at"] < 1200 for s in plan)
        doubles = [s for s in plan if s["kind"] == "double"]
        assert all(len(s["faults"]) == 2 and s["faults"][0]["kind"] != s["faults"][1]["kind"] for s in doubles)


def test_requests_are_classified_by_what_they_acknowledge() -> None:
    assert classify("POST", "/v1/reports") == "submit"
    assert classify("POST", "/v1/cases/x/approval") == "approve"
    assert classify("POST", "/v1/clarifications/x/meetings") == "meeting"
    assert classify("POST", "/v1/objections/x/decision") == "objection_decision"
    assert classify("GET", "/v1/cases") == "read"


def test_the_checker_does_not_change_what_it_is_given() -> None:
    history, state = consistent()
    before = copy.deepcopy((history, state))
    checker.check(history, state)
    assert (history, state) == before


# --- the road from credit_blacklist to intake -----------------------------------------------------------


async def test_the_intake_proxy_forwards_until_cut_and_again_once_healed() -> None:
    import asyncio

    from shared.broker import free_port
    from tools.nemesis.faults import IntakeProxy

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readline())
        await writer.drain()
        writer.close()

    target = await asyncio.start_server(echo, "127.0.0.1", 0)
    proxy = IntakeProxy(target.sockets[0].getsockname()[1])
    port = free_port()
    await proxy.start(port)

    async def ask() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(b"ping\n")
            await writer.drain()
            return await asyncio.wait_for(reader.read(), 10)
        except ConnectionResetError:
            return b""
        finally:
            writer.close()

    try:
        assert await ask() == b"ping\n"
        proxy.cut()
        assert await ask() == b""  # closed (or reset) before any answer
        proxy.heal()
        assert await ask() == b"ping\n"
    finally:
        await proxy.stop()
        target.close()
