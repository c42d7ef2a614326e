import time

import jwt
import pytest

from shared.auth import Principal, TokenVerifier, generate_keypair, mint_token
from shared.errors import Unauthorized


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("k")
    generate_keypair(d / "priv.pem", d / "pub.pem")
    return (d / "priv.pem").read_bytes(), (d / "pub.pem").read_bytes()


def verifier(pub):
    return TokenVerifier(pub, issuer="zhengming", audience="zhengming")


def test_minted_token_carries_scopes_region_and_level(keys):
    priv, pub = keys
    token = mint_token(priv, subject="alice", scopes=["reports:read", "audit:read"], region="3305",
                       org_level="county")
    p = verifier(pub).verify(token)
    assert p == Principal("alice", frozenset({"reports:read", "audit:read"}), "3305", "county")
    assert p.serves("330502") and not p.serves("310101")


def test_expired_token_is_refused(keys):
    priv, pub = keys
    token = mint_token(priv, subject="a", scopes=[], region="33", org_level="county", ttl_s=-120)
    with pytest.raises(Unauthorized, match="expired"):
        verifier(pub).verify(token)


def test_unsigned_alg_none_token_is_refused(keys):
    _, pub = keys
    now = int(time.time())
    token = jwt.encode({"sub": "a", "iss": "zhengming", "aud": "zhengming", "exp": now + 60,
                        "scope": "audit:read", "region": "", "org_level": "central"}, None, algorithm="none")
    with pytest.raises(Unauthorized):
        verifier(pub).verify(token)


def test_token_signed_by_another_key_is_refused(keys, tmp_path):
    _, pub = keys
    generate_keypair(tmp_path / "other.pem", tmp_path / "other.pub")
    token = mint_token((tmp_path / "other.pem").read_bytes(), subject="a", scopes=[], region="33",
                       org_level="county")
    with pytest.raises(Unauthorized):
        verifier(pub).verify(token)


def test_wrong_audience_is_refused(keys):
    priv, pub = keys
    token = mint_token(priv, subject="a", scopes=[], region="33", org_level="county", audience="other")
    with pytest.raises(Unauthorized):
        verifier(pub).verify(token)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"scopes": ["reports:everything"]}, "unknown scopes"),
    ({"region": "3a"}, "region"),
    ({"org_level": "galactic"}, "org_level"),
])
def test_minting_refuses_nonsense(keys, kwargs, message):
    args = {"subject": "a", "scopes": [], "region": "33", "org_level": "county", **kwargs}
    with pytest.raises(ValueError, match=message):
        mint_token(keys[0], **args)


def test_org_levels_are_ordered():
    p = Principal("a", frozenset(), "33", "municipal")
    assert p.at_least("county") and p.at_least("municipal") and not p.at_least("provincial")


def test_a_cached_token_is_kept_no_longer_than_it_is_valid(keys):
    priv, pub = keys
    v = verifier(pub)
    token = mint_token(priv, subject="a", scopes=[], region="33", org_level="county", ttl_s=5)
    assert v.verify(token).subject == "a"
    cached_until, principal = v._verified[token]
    assert principal.subject == "a" and cached_until - time.monotonic() <= 5.01
    long_lived = mint_token(priv, subject="b", scopes=[], region="33", org_level="county", ttl_s=3600)
    v.verify(long_lived)
    assert v._verified[long_lived][0] - time.monotonic() <= v.CACHE_SECONDS + 0.01
    v._verified[token] = (time.monotonic() - 1, principal)  # stale: verified again, not served
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(Unauthorized):
        v.verify(forged)  # a different string is never a cache hit


def test_a_token_lives_at_most_the_configured_hours(keys):
    priv, pub = keys
    with pytest.raises(ValueError, match="at most 12 hours"):
        mint_token(priv, subject="a", scopes=[], region="33", org_level="county", ttl_s=13 * 3600)
    four_hours = TokenVerifier(pub, issuer="zhengming", audience="zhengming", max_lifetime_s=4 * 3600)
    token = mint_token(priv, subject="a", scopes=[], region="33", org_level="county", ttl_s=8 * 3600)
    assert verifier(pub).verify(token).subject == "a"
    with pytest.raises(Unauthorized, match="longer than 4 hours"):
        four_hours.verify(token)


def test_minted_tokens_name_their_key_and_another_key_id_is_refused(keys, tmp_path):
    priv, _ = keys
    token = mint_token(priv, subject="a", scopes=[], region="33", org_level="county")
    assert len(jwt.get_unverified_header(token)["kid"]) == 16
    generate_keypair(tmp_path / "new.pem", tmp_path / "new.pub")
    rotated = TokenVerifier((tmp_path / "new.pub").read_bytes(), issuer="zhengming", audience="zhengming")
    with pytest.raises(Unauthorized, match="key this service does not know"):
        rotated.verify(token)
