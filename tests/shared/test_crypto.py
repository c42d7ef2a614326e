import secrets

import pytest
from cryptography.exceptions import InvalidTag

from shared.crypto import FieldCipher


def cipher(active="k1", keys=None, blind=None):
    keys = keys or {"k1": secrets.token_bytes(32)}
    return FieldCipher(keys, active, blind or secrets.token_bytes(32))


def test_round_trip_and_no_plaintext_in_ciphertext():
    c = cipher()
    stored = c.encrypt("11010519491231002X", column="reports.reporter_id_number_enc")
    assert "11010519491231002X" not in stored
    assert stored.startswith("v1:k1:")
    assert c.decrypt(stored, column="reports.reporter_id_number_enc") == "11010519491231002X"


def test_same_value_encrypts_differently_each_time():
    c = cipher()
    assert c.encrypt("李秀英", column="t.c") != c.encrypt("李秀英", column="t.c")


def test_ciphertext_is_bound_to_its_column():
    c = cipher()
    stored = c.encrypt("李秀英", column="reports.reporter_name_enc")
    with pytest.raises(InvalidTag):
        c.decrypt(stored, column="reports.reporter_address_enc")


def test_old_values_stay_readable_after_key_rotation():
    k1, k2, blind = secrets.token_bytes(32), secrets.token_bytes(32), secrets.token_bytes(32)
    old = cipher("k1", {"k1": k1}, blind).encrypt("13800138000", column="t.phone")
    rotated = cipher("k2", {"k1": k1, "k2": k2}, blind)
    assert rotated.decrypt(old, column="t.phone") == "13800138000"
    assert rotated.encrypt("x", column="t.phone").startswith("v1:k2:")


def test_blind_index_is_stable_and_keyed():
    blind = secrets.token_bytes(32)
    a, b = cipher(blind=blind), cipher(blind=blind)
    assert a.blind_index("11010519491231002X") == b.blind_index("11010519491231002X")
    assert cipher().blind_index("11010519491231002X") != a.blind_index("11010519491231002X")
    assert a.blind_index("11010519491231002X") != a.blind_index("110105194912310029")


def test_rejects_short_keys():
    with pytest.raises(ValueError):
        FieldCipher({"k1": b"short"}, "k1", secrets.token_bytes(32))
