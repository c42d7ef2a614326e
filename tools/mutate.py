"""The mutation harness (`make mutate`, issue #24): mutmut over the modules whose mistakes hurt people
most, each against the fast tests that cover it, on SQLite.

    python -m tools.mutate                      every module in MODULES, one after another
    python -m tools.mutate shared/auth.py       one module (or several)
    python -m tools.mutate --max-children 2     mutants tested in parallel within a module (default: the cores)

Mutants never touch the working tree: each module is mutated in a copy of the tree's files (tracked and
untracked but not ignored, as `git ls-files` lists them) in a temporary folder, removed afterwards
(`--keep` keeps it, for `mutmut show`/`apply` there). mutmut runs the module's tests once to learn which
test calls which function, then each mutant against only the tests that reach it.

The results -- per module the mutants, how many were killed, the kill rate, and every mutant that was
not killed with its diff and, when it is listed in EQUIVALENT, why it cannot change behaviour -- go to
bench/results/mutation-<date>.json (a scoped run replaces its modules' entries and keeps the others),
and a table of them to TESTING.md between its mutation markers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import fnmatch
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
TESTING_MD = ROOT / "TESTING.md"
BEGIN, END = "<!-- mutation:begin -->", "<!-- mutation:end -->"

# The module under mutation -> the fast test files that cover it (a file missing here is ignored).
MODULES: dict[str, list[str]] = {
    "shared/auth.py": ["tests/shared/test_auth.py", "tests/shared/test_auth_jurisdiction.py",
                       "tests/shared/test_auth_survivors.py"],
    "shared/uow.py": ["tests/shared/test_uow_and_audit.py", "tests/shared/test_uow_atomicity.py",
                      "tests/shared/test_uow_survivors.py",
                      "tests/shared/test_inbox.py", "tests/shared/test_trace_links.py"],
    "shared/inbox.py": ["tests/shared/test_inbox.py", "tests/shared/test_inbox_survivors.py",
                        "tests/shared/test_trace_links.py"],
    "shared/audit.py": ["tests/shared/test_audit_chain.py", "tests/shared/test_uow_and_audit.py",
                        "tests/shared/test_audit_survivors.py"],
    "shared/pagination.py": ["tests/shared/test_queries.py", "tests/shared/test_pagination_survivors.py"],
    "shared/queries.py": ["tests/shared/test_queries.py", "tests/shared/test_pagination_survivors.py"],
    "services/intake/domain.py": ["tests/intake/test_domain.py", "tests/intake/test_rules.py",
                                  "tests/intake/test_domain_survivors.py"],
    "services/verification/domain.py": ["tests/verification/test_domain.py", "tests/verification/test_rules.py",
                                        "tests/verification/test_domain_survivors.py"],
    "services/clarification/domain.py": ["tests/clarification/test_domain.py",
                                         "tests/clarification/test_domain_survivors.py"],
    "services/credit_blacklist/domain.py": ["tests/credit_blacklist/test_domain.py",
                                            "tests/credit_blacklist/test_domain_survivors.py",
                                            "tests/credit_blacklist/test_supersession_survivors.py"],
}


_SET_AGAIN = "__aenter__ sets it again before anything can read it: a unit of work is used inside async with"
_CLOSE_ROLLS_BACK = ("the explicit rollback skipped (or run after a commit, where it has nothing to undo): the "
                     "session's close() that follows rolls back whatever was not committed all the same")
_SAME_LENGTH = ("zip's strict check on lists built from one another (the events decoded from the messages, one "
                "outcome per event): they are always the same length, so strict or not zips the same pairs")


def pg_only(what: str) -> str:
    """The reason given for a mutant that changes behaviour on PostgreSQL only."""
    return (f"PostgreSQL only ({what}): never taken on SQLite, the harness's database; not equivalent there, "
            "where the PostgreSQL tier of make test exercises it (tests/shared/test_uow_survivors.py, "
            "test_trace_links.py, the NOTIFY tests of test_relay.py)")


# Mutants that cannot change behaviour, by mutmut's name, with the reason. A name is stable while its
# function's text is; `line` is the mutated line, checked against the diff so a stale entry shows.
_AUDIT_LOCK = ("PostgreSQL only (the advisory lock that makes concurrent appends take turns): never taken on SQLite, "
               "the harness's database, which writes one transaction at a time; on PostgreSQL "
               "tests/shared/test_audit_survivors.py's test_an_append_waits_for_another_still_open_and_links_to_its_"
               "record fails on it (every append refused, or two at once given the same seq, one refused at commit)")
_NEWEST_FIRST = ("the newest record is the first row of the same descending order, which .first() takes: the same "
                 "seq and MAC; only more rows may be sent to be dropped")
_ANCHORS_FROM_1 = ("the default is read only for an anchor at or below the chain's end whose seq the walk did not "
                   "pass, i.e. below 1, and no anchor is: AuditAnchoredV1.seq has ge=1 and a peer hands back only "
                   "anchors it stored from such events; every seq from 1 to last_seq was walked and its MAC kept")
_NO_DEFAULT_NEEDED = ("default is called only for a value JSON cannot write, and no MACed field holds one: _fields "
                      "makes `at` an ISO string, the others are str, int or None, and details must go into a JSON "
                      "column serialized by json.dumps without a default: a record with a datetime in its details "
                      "is refused by the INSERT (StatementError) without this and by this line (TypeError) with it; "
                      "neither writes anything (checked on SQLite and PostgreSQL)")

EQUIVALENT: dict[str, dict[str, str]] = {
    "shared.audit.x__canonical__mutmut_3": {
        "line": "ensure_ascii=None",
        "reason": "json.dumps reads ensure_ascii for its truth only: None writes the same text as False "
                  "(non-ASCII left as is, checked with the Chinese reasons)"},
    "shared.audit.x__canonical__mutmut_5": {
        "line": 'separators=(",", ":"), default=None)',
        "reason": _NO_DEFAULT_NEEDED},
    "shared.audit.x__canonical__mutmut_10": {
        "line": 'separators=(",", ":"), )',
        "reason": _NO_DEFAULT_NEEDED},
    "shared.audit.x_append__mutmut_3": {
        "line": 'if dialect_name(session) == "XXpostgresqlXX":',
        "reason": _AUDIT_LOCK},
    "shared.audit.x_append__mutmut_4": {
        "line": 'if dialect_name(session) == "POSTGRESQL":',
        "reason": _AUDIT_LOCK},
    "shared.audit.x_append__mutmut_5": {
        "line": 'await session.execute(None, {"k": _AUDIT_LOCK_KEY})',
        "reason": _AUDIT_LOCK},
    "shared.audit.x_append__mutmut_6": {
        "line": 'text("SELECT pg_advisory_xact_lock(:k)"), None)',
        "reason": _AUDIT_LOCK},
    "shared.audit.x_append__mutmut_7": {
        "line": 'await session.execute({"k": _AUDIT_LOCK_KEY})',
        "reason": _AUDIT_LOCK},
    "shared.audit.x_append__mutmut_8": {
        "line": 'text("SELECT pg_advisory_xact_lock(:k)"), )',
        "reason": _AUDIT_LOCK},
    "shared.audit.x_append__mutmut_9": {
        "line": 'await session.execute(text(None), {"k": _AUDIT_LOCK_KEY})',
        "reason": _AUDIT_LOCK},
    "shared.audit.x_append__mutmut_10": {
        "line": 'text("XXSELECT pg_advisory_xact_lock(:k)XX")',
        "reason": _AUDIT_LOCK},
    "shared.audit.x_append__mutmut_11": {
        "line": 'text("select pg_advisory_xact_lock(:k)")',
        "reason": "SQL keywords are case-insensitive: the same statement on PostgreSQL (never run on SQLite)"},
    "shared.audit.x_append__mutmut_12": {
        "line": 'text("SELECT PG_ADVISORY_XACT_LOCK(:K)")',
        "reason": _AUDIT_LOCK + "; here the bind parameter :K has no value (checked)"},
    "shared.audit.x_append__mutmut_13": {
        "line": '{"XXkXX": _AUDIT_LOCK_KEY}',
        "reason": _AUDIT_LOCK},
    "shared.audit.x_append__mutmut_14": {
        "line": '{"K": _AUDIT_LOCK_KEY}',
        "reason": _AUDIT_LOCK},
    "shared.audit.x_append__mutmut_17": {
        "line": "order_by(AuditRecord.seq.desc()).limit(None))",
        "reason": _NEWEST_FIRST},
    "shared.audit.x_append__mutmut_23": {
        "line": "order_by(AuditRecord.seq.desc()).limit(2))",
        "reason": _NEWEST_FIRST},
    "shared.audit.x_append__mutmut_42": {
        "line": "hash=None,",
        "reason": "a placeholder: the MAC replaces it two lines below, before anything reads the record (_fields "
                  "leaves hash out) or writes it"},
    "shared.audit.x_append__mutmut_53": {
        "line": '-        hash="",',
        "reason": "a placeholder: the MAC is set two lines below, before anything reads the record (_fields "
                  "leaves hash out) or writes it"},
    "shared.audit.x_append__mutmut_70": {
        "line": 'hash="XXXX",',
        "reason": "a placeholder: the MAC replaces it two lines below, before anything reads the record (_fields "
                  "leaves hash out) or writes it"},
    "shared.audit.x_head__mutmut_3": {
        "line": "order_by(AuditRecord.seq.desc()).limit(None))).first()",
        "reason": _NEWEST_FIRST},
    "shared.audit.x_head__mutmut_9": {
        "line": "order_by(AuditRecord.seq.desc()).limit(2))).first()",
        "reason": _NEWEST_FIRST},
    "shared.audit.x_verify_chain__mutmut_1": {
        "line": "batch: int = 1001",
        "reason": "the default batch size: records are read 1,001 at a time instead of 1,000, the same records in "
                  "the same order (test_uow_and_audit.py walks a chain in batches of 2)"},
    "shared.audit.x_verify_chain__mutmut_12": {
        "line": ".order_by(AuditRecord.seq).limit(None)",
        "reason": "the rest of the chain in one read instead of batches: the same records in the same order, the "
                  "next read finds none; only memory grows with the chain"},
    "shared.audit.x_verify_chain__mutmut_13": {
        "line": ".order_by(None).limit(batch)",
        "reason": "NOT equivalent on PostgreSQL, which reads a small analyzed table in stored order: "
                  "tests/shared/test_audit_survivors.py's test_a_chain_whose_rows_are_stored_out_of_order_still_"
                  "verifies fails on it there (record 1 'missing'); SQLite, the harness's database, reads seq >= ? "
                  "through the unique index on seq, in seq order unasked (its query plan checked after ANALYZE)"},
    "shared.audit.x_verify_chain__mutmut_125": {
        "line": '"anchors": 0, "newest_seq": 1,',
        "reason": "max(1, seq) == max(0, seq) for every anchor: AuditAnchoredV1.seq has ge=1 and a peer hands back "
                  "only anchors it stored from such events"},
    "shared.audit.x_verify_chain__mutmut_155": {
        "line": "macs.get(anchor.seq, None)",
        "reason": _ANCHORS_FROM_1},
    "shared.audit.x_verify_chain__mutmut_157": {
        "line": "macs.get(anchor.seq, )",
        "reason": _ANCHORS_FROM_1},
    "shared.audit.x_verify_chain__mutmut_158": {
        "line": 'macs.get(anchor.seq, "XXXX")',
        "reason": _ANCHORS_FROM_1},
    "shared.audit.xǁAuditKeysǁgenerate_file__mutmut_11": {
        "line": "secrets.token_bytes(None)",
        "reason": "token_bytes(None) gives its default, 32 bytes: the same key length"},
    "shared.audit.xǁAuditKeysǁgenerate_file__mutmut_12": {
        "line": "secrets.token_bytes(33)",
        "reason": "a 33-byte random key instead of 32: still at least the 32 AuditKeys requires, and HMAC-SHA256 "
                  "takes a key of any length up to its 64-byte block as is"},
    "shared.auth.x_ensure_development_keys__mutmut_1": {
        "line": "wait_s: float = 11.0",
        "reason": "the default wait for another process's public key: 10 or 11 s only changes how long a start "
                  "that fails anyway waits before saying so"},
    "shared.auth.x_ensure_development_keys__mutmut_12": {
        "line": "if time.monotonic() >= deadline:",
        "reason": "> or >= on a monotonic clock read: the two differ only at one instant no test or caller can hit"},
    "shared.auth.xǁPrincipalǁwithin__mutmut_17": {
        "line": 'jurisdiction=self.region or "XX-XX"',
        "reason": "the \"-\" stands for a nationwide jurisdiction (region \"\"), which every region lies "
                  "within: that refusal is never raised"},
    "shared.auth.xǁTokenVerifierǁverify__mutmut_7": {
        "line": "cached[0] >= now",
        "reason": "a cache entry used up to and including the instant it lapses: equal monotonic readings "
                  "(nanoseconds) cannot be arranged or observed"},
    "shared.uow.xǁUnitOfWorkǁ_read_links__mutmut_2": {
        "line": "key not in self._links or getattr(data, \"report_id\", None) == key",
        "reason": "also re-reads the links of keys already read or given a trace: the same links, one more "
                  "query; the event continues the trace it did (flush_events checks _traces first)"},
    "shared.uow.xǁUnitOfWorkǁ_read_links__mutmut_3": {
        "line": "if key not in self._traces or key not in self._links and",
        "reason": "also reads links for keys of events about no report (an anchor keyed by the service): "
                  "none is ever stored under such a key, so the lookup finds nothing; one more query"},
    "shared.uow.xǁUnitOfWorkǁ_write_links__mutmut_10": {
        "line": "\"XXfirst_seen_atXX\": now",
        "reason": "the column's own default (utcnow) fills first_seen_at instead of the unit's now: the same "
                  "moment to a few microseconds, and nothing reads it but people"},
    "shared.uow.xǁUnitOfWorkǁ_write_links__mutmut_11": {
        "line": "\"FIRST_SEEN_AT\": now",
        "reason": "as _write_links__mutmut_10: the column default fills it with the same moment"},
    "shared.uow.xǁUnitOfWorkǁ_write_links__mutmut_13": {
        "line": "dialect = None",
        "reason": "NOT equivalent on PostgreSQL, where the SQLite statement fails to compile "
                  "(tests/shared/test_uow_survivors.py and test_trace_links.py fail on it there); the harness runs "
                  "on SQLite, where the statement chosen for None is SQLite's own, so it cannot tell"},
    "shared.uow.xǁUnitOfWorkǁ_write_links__mutmut_18": {
        "line": 'if (dialect == "postgresql") and False else',
        "reason": pg_only("the SQLite statement on PostgreSQL")},
    "shared.uow.xǁUnitOfWorkǁ_write_links__mutmut_20": {
        "line": '_REMEMBER_LINKS["XXpostgresqlXX"',
        "reason": pg_only("a KeyError on PostgreSQL")},
    "shared.uow.xǁUnitOfWorkǁ_write_links__mutmut_22": {
        "line": 'if dialect != "postgresql" else',
        "reason": pg_only("each database given the other's statement")},
    "shared.uow.xǁUnitOfWorkǁ_write_links__mutmut_24": {
        "line": 'if dialect == "POSTGRESQL" else',
        "reason": pg_only("the SQLite statement on PostgreSQL")},
    "shared.uow.xǁUnitOfWorkǁcommit__mutmut_1": {
        "line": 'postgresql = None',
        "reason": pg_only("no NOTIFY on PostgreSQL")},
    "shared.uow.xǁUnitOfWorkǁcommit__mutmut_3": {
        "line": 'dialect.name == "XXpostgresqlXX"',
        "reason": pg_only("no NOTIFY on PostgreSQL")},
    "shared.uow.xǁUnitOfWorkǁcommit__mutmut_4": {
        "line": 'dialect.name == "POSTGRESQL"',
        "reason": pg_only("no NOTIFY on PostgreSQL")},
    "shared.uow.xǁUnitOfWorkǁcommit__mutmut_6": {
        "line": 'await self.session.execute(None)',
        "reason": pg_only("a broken NOTIFY on PostgreSQL")},
    "shared.uow.xǁUnitOfWorkǁcommit__mutmut_7": {
        "line": 'text(None)',
        "reason": pg_only("a broken NOTIFY on PostgreSQL")},
    "shared.uow.xǁUnitOfWorkǁ_write_links__mutmut_19": {
        "line": 'if (dialect == "postgresql") or True else',
        "reason": "both databases then get PostgreSQL's INSERT ... ON CONFLICT (key) DO NOTHING, which SQLite "
                  "compiles and runs alike (it is what SQLite's own builder writes too)"},
    "shared.uow.xǁUnitOfWorkǁ_write_links__mutmut_21": {
        "line": '_REMEMBER_LINKS["POSTGRESQL"',
        "reason": pg_only("a KeyError on PostgreSQL")},
    "shared.uow.xǁUnitOfWorkǁ_write_links__mutmut_23": {
        "line": 'if dialect == "XXpostgresqlXX" else',
        "reason": pg_only("the SQLite statement on PostgreSQL")},
    "shared.uow.xǁUnitOfWorkǁcommit__mutmut_26": {
        "line": "notified = None",
        "reason": "a second NOTIFY with the anchor in a transaction that already sent one: PostgreSQL delivers "
                  "identical notifications of one transaction once, and SQLite sends none"},
    "shared.uow.xǁUnitOfWorkǁ__init____mutmut_10": {
        "line": 'self._anchor = None',
        "reason": "__aenter__ sets it again before anything can read it: a unit of work is used inside async with"},
    "shared.uow.xǁUnitOfWorkǁ__init____mutmut_11": {
        "line": 'self._anchor = True',
        "reason": "__aenter__ sets it again before anything can read it: a unit of work is used inside async with"},
    "shared.uow.xǁUnitOfWorkǁ__init____mutmut_18": {
        "line": '= None',
        "reason": "__aenter__ sets it again before anything can read it: a unit of work is used inside async with"},
    "shared.uow.xǁUnitOfWorkǁ__init____mutmut_19": {
        "line": 'self._traces: dict[str, TraceContext] = None',
        "reason": "__aenter__ sets it again before anything can read it: a unit of work is used inside async with"},
    "shared.uow.xǁUnitOfWorkǁcommit__mutmut_40": {
        "line": 'if postgresql and notified:',
        "reason": pg_only('no NOTIFY for an anchor alone')},
    "shared.uow.xǁUnitOfWorkǁcommit__mutmut_41": {
        "line": 'await self.session.execute(None)',
        "reason": pg_only('a broken NOTIFY for an anchor alone')},
    "shared.uow.xǁUnitOfWorkǁcommit__mutmut_42": {
        "line": 'text(None)',
        "reason": pg_only('a broken NOTIFY for an anchor alone')},
    "shared.uow.xǁUnitOfWorkǁ__init____mutmut_20": {
        "line": 'self._own_trace: TraceContext | None = ""',
        "reason": _SET_AGAIN},
    "shared.uow.xǁUnitOfWorkǁ__init____mutmut_21": {
        "line": 'self._links: dict[str, TraceContext | None] = None',
        "reason": _SET_AGAIN},
    "shared.uow.xǁUnitOfWorkǁ__init____mutmut_22": {
        "line": 'self._new_links: dict[str, TraceContext] = None',
        "reason": _SET_AGAIN},
    "shared.uow.xǁUnitOfWorkǁ__init____mutmut_23": {
        "line": 'self._audit: list[audit.AuditEntry] = None',
        "reason": _SET_AGAIN},
    "shared.uow.xǁUnitOfWorkǁ__init____mutmut_25": {
        "line": 'self._wrote_outbox = None',
        "reason": _SET_AGAIN},
    "shared.uow.xǁUnitOfWorkǁ__init____mutmut_26": {
        "line": 'self._wrote_outbox = True',
        "reason": _SET_AGAIN},
    "shared.uow.xǁUnitOfWorkǁ__init____mutmut_27": {
        "line": 'self.committed = None',
        "reason": _SET_AGAIN},
    "shared.uow.xǁUnitOfWorkǁ__init____mutmut_28": {
        "line": 'self.committed = True',
        "reason": _SET_AGAIN},
    "shared.uow.xǁUnitOfWorkǁ__aenter____mutmut_8": {
        "line": 'self._anchor = None',
        "reason": 'None and False are both falsy where it is read'},
    "shared.uow.xǁUnitOfWorkǁ__aenter____mutmut_10": {
        "line": 'self._wrote_outbox = None',
        "reason": 'None and False are both falsy where it is read'},
    "shared.uow.xǁUnitOfWorkǁ__aenter____mutmut_12": {
        "line": 'self.committed = None',
        "reason": 'None and False are both falsy where it is read (__aexit__)'},
    "shared.uow.xǁUnitOfWorkǁ__aenter____mutmut_13": {
        "line": 'self.committed = True',
        "reason": _CLOSE_ROLLS_BACK},
    "shared.uow.xǁUnitOfWorkǁ__aexit____mutmut_2": {
        "line": "if self.committed:",
        "reason": _CLOSE_ROLLS_BACK},
    "shared.uow.xǁUnitOfWorkǁcommit__mutmut_21": {
        "line": "self._audit = None",
        "reason": "after its entries are appended nothing reads _audit again until __aenter__ resets it"},
    "shared.inbox.xǁInboxǁapply_together__mutmut_19": {
        "line": 'messages, strict=None)',
        "reason": _SAME_LENGTH},
    "shared.inbox.xǁInboxǁapply_together__mutmut_22": {
        "line": 'zip(events, messages, ))',
        "reason": _SAME_LENGTH},
    "shared.inbox.xǁInboxǁapply_together__mutmut_23": {
        "line": 'messages, strict=False)',
        "reason": _SAME_LENGTH},
    "shared.inbox.xǁInboxǁapply_together__mutmut_39": {
        "line": 'outcomes, strict=None)',
        "reason": _SAME_LENGTH},
    "shared.inbox.xǁInboxǁapply_together__mutmut_43": {
        "line": 'zip(events, messages, outcomes, )',
        "reason": _SAME_LENGTH},
    "shared.inbox.xǁInboxǁapply_together__mutmut_44": {
        "line": 'outcomes, strict=False)',
        "reason": _SAME_LENGTH},
    "shared.pagination.x_decode_cursor__mutmut_22": {
        "line": 'raise ValueError(None)',
        "reason": "the ValueError is caught a few lines below and replaced by the 422 invalid_cursor; its own "
                  "text is never shown or logged"},
    "shared.pagination.x_decode_cursor__mutmut_23": {
        "line": '"XXnot a cursor this service issuesXX"',
        "reason": "the ValueError is caught a few lines below and replaced by the 422 invalid_cursor; its own "
                  "text is never shown or logged"},
    "shared.pagination.x_decode_cursor__mutmut_24": {
        "line": '"NOT A CURSOR THIS SERVICE ISSUES"',
        "reason": "the ValueError is caught a few lines below and replaced by the 422 invalid_cursor; its own "
                  "text is never shown or logged"},
    "shared.pagination.x_decode_cursor__mutmut_34": {
        "line": 'raise ValueError(None)',
        "reason": "the ValueError is caught a few lines below and replaced by the 422 invalid_cursor; its own "
                  "text is never shown or logged"},
    "shared.pagination.x_decode_cursor__mutmut_35": {
        "line": '"XXnot a moment this service storesXX"',
        "reason": "the ValueError is caught a few lines below and replaced by the 422 invalid_cursor; its own "
                  "text is never shown or logged"},
    "shared.pagination.x_decode_cursor__mutmut_36": {
        "line": '"NOT A MOMENT THIS SERVICE STORES"',
        "reason": "the ValueError is caught a few lines below and replaced by the 422 invalid_cursor; its own "
                  "text is never shown or logged"},
    "shared.pagination.x_decode_cursor__mutmut_27": {
        "line": 'ident.encode("UTF-8")',
        "reason": "codec names are case-insensitive: UTF-8 and utf-8 are the same codec"},
    "shared.pagination.x_decode_cursor__mutmut_31": {
        "line": "when.astimezone(None).year",
        "reason": "the year in the process's zone instead of UTC: the same on this machine and in the services' "
                  "containers, which run in UTC; elsewhere it moves the accepted range's ends by hours"},
    "shared.pagination.x_decode_cursor__mutmut_6": {
        "line": '"=" * (+len(cursor) % 4)',
        "reason": "it pads as needed when the length is 0 or 2 mod 4 and too much when 3 (1 is never base64): "
                  "Python's base64 decoding ignores padding past what is needed"},
    "shared.pagination.x_encode_cursor__mutmut_5": {
        "line": '.rstrip("XX=XX")',
        "reason": "also strips trailing X's, but a cursor's JSON ends in '\"]', whose base64 ends in d, 0 or Q "
                  "(before the padding), never X"},
    "services.intake.domain.x_assess_repeats__mutmut_3": {
        "line": "hit = None",
        "reason": "None and False are both falsy where it is read"},
    "services.intake.domain.x_new_id__mutmut_5": {
        "line": "int.from_bytes(os.urandom(10), )",
        "reason": "int.from_bytes reads big-endian by default since Python 3.11 (the project's floor)"},
    "services.intake.domain.x_new_id__mutmut_7": {
        "line": "os.urandom(11)",
        "reason": "88 random bits instead of 80: the 12 and 62 bits taken from them are as random and as disjoint"},
    "services.intake.domain.x_new_id__mutmut_25": {
        "line": "(rand >> 63) & 0xFFF",
        "reason": "the 12 random bits taken one place higher (bits 63-74 instead of 62-73 of 80 random ones): "
                  "still random, still apart from the 62 bits below them"},
    "services.intake.domain.x_province_exists__mutmut_6": {
        "line": "info(region_code[:3])",
        "reason": "stdnum's division table matches the longest known prefix first, and no three-digit prefix is "
                  "listed apart from its two-digit province: all 1,000 prefixes give the same answer (checked)"},
    "services.intake.domain.x_new_receipt_code__mutmut_16": {
        "line": "{raw[12:17]}",
        "reason": "raw is 16 characters (80 bits in base32): slicing to 17 takes the same four"},
    "services.intake.domain.x_new_receipt_code__mutmut_4": {
        "line": "secrets.token_bytes(None)",
        "reason": "32 random bytes instead of 10: the code is still the first 16 base32 characters, 80 random bits"},
    "services.intake.domain.x_new_receipt_code__mutmut_7": {
        "line": "RECEIPT_LENGTH * 6 // 8",
        "reason": "12 random bytes instead of 10: the code is still the first 16 base32 characters, 80 random bits"},
    "services.intake.domain.x_release_refusal__mutmut_64": {
        "line": 'status=Term(None, status)',
        "reason": "the fallback sentence is reached only by a status the map above lacks, which has no office "
                  "term either: it reads as its own value whatever kind the term names"},
    "services.intake.domain.x_release_refusal__mutmut_68": {
        "line": 'Term("XXrequest_statusXX", status)',
        "reason": "the fallback sentence is reached only by a status the map above lacks, which has no office "
                  "term either: it reads as its own value whatever kind the term names"},
    "services.intake.domain.x_release_refusal__mutmut_69": {
        "line": 'Term("REQUEST_STATUS", status)',
        "reason": "the fallback sentence is reached only by a status the map above lacks, which has no office "
                  "term either: it reads as its own value whatever kind the term names"},
    "services.intake.domain.x_shingles__mutmut_1": {
        "line": "if len(text) < SHINGLE:",
        "reason": "a text of exactly three characters then takes the general path, whose one shingle is the text"},
    "services.intake.domain.xǁ_DropPunctuationǁ__missing____mutmut_8": {
        "line": 'in "XXPZSCXX"',
        "reason": "no Unicode general category starts with X: the set of dropped categories is the same"},
    "services.clarification.domain.x_schedule_conflicts__mutmut_4": {
        "line": "ends_at.astimezone(None)",
        "reason": "the end in the machine's zone instead of China's is the same instant: it is only compared "
                  "with aware datetimes, which compare instants"},
    "services.verification.domain.xǁFaultToleranceAssessmentǁfailing__mutmut_4": {
        "line": "not self.distinctions.get(k, None)",
        "reason": "not None and not False are both True"},
    "services.verification.domain.xǁFaultToleranceAssessmentǁfailing__mutmut_6": {
        "line": "not self.distinctions.get(k, )",
        "reason": ".get(k) defaults to None: not None is True as not False is"},
    "services.verification.domain.xǁFaultToleranceAssessmentǁfailing__mutmut_10": {
        "line": "not self.checks.get(k, None)",
        "reason": "not None and not False are both True"},
    "services.verification.domain.xǁFaultToleranceAssessmentǁfailing__mutmut_12": {
        "line": "not self.checks.get(k, )",
        "reason": ".get(k) defaults to None: not None is True as not False is"},
    "services.verification.domain.xǁFaultToleranceAssessmentǁholding__mutmut_3": {
        "line": "self.distinctions.get(k, None)",
        "reason": "None and False are both falsy in the comprehension's condition"},
    "services.verification.domain.xǁFaultToleranceAssessmentǁholding__mutmut_5": {
        "line": "self.distinctions.get(k, )",
        "reason": ".get(k) defaults to None, falsy as False is"},
    "services.verification.domain.xǁFaultToleranceAssessmentǁholding__mutmut_8": {
        "line": "self.checks.get(k, None)",
        "reason": "None and False are both falsy in the comprehension's condition"},
    "services.verification.domain.xǁFaultToleranceAssessmentǁholding__mutmut_10": {
        "line": "self.checks.get(k, )",
        "reason": ".get(k) defaults to None, falsy as False is"},
}

KILLED = {"killed", "timeout", "caught by type check", "segfault"}

_COLLECT = r"""
import json, sys
from mutmut.__main__ import SourceFileMutationData
from mutmut.mutation.diff_apply import get_diff_for_mutant
from mutmut.stats import status_by_exit_code
from pathlib import Path
path = Path(sys.argv[1])
m = SourceFileMutationData(path=path)
m.load()
out = {}
for name, code in m.exit_code_by_key.items():
    status = status_by_exit_code[code]
    out[name] = {"status": status}
    if status not in ("killed", "timeout", "caught by type check", "segfault"):
        out[name]["diff"] = get_diff_for_mutant(name, path=path)
