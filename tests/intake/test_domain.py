from hypothesis import given
from hypothesis import strategies as st

from services.intake import domain
from services.intake.domain import (
    RECEIPT_ALPHABET,
    new_receipt_code,
    normalize_receipt_code,
    receipt_code_hash,
)


def test_receipt_code_is_80_bits_in_readable_groups():
    code = new_receipt_code()
    groups = code.split("-")
    assert [len(g) for g in groups] == [4, 4, 4, 4]
    assert set("".join(groups)) <= set(RECEIPT_ALPHABET)
    assert len(RECEIPT_ALPHABET) ** 16 == 2**80
    assert not set("ILOU") & set(RECEIPT_ALPHABET)


def test_receipt_codes_do_not_repeat():
    assert len({new_receipt_code() for _ in range(2000)}) == 2000


@given(st.sampled_from(["lower", "spaces", "lookalikes"]))
def test_hand_copied_variants_hash_the_same(variant):
    code = new_receipt_code()
    typed = {
        "lower": code.lower(),
        "spaces": code.replace("-", " "),
        "lookalikes": code.replace("0", "O").replace("1", "I"),
    }[variant]
    assert normalize_receipt_code(typed) == code.replace("-", "")
    assert receipt_code_hash(typed) == receipt_code_hash(code)


def test_a_new_id_is_a_version_7_uuid_and_ids_made_later_sort_after_it():
    import time
    import uuid

    first = domain.new_id()
    made = time.time_ns() // 1_000_000
    deadline = time.monotonic() + 1
    while time.time_ns() // 1_000_000 <= made + 1 and time.monotonic() < deadline:  # the next millisecond but one
        pass
    later = domain.new_id()
    assert uuid.UUID(first).version == uuid.UUID(later).version == 7
    assert uuid.UUID(first).variant == uuid.RFC_4122 and str(uuid.UUID(first)) == first
    assert first < later  # ids sort by the time they were made: indexes on them grow at one end
    assert len({domain.new_id() for _ in range(1000)}) == 1000
