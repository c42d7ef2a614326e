"""Bearer tokens (JWT, EdDSA) with scopes, region and organization level."""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, SecurityScopes
from fastapi.security.utils import get_authorization_scheme_param

from shared.crypto import create_exclusively
from shared.errors import Forbidden, Unauthorized
from shared.messages import Message
from shared.settings import ServiceSettings
from shared.signing import is_service_credential, token_fault
from shared.vocabulary import ORG_LEVELS, at_least

REGION_PATTERN = re.compile(r"^([0-9]{2}|[0-9]{4}|[0-9]{6})?$")

MAX_TOKEN_LIFETIME_S = 12 * 3600  # the default cap on exp - iat (setting jwt_max_lifetime_hours)

SCOPES: dict[str, str] = {
    "reports:submit": "submit reports",
    "reports:read": "read reports in your region",
    "reports:identity": "ask for, and with an approved request read once, a reporter's identity (audited)",
    "reports:message": "write to a reporter through their receipt channel: messages, questions and the statutory "
                       "notices (acceptance, result)",
    "identity:custody": "decide identity-access requests (custodian: municipal level or higher, audited)",
    "verification:read": "read verification cases",
    "verification:write": "record findings and conclusions",
    "verification:approve": "approve malicious verdicts and corrections of final verdicts",
    "clarification:read": "read clarifications",
    "clarification:write": "run clarifications and meetings",
    "blacklist:check": "check whether an ID number is listed",
    "blacklist:read": "read blacklist entries",
    "blacklist:write": "record and decide objections, request and grant repairs and revocations (never both)",
    "blacklist:export": "export the public active entries for the social-credit system (with a reason, audited)",
    "audit:read": "verify the audit chain",
    "risk:file": "file a risky decision before acting (风险报备) on behalf of an official or their unit",
    "risk:review": "accept, assess and review risk filings at the level the matter requires, give feedback and "
                   "record the outcome (never on a filing one filed; the review never by whoever accepted or "
                   "assessed it)",
    "risk:read": "read risk filings in your region",
}


class RegionOutsideJurisdiction(Forbidden):
    code = "region_outside_jurisdiction"


@dataclass(frozen=True)
class Principal:
    """Who is calling: an officer or a service, with what scopes, serving which region."""

    subject: str
    scopes: frozenset[str]
    region: str
    org_level: str

    def serves(self, region_code: str) -> bool:
        """True when `region_code` lies in this principal's jurisdiction (prefix of the code)."""
        return region_code.startswith(self.region)

    def narrow(self, region: str | None) -> str | None:
        """The part of `region` inside this jurisdiction: the narrower of the two prefixes, or None
        when they do not overlap. No region asked means the whole jurisdiction."""
        if region is None or region.startswith(self.region):
            return region or self.region
        return self.region if self.region.startswith(region) else None

    def within(self, region: str | None) -> str:
        """`region` (default: the whole jurisdiction) if it lies inside this jurisdiction, else 403.
        For figures over a region, where an empty answer would mislead instead of protect."""
        effective = region if region is not None else self.region
        if not effective.startswith(self.region):
            raise RegionOutsideJurisdiction(Message("auth.region_outside", region=effective,
                                                    jurisdiction=self.region or "-"))
        return effective

    def at_least(self, level: str) -> bool:
        """True when this principal's organization stands at `level` or higher."""
        return at_least(self.org_level, level)


def generate_keypair(private_path: Path, public_path: Path) -> bool:
    """Write a new Ed25519 pair unless a private key is already there. True if this call wrote it.

    Each file appears whole (written aside, then linked into place), and a pair another process
    created first is never overwritten, so services started together agree on one key.
    """
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if not create_exclusively(private_path, private_pem, mode=0o600):
        return False
    create_exclusively(public_path, public_pem, mode=0o644)
    return True


def ensure_development_keys(settings: ServiceSettings, wait_s: float = 10.0) -> None:
    """Create the development signing key pair in the data folder on first run (development only)."""
    if settings.public_key_path.exists():
        return
    if not settings.development_keys_allowed:
        raise RuntimeError(f"no JWT public key at {settings.public_key_path}")
    if not generate_keypair(settings.private_key_path, settings.public_key_path):
        # Another process won the race; its public key follows its private key in a moment.
        deadline = time.monotonic() + wait_s
        while not settings.public_key_path.exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{settings.private_key_path} exists but {settings.public_key_path} does not")
            time.sleep(0.05)