print(json.dumps(out))
"""


def copy_tree(dest: Path) -> None:
    """The working tree's files that git knows or would know (ignored ones left out), copied to `dest`."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                            capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if not source.is_file():
            continue  # deleted in the working tree
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def configure(copy: Path, module: str, tests: list[str]) -> None:
    """mutmut's settings for one module, appended to the copy's pyproject.toml (never the tree's)."""
    config = {
        "source_paths": ["shared", "services"],
        "only_mutate": [module],
        "pytest_add_cli_args": ["-p", "no:cacheprovider", "-p", "no:xdist", "-m", "not broker and not processes"],
        "pytest_add_cli_args_test_selection": tests,
        "use_git_change_detection": False,
    }
    lines = ["", "[tool.mutmut]"] + [f"{key} = {json.dumps(value)}" for key, value in config.items()]
    with (copy / "pyproject.toml").open("a", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def run_module(module: str, *, max_children: int, keep: bool, only: list[str]) -> dict[str, object]:
    tests = [t for t in MODULES[module] if (ROOT / t).exists()]
    copy = Path(tempfile.mkdtemp(prefix="zm-mutate-"))
    started = time.monotonic()
    try:
        copy_tree(copy)
        configure(copy, module, tests)
        env = {**os.environ, "ZM_TEST_DATABASE": "sqlite", "PYTHONDONTWRITEBYTECODE": "1"}
        mutmut = Path(sys.executable).parent / "mutmut"
        log = copy / "mutmut.log"
        with log.open("wb") as out:
            run = subprocess.run(["nice", "-n", "10", str(mutmut), "run", "--max-children", str(max_children), *only],
                                 cwd=copy, env=env, stdout=out, stderr=subprocess.STDOUT)
        if run.returncode != 0:
            tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
            raise SystemExit(f"mutmut failed on {module} (exit {run.returncode}); the end of its log:\n{tail}")
        collected = subprocess.run([sys.executable, "-c", _COLLECT, module], cwd=copy, env=env, check=True,
                                   capture_output=True, text=True).stdout
        mutants: dict[str, dict[str, str]] = json.loads(collected)
    finally:
        if keep:
            print(f"  kept the copy at {copy}")
        else:
            shutil.rmtree(copy, ignore_errors=True)
    if only:  # mutmut lists every mutant of the file; a run narrowed to some functions counts only theirs
        mutants = {name: m for name, m in mutants.items() if any(fnmatch.fnmatch(name, p) for p in only)}
    entry = summarize(module, tests, mutants, time.monotonic() - started)
    if only:
        entry["only"] = only
    return entry


def summarize(module: str, tests: list[str], mutants: dict[str, dict[str, str]], seconds: float
              ) -> dict[str, object]:
    killed = sum(1 for m in mutants.values() if m["status"] in KILLED)
    not_killed = {name: m for name, m in mutants.items() if m["status"] not in KILLED}
    survivors, equivalent = [], []
    for name, m in sorted(not_killed.items()):
        entry = {"mutant": name, "status": m["status"], "diff": m.get("diff", "")}
        known = EQUIVALENT.get(name)
        if known and known["line"] in entry["diff"]:
            equivalent.append({**entry, "equivalent_because": known["reason"]})
        else:
            survivors.append(entry)
    total = len(mutants)
    countable = total - len(equivalent)
    return {
        "module": module,
        "tests": tests,
        "mutants": total,
        "killed": killed,
        "equivalent": len(equivalent),
        "survived": len(survivors),
        "kill_rate": round(killed / countable, 4) if countable else 1.0,
        "seconds": round(seconds, 1),
        "survivors": survivors,
        "equivalents": equivalent,
    }


def rescore(path: Path) -> None:
    """Apply today's EQUIVALENT to a results file's survivors (a reason written after its run), in place."""
    data = json.loads(path.read_text(encoding="utf-8"))
    for key, entry in data["modules"].items():
        mutants = {m["mutant"]: {"status": m["status"], "diff": m["diff"]}
                   for m in entry["survivors"] + entry["equivalents"]}
        killed = {f"killed-{i}": {"status": "killed"} for i in range(entry["killed"])}
        fresh = summarize(entry["module"], entry["tests"], {**killed, **mutants}, entry["seconds"])
        data["modules"][key] = {**entry, **{k: fresh[k] for k in
                                            ("equivalent", "survived", "kill_rate", "survivors", "equivalents")}}
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    write_table(data, path)


def write_results(entries: list[dict[str, object]], total_seconds: float) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"mutation-{dt.date.today().isoformat()}.json"
    data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"modules": {}}
    for entry in entries:
        only = entry.get("only")
        data["modules"][f"{entry['module']} ({' '.join(only)})" if only else entry["module"]] = entry
    data["tool"] = "mutmut 3.8.1 (tools/mutate.py), tests on SQLite, 2 cores shared with other work"
    data["last_run"] = {"modules": [e["module"] for e in entries], "seconds": round(total_seconds, 1),
                        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    data["modules"] = dict(sorted(data["modules"].items()))
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    write_table(data, path)
    return path


def write_table(data: dict[str, object], path: Path) -> None:
    """The per-module table in TESTING.md, between its markers (left alone when they are missing)."""
    if not TESTING_MD.exists():
        return
    text = TESTING_MD.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        return
    rows = ["| module | mutants | killed | equivalent | survived | kill rate | seconds |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    modules: dict[str, dict[str, object]] = data["modules"]  # type: ignore[assignment]
    for module, e in modules.items():
        rows.append(f"| `{module}` | {e['mutants']} | {e['killed']} | {e['equivalent']} | {e['survived']} "
                    f"| {float(e['kill_rate']):.1%} | {e['seconds']} |")
    rows.append("")
    rows.append(f"From `{path.relative_to(ROOT)}` (each module's own run; the kill rate leaves out the "
                "mutants listed as equivalent).")
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    TESTING_MD.write_text(head + BEGIN + "\n" + "\n".join(rows) + "\n" + END + tail, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", nargs="*", help="modules to mutate (default: all of them)")
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--keep", action="store_true", help="keep each module's copy (for mutmut show/apply)")
    parser.add_argument("--only", action="append", default=[], metavar="GLOB",
                        help="mutate only the functions whose mutant names match (mutmut's names, e.g. "
                             "'shared.auth.xǁPrincipalǁ*'); repeatable")
    parser.add_argument("--rescore", type=Path, metavar="RESULTS",
                        help="only re-apply EQUIVALENT to a results file (and TESTING.md's table), running nothing")
    parser.add_argument("--min-kill-rate", type=float, default=None,
                        help="exit 1 when a module's kill rate is below this (e.g. 0.95)")
    args = parser.parse_args(argv)
    if args.rescore:
        rescore(args.rescore.resolve())
        return 0
    modules = args.modules or list(MODULES)
    unknown = [m for m in modules if m not in MODULES]
    if unknown:
        parser.error(f"not a module of the harness: {', '.join(unknown)} (one of: {', '.join(MODULES)})")
    started = time.monotonic()
    entries = []
    for module in modules:
        print(f"mutating {module} ...", flush=True)
        entry = run_module(module, max_children=args.max_children, keep=args.keep, only=args.only)
        entries.append(entry)
        print(f"  {entry['mutants']} mutants, {entry['killed']} killed, {entry['equivalent']} equivalent, "
              f"{entry['survived']} survived: {float(entry['kill_rate']):.1%} in {entry['seconds']} s", flush=True)
        for s in entry["survivors"]:  # type: ignore[attr-defined]
            print(f"    {s['status']}: {s['mutant']}")
        path = write_results(entries, time.monotonic() - started)  # after each module: a long run keeps its part
    print(f"results in {path.relative_to(ROOT)} ({time.monotonic() - started:.0f} s)")
    if args.min_kill_rate is not None:
        low = [e["module"] for e in entries if float(e["kill_rate"]) < args.min_kill_rate]  # type: ignore[arg-type]
        if low:
            print(f"below a kill rate of {args.min_kill_rate:.0%}: {', '.join(low)}")  # type: ignore[arg-type]
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
