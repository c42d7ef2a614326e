"""Pure intake rules: receipt codes and the normal form of identity values. No I/O."""

from __future__ import annotations

import base64
import hashlib
import secrets
import unicodedata
from dataclasses import dataclass

# Crockford's base32: no I, L, O or U, so a code read aloud or copied by hand is unambiguous.
RECEIPT_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
RECEIPT_LENGTH = 16  # 16 symbols x 5 bits = 80 bits of randomness
_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})


# 80 random bits in base32 are exactly the 16 symbols; the standard alphabet mapped onto Crockford's.
_TO_CROCKFORD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", RECEIPT_ALPHABET)


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
    return frozenset(text[i : i + SHINGLE] for i in range(len(text) - SHINGLE + 1))


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