def mint_token(
    private_key_pem: bytes,
    *,
    subject: str,
    scopes: list[str],
    region: str,
    org_level: str,
    ttl_s: int = 8 * 3600,
    issuer: str = "zhengming",
    audience: str = "zhengming",
    max_ttl_s: int = MAX_TOKEN_LIFETIME_S,
) -> str:
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise ValueError(Message("cli.unknown_scopes", scopes=", ".join(unknown)))
    if not REGION_PATTERN.match(region):
        raise ValueError(Message("cli.region_digits"))
    if org_level not in ORG_LEVELS:
        raise ValueError(Message("cli.org_level_one_of", levels=", ".join(ORG_LEVELS)))
    if ttl_s > max_ttl_s:
        raise ValueError(Message("cli.token_lifetime", hours=max_ttl_s // 3600))
    now = int(time.time())
    claims = {
        "sub": subject,
        "scope": " ".join(scopes),
        "region": region,
        "org_level": org_level,
        "iss": issuer,
        "aud": audience,
        "iat": now,
        "nbf": now,
        "exp": now + ttl_s,
        "jti": str(uuid.uuid4()),
    }
    key = serialization.load_pem_private_key(private_key_pem, None)
    return jwt.encode(claims, key, algorithm="EdDSA",  # type: ignore[arg-type]
                      headers={"kid": officer_key_id(key.public_key())})  # type: ignore[arg-type]


def officer_key_id(public_key: Any) -> str:
    """The key id officers' tokens carry: the first 16 hex digits of the SHA-256 of the raw public key."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


class TokenVerifier:
    """Checks signature, key id, issue time, expiry, lifetime, issuer and audience; only EdDSA is
    accepted (never `none`), with a few seconds of clock leeway."""

    CACHE_SECONDS = 60
    CACHE_SIZE = 10_000
    LEEWAY_S = 5

    def __init__(self, public_key_pem: bytes, *, issuer: str, audience: str,
                 max_lifetime_s: int = MAX_TOKEN_LIFETIME_S) -> None:
        self._key = serialization.load_pem_public_key(public_key_pem)
        self._key_id = officer_key_id(self._key)
        self._issuer = issuer
        self._audience = audience
        self._max_lifetime_s = max_lifetime_s
        # Verified tokens, for a minute at most and never past their expiry: a busy client sends the
        # same token thousands of times, and the signature check is the dearest part of a cheap request.
        self._verified: dict[str, tuple[float, Principal]] = {}

    def verify(self, token: str) -> Principal:
        now = time.monotonic()
        cached = self._verified.get(token)
        if cached is not None and cached[0] > now:
            return cached[1]
        principal, expires_at = self._verify(token)
        if len(self._verified) >= self.CACHE_SIZE:
            self._verified.clear()
        self._verified[token] = (now + min(self.CACHE_SECONDS, max(0.0, expires_at - time.time())), principal)
        return principal

    def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            key_id = jwt.get_unverified_header(token).get("kid")
            if key_id is not None and key_id != self._key_id:
                raise Unauthorized(Message("auth.token_unknown_key", key_id=str(key_id)[:40]))
            claims = jwt.decode(
                token,
                self._key,  # type: ignore[arg-type]
                algorithms=["EdDSA"],
                issuer=self._issuer,
                audience=self._audience,
                options={"require": ["exp", "iat", "iss", "aud", "sub", "region", "org_level"]},
                leeway=self.LEEWAY_S,
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized(Message("auth.token_expired")) from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized(Message("auth.token_invalid", reason=token_fault(exc))) from exc
        if float(claims["exp"]) - float(claims["iat"]) > self._max_lifetime_s:
            raise Unauthorized(Message("auth.token_too_long", hours=self._max_lifetime_s // 3600))
        # Fail closed: a missing region is refused above; only an explicit "" means nationwide.
        region, org_level = claims["region"], claims["org_level"]
        if not isinstance(region, str) or not REGION_PATTERN.match(region) or org_level not in ORG_LEVELS:
            raise Unauthorized(Message("auth.token_claims"))
        principal = Principal(
            subject=str(claims["sub"]),
            scopes=frozenset(str(claims.get("scope", "")).split()),
            region=region,
            org_level=org_level,
        )
        return principal, float(claims["exp"])


_bearer = HTTPBearer(auto_error=False, description="JWT minted by `zhengming token`")


def authenticate(verifier: TokenVerifier, authorization: str | None, scopes: Sequence[str]) -> Principal:
    """The caller behind an Authorization header value ("Bearer <token>"): 401 without a valid bearer
    token, 403 when the token lacks one of `scopes`. FastAPI routes reach it through `authorized`,
    plain ASGI routes directly."""
    scheme, credentials = get_authorization_scheme_param(authorization)  # as FastAPI's HTTPBearer splits it
    if not (scheme and credentials) or scheme.lower() != "bearer":
        raise Unauthorized(Message("auth.bearer_required"))
    principal = verifier.verify(credentials)
    missing = [s for s in scopes if s not in principal.scopes]
    if missing:
        raise Forbidden(Message("auth.scope_missing", scopes=" ".join(missing)), missing_scopes=missing)
    return principal


async def current_principal(
    security_scopes: SecurityScopes,
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    authorization = None if credentials is None else f"{credentials.scheme} {credentials.credentials}"
    return authenticate(request.app.runtime.verifier, authorization, security_scopes.scopes)


def require_any(principal: Principal, *scopes: str) -> None:
    """403 unless the principal holds at least one of `scopes` (a route open to several roles)."""
    if not principal.scopes & set(scopes):
        raise Forbidden(Message("auth.scope_one_of", scopes=" ".join(scopes)), missing_scopes=list(scopes))


@dataclass(frozen=True)
class ServiceCaller:
    """Another Zhengming service, calling with a credential signed by its own key (never a token
    minted with the officers' signing key)."""

    service: str


def officer_or_service(*scopes: str, services: Sequence[str]) -> Any:
    """The caller of a route open to officers holding `scopes` and to the named services: a bearer
    token that presents itself as a service credential is checked as one, against the trust map's
    keys of those services (401 if it fails); any other token is an officer's."""
    callers = frozenset(services)

    async def caller(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal | ServiceCaller:
        runtime = request.app.runtime
        if credentials is not None and credentials.scheme.lower() == "bearer" \
                and is_service_credential(credentials.credentials):
            return ServiceCaller(runtime.trust.verify_credential(
                credentials.credentials, audience=runtime.settings.service_name, callers=callers))
        authorization = None if credentials is None else f"{credentials.scheme} {credentials.credentials}"
        return authenticate(runtime.verifier, authorization, scopes)

    return Depends(caller)
