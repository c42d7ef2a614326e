from hypothesis import given
from hypothesis import strategies as st

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
