"""Pure intake rules: receipt codes, who a report is about (subject and region), near-duplicate and
repeat reports, identity custody. No I/O. (The normal form of a resident ID number, which the
blacklist must share, is shared.identity's.)"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import time
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from shared.messages import Message, Term
from shared.vocabulary import Refusal

# Crockford's base32: no I, L, O or U, so a code read aloud or copied by hand is unambiguous.
RECEIPT_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
RECEIPT_LENGTH = 16  # 16 symbols x 5 bits = 80 bits of randomness
_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})


# 80 random bits in base32 are exactly the 16 symbols; the standard alphabet mapped onto Crockford's.
_TO_CROCKFORD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", RECEIPT_ALPHABET)


def new_id() -> str:
    """A new report's or allegation's id: a UUID of version 7 (RFC 9562), the time in milliseconds first and
    74 random bits after. Ids made later sort later, so a table's primary key and the indexes that repeat it
    (allegations' report id, trace links) grow at their right edge: the same few pages stay in memory
    however many reports are stored, where random (version 4) ids touched a random page of each per
    report once the indexes outgrew the cache (#22). The time it tells is the report's received time,
    which everyone who may read the id sees anyway."""
    rand = int.from_bytes(os.urandom(10), "big")
    value = ((time.time_ns() // 1_000_000) << 80) | (0x7 << 76) | ((rand >> 62) & 0xFFF) << 64 \
        | (0b10 << 62) | (rand & 0x3FFF_FFFF_FFFF_FFFF)
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def new_receipt_code() -> str:
    """A fresh receipt code, shown once to the reporter: `XXXX-XXXX-XXXX-XXXX`."""
    raw = base64.b32encode(secrets.token_bytes(RECEIPT_LENGTH * 5 // 8)).decode().translate(_TO_CROCKFORD)
    return f"{raw[0:4]}-{raw[4:8]}-{raw[8:12]}-{raw[12:16]}"


def normalize_receipt_code(code: str) -> str:
    """Upper-case, drop separators and spaces, and read look-alike letters as the digits meant."""
    return code.upper().replace("-", "").replace(" ", "").translate(_LOOKALIKES)


def receipt_code_hash(code: str) -> str:
    # 80 random bits cannot be brute-forced, so a plain digest is enough to store.
    return hashlib.sha256(normalize_receipt_code(code).encode()).hexdigest()




# --- subject and region --------------------------------------------------------------------------


def normalize_name(name: str) -> str:
    """Names compare after NFKC (full-width to half-width) without spaces or middle dots."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", name) if not ch.isspace() and ch not in "·•．.")


def subject_key(name: str, region_code: str) -> str:
    """Who a report is about, for grouping: the same name in the same county-level region."""
    return hashlib.sha256(f"{normalize_name(name)}|{region_code}".encode()).hexdigest()


def province_exists(region_code: str) -> bool:
    """True when the first two digits name a province-level division (stdnum's division table)."""
    from stdnum import numdb

    parts = numdb.get("cn/loc").info(region_code[:2])
    return bool(parts and parts[0][1].get("province"))


# --- near-duplicate allegations ---------------------------------------------------------------------

SHINGLE = 3  # Chinese has no spaces: compare overlapping runs of three characters


class _DropPunctuation(dict[int, str | None]):
    """A `str.translate` table that learns each character once: kept, or dropped when it is
    punctuation, a separator, a symbol or a control/format character (category P, Z, S or C)."""

    def __missing__(self, code: int) -> str | None:
        kept = None if unicodedata.category(chr(code))[0] in "PZSC" else chr(code)
        if len(self) < 100_000:
            self[code] = kept
        return kept


_DROP_PUNCTUATION = _DropPunctuation()


def allegation_text(summaries: list[str]) -> str:
    """What duplicate detection compares: the summaries, NFKC-folded, without spaces or punctuation."""
    return unicodedata.normalize("NFKC", "".join(summaries)).lower().translate(_DROP_PUNCTUATION)


def shingles(text: str) -> frozenset[str]:
    if len(text) <= SHINGLE:
        return frozenset([text]) if text else frozenset()
    # A list, not a generator: a third faster, and every submission shingles its allegations.
    return frozenset([text[i : i + SHINGLE] for i in range(len(text) - SHINGLE + 1)])


def similarity(a: frozenset[str], b: frozenset[str]) -> float:
    """Jaccard similarity of two shingle sets: 1.0 identical, 0.0 nothing in common."""
    if not a and not b:
        return 1.0
    common = len(a & b)
    return common / (len(a) + len(b) - common)  # |a ∪ b| without building the union


@dataclass(frozen=True)
class EarlierReport:
    report_id: str
    shingles: frozenset[str]
    same_reporter: bool
    concluded: bool


