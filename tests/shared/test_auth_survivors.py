"""Authorization details the mutation harness (tools/mutate.py, issue #24) found no test holding: who
may read the key files, what a refused token is told, which claims are required, how long a verified
token is trusted from the cache, and the 401/403 of the bearer check and of routes open to services."""

import os
import stat
import time
import uuid
from types import SimpleNamespace

import httpx
import jwt
import pytest
from fastapi import FastAPI

from shared.auth import (
    MAX_TOKEN_LIFETIME_S,
    Principal,
    ServiceCaller,
    TokenVerifier,
    authenticate,
    current_principal,
    ensure_development_keys,
    generate_keypair,
    mint_token,
    officer_or_service,
    require_any,
)
from shared.errors import Forbidden, Unauthorized
from shared.signing import SERVICE_CREDENTIAL_TYPE


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("k")
    generate_keypair(d / "priv.pem", d / "pub.pem")
    return (d / "priv.pem").read_bytes(), (d / "pub.pem").read_bytes()


def verifier(pub, **kw):
    return TokenVerifier(pub, issuer="zhengming", audience="zhengming", **kw)


def token(priv, **kw):
    args = {"subject": "a", "scopes": ["reports:read"], "region": "3305", "org_level": "county", **kw}
    return mint_token(priv, **args)


def signed(priv, claims, **headers):
    from cryptography.hazmat.primitives import serialization

    from shared.auth import officer_key_id
    key = serialization.load_pem_private_key(priv, None)
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": officer_key_id(key.public_key()), **headers})


def claims(**kw):
    now = int(time.time())
    return {"sub": "a", "scope": "reports:read", "region": "3305", "org_level": "county", "iss": "zhengming",
            "aud": "zhengming", "iat": now, "nbf": now, "exp": now + 600, **kw}


# --- key files ---------------------------------------------------------------------------------------


def test_the_private_key_is_readable_by_its_owner_only_and_the_public_key_by_all(tmp_path):
    old = os.umask(0o022)
    try:
        assert generate_keypair(tmp_path / "p.pem", tmp_path / "p.pub") is True
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "p.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "p.pub").stat().st_mode) == 0o644
    before = (tmp_path / "p.pem").read_bytes()
    assert generate_keypair(tmp_path / "p.pem", tmp_path / "p.pub") is False  # never overwritten
    assert (tmp_path / "p.pem").read_bytes() == before


def keys_settings(tmp_path, *, allowed=True):
    return SimpleNamespace(public_key_path=tmp_path / "k" / "pub.pem", private_key_path=tmp_path / "k" / "priv.pem",
                           development_keys_allowed=allowed)


def test_development_keys_are_made_once_and_only_where_development_keys_are_allowed(tmp_path):
    with pytest.raises(RuntimeError, match="no JWT public key at"):
        ensure_development_keys(keys_settings(tmp_path, allowed=False))
    settings = keys_settings(tmp_path)
    ensure_development_keys(settings)
    made = settings.public_key_path.read_bytes(), settings.private_key_path.read_bytes()
    ensure_development_keys(settings)
    ensure_development_keys(keys_settings(tmp_path, allowed=False))  # there already: nothing to refuse
    assert (settings.public_key_path.read_bytes(), settings.private_key_path.read_bytes()) == made


def test_a_private_key_without_its_public_half_is_waited_for_then_reported(tmp_path):
    settings = keys_settings(tmp_path)
    settings.private_key_path.parent.mkdir()
    settings.private_key_path.write_bytes(b"another process's key")
    started = time.monotonic()
    with pytest.raises(RuntimeError, match=r"exists but .* does not"):
        ensure_development_keys(settings, wait_s=0.2)
    assert 0.2 <= time.monotonic() - started < 1.0  # polled every 50 ms, not slept through


# --- minting -----------------------------------------------------------------------------------------


def test_minting_names_what_it_refuses(keys):
    with pytest.raises(ValueError, match="reports:everything, zz:top"):
        token(keys[0], scopes=["zz:top", "reports:everything", "reports:read"])
    with pytest.raises(ValueError, match="county, municipal, provincial, central"):
        token(keys[0], org_level="galactic")


def test_a_token_may_live_exactly_the_longest_lifetime(keys):
    priv, pub = keys
    longest = token(priv, ttl_s=MAX_TOKEN_LIFETIME_S)
    assert verifier(pub).verify(longest).subject == "a"
    with pytest.raises(ValueError):
        token(priv, ttl_s=MAX_TOKEN_LIFETIME_S + 1)


