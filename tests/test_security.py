"""OWASP API Top 10 checks that apply, across every service: authentication, function-level
authorization on every route, and object-level authorization by region."""

import re
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from shared.auth import generate_keypair
from tests.conftest import bearer, build_app, serve

SERVICES = ["intake", "verification", "clarification", "credit_blacklist"]
PUBLIC = {("GET", "/v1/receipts/{receipt_code}"),
          ("GET", "/v1/receipts/{receipt_code}/messages"), ("POST", "/v1/receipts/{receipt_code}/messages"),
          ("POST", "/v1/receipts/{receipt_code}/attachments")}


@pytest.fixture
async def apps(new_database, settings_for):
    built = {s: build_app(s, settings_for(s, await new_database(s))) for s in SERVICES}
    clients = {}
    contexts = [serve(app) for app in built.values()]
    for name, ctx in zip(built, contexts, strict=True):
        clients[name] = await ctx.__aenter__()
    yield clients
    for ctx in contexts:
        await ctx.__aexit__(None, None, None)


def operations(spec):
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            if path.startswith("/v1/"):
                yield method.upper(), path, op


def concrete(path):
    return re.sub(r"\{[^}]+\}", "00000000-0000-0000-0000-000000000000", path)


async def test_every_protected_route_says_401_without_a_token_and_403_without_its_scope(apps, make_token):
    checked = 0
    for service, client in apps.items():
        spec = (await client.get("/openapi.json")).json()
        for method, path, op in operations(spec):
            if (method, path) in PUBLIC:
                continue
            url = concrete(path)
            r = await client.request(method, url, json={})
            assert r.status_code == 401, (service, method, path, r.status_code)
            assert r.headers["content-type"] == "application/problem+json" and r.headers["www-authenticate"]
            # A token with one scope: refused unless the route's scopes (any one of its alternatives) are it.
            alternatives = [set(sec.get("HTTPBearer", [])) for sec in op.get("security", [])]
            r = await client.request(method, url, json={}, headers=bearer(make_token("audit:read", region="")))
            if not any(needed <= {"audit:read"} for needed in alternatives):
                assert r.status_code == 403, (service, method, path, r.status_code, r.text)
                assert r.json()["code"] == "forbidden"
            checked += 1
    assert checked >= 30


@pytest.mark.parametrize("service", SERVICES)
async def test_broken_tokens_are_refused(apps, service, data_dir, tmp_path):
    client = apps[service]
    private = serialization.load_pem_private_key((data_dir / "keys" / "jwt-private.pem").read_bytes(), None)
    generate_keypair(tmp_path / "other.pem", tmp_path / "other.pub")
    stranger = serialization.load_pem_private_key((tmp_path / "other.pem").read_bytes(), None)
    now = int(time.time())
    good = {"sub": "x", "iss": "zhengming", "aud": "zhengming", "iat": now, "exp": now + 300, "scope": "audit:read",
            "region": "", "org_level": "central"}
    tokens = {
        "expired": jwt.encode({**good, "exp": now - 120}, private, algorithm="EdDSA"),
        "unsigned": jwt.encode(good, None, algorithm="none"),
        "wrong audience": jwt.encode({**good, "aud": "someone-else"}, private, algorithm="EdDSA"),
        "wrong issuer": jwt.encode({**good, "iss": "someone-else"}, private, algorithm="EdDSA"),
        "other key": jwt.encode(good, stranger, algorithm="EdDSA"),
        "symmetric with the public key": jwt.encode(
            good, (data_dir / "keys" / "jwt-public.pem").read_bytes().decode()[:40], algorithm="HS256"),
        "garbage": "not.a.token",
        "expired 10 s ago (past the leeway)": jwt.encode({**good, "exp": now - 10}, private, algorithm="EdDSA"),
        "living two days": jwt.encode({**good, "exp": now + 48 * 3600}, private, algorithm="EdDSA"),
        "without an issue time": jwt.encode({k: v for k, v in good.items() if k != "iat"}, private, algorithm="EdDSA"),
        "without an expiry": jwt.encode({k: v for k, v in good.items() if k != "exp"}, private, algorithm="EdDSA"),
        "an unknown key id": jwt.encode(good, private, algorithm="EdDSA", headers={"kid": "0123456789abcdef"}),
    }
    assert (await client.get("/v1/audit/verify", headers=bearer(jwt.encode(good, private, algorithm="EdDSA")))
            ).status_code == 200
    for name, token in tokens.items():
        r = await client.get("/v1/audit/verify", headers=bearer(token))
        assert r.status_code == 401, name
        assert r.headers["content-type"] == "application/problem+json"


async def test_pagination_is_capped_everywhere(apps, make_token):
    token = bearer(make_token("reports:read verification:read clarification:read blacklist:read", region=""))
    for service, path in (("intake", "/v1/reports"), ("verification", "/v1/cases"),
                          ("clarification", "/v1/clarifications"), ("credit_blacklist", "/v1/entries")):
        r = await apps[service].get(path, params={"limit": 10_000}, headers=token)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "limit", service


async def test_no_route_takes_a_url_to_fetch(apps):
    """OWASP API7 (server-side request forgery): the only outgoing calls go to addresses from settings
    (intake for credit_blacklist, the audit peers), never to one a client names."""
    suspicious = re.compile(r"url|uri|href|callback|webhook|endpoint|hostname", re.IGNORECASE)
    for service, client in apps.items():
        spec = (await client.get("/openapi.json")).json()
        schemas = spec.get("components", {}).get("schemas", {})
        for name, schema in schemas.items():
            for prop, definition in schema.get("properties", {}).items():
                assert not suspicious.search(prop) and definition.get("format") != "uri", (service, name, prop)
        for _, path, op in operations(spec):
            for param in op.get("parameters", []):
                assert not suspicious.search(param["name"]), (service, path, param["name"])