@dataclass(frozen=True)
class RepeatAssessment:
    flags: tuple[str, ...]
    linked_report_ids: tuple[str, ...]


def assess_repeats(new: frozenset[str], earlier: list[EarlierReport], *, threshold: float) -> RepeatAssessment:
    """Flags for a new report about a subject, given earlier reports about the same subject.

    * `near_duplicate`: an earlier report's allegations are near-identical (similarity >= threshold);
    * `repeat_after_conclusion`: the same reporter reported this subject before and that report
      was already concluded.
    Links name every earlier report that raised a flag, oldest first as given.
    """
    flags: list[str] = []
    links: list[str] = []
    for report in earlier:
        hit = False
        if similarity(new, report.shingles) >= threshold:
            hit = True
            if "near_duplicate" not in flags:
                flags.append("near_duplicate")
        if report.same_reporter and report.concluded:
            hit = True
            if "repeat_after_conclusion" not in flags:
                flags.append("repeat_after_conclusion")
        if hit:
            links.append(report.report_id)
    return RepeatAssessment(tuple(flags), tuple(links))


# --- identity custody ---------------------------------------------------------------------------------
# A reporter's identity leaves intake only (a) to credit_blacklist for a report whose final, approved
# malicious verdict intake recorded from a verified event, or (b) to an officer through a request a
# different custodian (municipal or higher) approved, once, within a time limit.

CUSTODIAN_MIN_LEVEL = "municipal"
LISTING_FIELDS = ("name", "id_number")  # what a blacklist entry needs of the person, and no more


@dataclass(frozen=True)
class RecordedVerdict:
    """The newest final verdict intake recorded for a report (version 0: none yet)."""

    version: int
    verdict_id: str | None
    outcome: str | None
    approved_by: str | None
    approver_at_least_municipal: bool


def listing_refusal(recorded: RecordedVerdict, *, verdict_id: str, version: int) -> Refusal | None:
    """Why credit_blacklist may not have the reporter for the verdict it is applying (its id and
    version), or None. `verdict_not_recorded` and `verdict_superseded` mean "not now" and "never for
    this verdict"; they are answered 409, the others 403."""
    if recorded.version < version:
        return Refusal("verdict_not_recorded", Message("intake.verdict_not_recorded", version=version))
    if recorded.version > version:
        return Refusal("verdict_superseded", Message("intake.verdict_superseded", version=version,
                                                     recorded=recorded.version))
    if recorded.verdict_id != verdict_id:
        return Refusal("verdict_mismatch", Message("intake.verdict_mismatch"))
    if recorded.outcome != "malicious":
        return Refusal("no_malicious_verdict", Message("intake.verdict_not_malicious",
                                                       verdict=Term("verdict", str(recorded.outcome))))
    if not recorded.approved_by or not recorded.approver_at_least_municipal:
        return Refusal("verdict_not_approved",
                       Message("intake.verdict_not_approved", level=Term("org_level", CUSTODIAN_MIN_LEVEL)))
    return None


def decision_refusal(*, requested_by: str, custodian: str, custodian_at_least_municipal: bool) -> Refusal | None:
    """Why this custodian may not decide an identity-access request, or None when they may."""
    if custodian == requested_by:
        return Refusal("separation_of_duties", Message("intake.custodian_not_requester"))
    if not custodian_at_least_municipal:
        return Refusal("custodian_level",
                       Message("intake.custodian_level", level=Term("org_level", CUSTODIAN_MIN_LEVEL)))
    return None


@dataclass(frozen=True)
class AccessRequestState:
    requested_by: str
    status: str  # pending, approved, refused, released
    expires_at: datetime | None


def effective_status(state: AccessRequestState, now: datetime) -> str:
    """The status as users see it: an approved request past its time limit is `expired`."""
    if state.status == "approved" and state.expires_at is not None and now >= state.expires_at:
        return "expired"
    return state.status


def release_refusal(state: AccessRequestState | None, *, reader: str, now: datetime) -> Refusal | None:
    """Why this officer may not read the identity with this request, or None when they may (once)."""
    if state is None:
        return Refusal("identity_request_required", Message("intake.identity_request_required"))
    if state.requested_by != reader:
        return Refusal("not_the_requester", Message("intake.not_the_requester"))
    status = effective_status(state, now)
    detail = {
        "pending": Message("intake.request_pending"),
        "refused": Message("intake.request_refused"),
        "released": Message("intake.identity_request_used"),
        "expired": Message("intake.request_expired"),
    }
    if status != "approved":
        return Refusal(f"request_{status}", detail.get(status, Message("intake.request_status",
                                                                       status=Term("request_status", status))))
    return None