def test_a_minted_token_is_not_valid_before_it_was_made_and_has_an_id_of_its_own(keys):
    priv, _ = keys
    first, second = (jwt.decode(token(priv), options={"verify_signature": False}) for _ in range(2))
    assert first["nbf"] == first["iat"] and first["exp"] - first["iat"] == 8 * 3600
    assert uuid.UUID(first["jti"]) != uuid.UUID(second["jti"])


# --- verifying ---------------------------------------------------------------------------------------


def test_a_token_from_another_issuer_is_refused(keys):
    priv, pub = keys
    with pytest.raises(Unauthorized, match=r"token is not valid: .*issuer"):
        verifier(pub).verify(token(priv, issuer="someone-else"))


@pytest.mark.parametrize("claim", ["exp", "iat", "iss", "aud", "sub", "region", "org_level"])
def test_a_token_missing_a_required_claim_is_refused(keys, claim):
    priv, pub = keys
    without = claims()
    del without[claim]
    with pytest.raises(Unauthorized, match="token is not valid"):
        verifier(pub).verify(signed(priv, without))


def test_an_unknown_key_id_is_named_in_the_refusal(keys):
    priv, pub = keys
    with pytest.raises(Unauthorized, match=r"does not know \(feedface\)"):
        verifier(pub).verify(signed(priv, claims(), kid="feedface"))


def test_a_long_unknown_key_id_is_cut_to_forty_characters_in_the_refusal(keys):
    priv, pub = keys
    with pytest.raises(Unauthorized) as refused:
        verifier(pub).verify(signed(priv, claims(), kid="k" * 60))
    assert f"({'k' * 40})" in str(refused.value)


def test_figures_outside_the_jurisdiction_are_refused_naming_both_regions():
    from shared.auth import RegionOutsideJurisdiction

    county = Principal("a", frozenset(), "3305", "county")
    with pytest.raises(RegionOutsideJurisdiction, match="region 33 is outside your jurisdiction 3305"):
        county.within("33")


def test_a_token_living_exactly_the_verifiers_longest_lifetime_is_accepted(keys):
    priv, pub = keys
    now = int(time.time())
    assert verifier(pub, max_lifetime_s=600).verify(signed(priv, claims(iat=now, exp=now + 600))).subject == "a"
    with pytest.raises(Unauthorized, match="longer than"):
        verifier(pub, max_lifetime_s=599).verify(signed(priv, claims(iat=now, exp=now + 600)))


@pytest.mark.parametrize(("region", "org_level"), [("3a", "county"), ("3305", "galactic"), (33, "county")])
def test_a_token_with_a_bad_region_or_level_is_refused_whatever_the_other(keys, region, org_level):
    priv, pub = keys
    with pytest.raises(Unauthorized, match="lacks a valid region or org_level claim"):
        verifier(pub).verify(signed(priv, claims(region=region, org_level=org_level)))


def test_a_token_without_scopes_holds_none(keys):
    priv, pub = keys
    without = claims()
    del without["scope"]
    assert verifier(pub).verify(signed(priv, without)).scopes == frozenset()


def test_a_verified_token_is_served_from_the_cache_until_its_entry_lapses(keys, monkeypatch):
    priv, pub = keys
    v = verifier(pub)
    calls = []
    real = v._verify
    monkeypatch.setattr(v, "_verify", lambda t: calls.append(t) or real(t))
    t = token(priv)
    assert v.verify(t) == v.verify(t) and len(calls) == 1
    expires, principal = v._verified[t]
    assert time.monotonic() < expires <= time.monotonic() + v.CACHE_SECONDS
    v._verified[t] = (time.monotonic() - 0.001, principal)
    v.verify(t)
    assert len(calls) == 2


def test_a_token_inside_its_leeway_is_accepted_but_never_cached(keys):
    priv, pub = keys
    now = int(time.time())
    v = verifier(pub)
    late = signed(priv, claims(iat=now - 60, exp=now - 2))
    assert v.verify(late).subject == "a"
    assert v._verified[late][0] <= time.monotonic()


def test_the_cache_is_emptied_when_full_and_keeps_the_newest(keys, monkeypatch):
    priv, pub = keys
    v = verifier(pub)
    monkeypatch.setattr(v, "CACHE_SIZE", 2)
    tokens = [token(priv, subject=f"s{i}") for i in range(3)]
    v.verify(tokens[0])
    v.verify(tokens[1])
    assert len(v._verified) == 2
    v.verify(tokens[2])
    assert list(v._verified) == [tokens[2]]


# --- the bearer check ----------------------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "", "Bearer", "Basic dXNlcjpwdw==", "Token abc"])
def test_without_a_bearer_token_the_caller_is_401(keys, header):
    with pytest.raises(Unauthorized, match="a bearer token is required"):
        authenticate(verifier(keys[1]), header, [])


def test_a_token_lacking_a_scope_is_403_naming_the_missing_ones(keys):
    priv, pub = keys
    t = token(priv, scopes=["reports:read"])
    assert authenticate(verifier(pub), f"bearer {t}", ["reports:read"]).subject == "a"
    with pytest.raises(Forbidden, match="lacks scope reports:submit audit:read") as refused:
        authenticate(verifier(pub), f"Bearer {t}", ["reports:submit", "reports:read", "audit:read"])
    assert refused.value.extra["missing_scopes"] == ["reports:submit", "audit:read"]


def test_a_route_open_to_several_roles_needs_one_of_their_scopes():
    officer = Principal("a", frozenset({"blacklist:read"}), "33", "county")
    require_any(officer, "blacklist:write", "blacklist:read")
    with pytest.raises(Forbidden, match="one of the scopes blacklist:write audit:read") as refused:
        require_any(officer, "blacklist:write", "audit:read")
    assert refused.value.extra["missing_scopes"] == ["blacklist:write", "audit:read"]


# --- as FastAPI dependencies -----------------------------------------------------------------------------


class Trust:
    def __init__(self):
        self.asked = []

    def verify_credential(self, credential, *, audience, callers):
        self.asked.append((credential, audience, callers))
        return "intake"


@pytest.fixture
async def client(keys):
    from fastapi import Security

    from shared.problems import install_problem_handlers

    trust = Trust()
    app = FastAPI()
    install_problem_handlers(app)
    app.runtime = SimpleNamespace(verifier=verifier(keys[1]), trust=trust,
                                  settings=SimpleNamespace(service_name="credit_blacklist"))

    @app.get("/officers")
    async def officers(p: Principal = Security(current_principal, scopes=["reports:read"])):
        return {"sub": p.subject}

    @app.get("/either")
    async def either(caller=officer_or_service("reports:read", services=["intake", "verification"])):
        if isinstance(caller, ServiceCaller):
            return {"service": caller.service}
        return {"sub": caller.subject}

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        c.trust = trust
        yield c


def bearer(t):
    return {"Authorization": f"Bearer {t}"}


async def test_an_officers_route_answers_401_without_a_token_and_403_without_the_scope(client, keys):
    priv, _ = keys
    assert (await client.get("/officers")).status_code == 401
    assert (await client.get("/officers", headers={"Authorization": "Basic dXNlcjpwdw=="})).status_code == 401
    refused = await client.get("/officers", headers=bearer(token(priv, scopes=["audit:read"])))
    assert refused.status_code == 403 and refused.json()["missing_scopes"] == ["reports:read"]
    assert (await client.get("/officers", headers=bearer(token(priv, subject="carol")))).json() == {"sub": "carol"}


async def test_a_route_open_to_services_checks_a_service_credential_against_the_named_services(client, keys):
    priv, _ = keys
    credential = jwt.encode({"iss": "intake"}, "k" * 32, algorithm="HS256", headers={"typ": SERVICE_CREDENTIAL_TYPE})
    assert (await client.get("/either", headers=bearer(credential))).json() == {"service": "intake"}
    assert client.trust.asked == [(credential, "credit_blacklist", frozenset({"intake", "verification"}))]
    officer = await client.get("/either", headers=bearer(token(priv, subject="dan")))
    assert officer.json() == {"sub": "dan"} and len(client.trust.asked) == 1
    assert (await client.get("/either")).status_code == 401
    basic = await client.get("/either", headers={"Authorization": f"Basic {credential}"})
    assert basic.status_code == 401 and len(client.trust.asked) == 1  # only a bearer token is a credential
    refused = await client.get("/either", headers=bearer(token(priv, scopes=["audit:read"])))
    assert refused.status_code == 403 and refused.json()["missing_scopes"] == ["reports:read"]
