"""The one synchronous call in the suite: the reporter's identity from intake, over HTTP.

Intake audits every release; this side asks only for a final malicious verdict and names the
case in the reason. Failures are sorted so the consumer does the right thing with the event:
intake away, overloaded or refusing our credential -> `IntakeUnavailable` (a ConnectionError:
retried until it passes, never dead-lettered); intake does not know the report -> `ReportUnknown`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from types import TracebackType

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from shared.auth import mint_token

log = logging.getLogger("zhengming.credit_blacklist.identity")
SERVICE_SUBJECT = "svc-credit-blacklist"
IDENTITY_SCOPE = "reports:identity"


class IntakeUnavailable(ConnectionError):
    """Intake could not answer now; the event waits and is retried."""


class ReportUnknown(LookupError):
    """Intake has no such report: the event can never be applied."""


class ReporterIdentity(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    report_id: str
    anonymous: bool
    name: str | None = None
    id_number: str | None = None
    phone: str | None = None
    address: str | None = None


class ServiceToken:
    """The bearer credential for intake: read from a file (production, rotated by the platform),
    or minted with the development signing key and re-minted well before it expires."""

    def __init__(
        self, *, token_file: Path | None, private_key_path: Path, issuer: str, audience: str, ttl_s: int = 900
    ) -> None:
        self._token_file = token_file
        self._private_key_path = private_key_path
        self._issuer, self._audience, self._ttl_s = issuer, audience, ttl_s
        self._minted: str | None = None
        self._renew_at = 0.0

    def bearer(self) -> str:
        if self._token_file is not None:
            # Read each time: a rotated secret takes effect without a restart (the call is rare).
            return self._token_file.read_text().strip()
        if self._minted is None or time.monotonic() >= self._renew_at:
            self._minted = mint_token(
                self._private_key_path.read_bytes(), subject=SERVICE_SUBJECT, scopes=[IDENTITY_SCOPE], region="",
                org_level="central", ttl_s=self._ttl_s, issuer=self._issuer, audience=self._audience,
            )
            self._renew_at = time.monotonic() + self._ttl_s * 0.5
        return self._minted

    def forget(self) -> None:
        """Drop a minted token intake refused, so the next call mints a fresh one."""
        self._minted = None


class IntakeClient:
    """`async with client:` holds one connection pool for the life of the app."""

    def __init__(
        self,
        *,
        base_url: str,
        token: ServiceToken,
        timeout_s: float = 5.0,
        attempts: int = 3,
        backoff_s: float = 0.2,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._base_url = base_url
        self._token = token
        self._timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 2.0))
        self._attempts = attempts
        self._backoff_s = backoff_s
        self._transport = transport
        self._http: httpx.AsyncClient | None = None

    async def __aenter__(self) -> IntakeClient:
        self._http = httpx.AsyncClient(base_url=self._base_url, timeout=self._timeout, transport=self._transport)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def reporter_identity(self, *, report_id: str, case_id: str) -> ReporterIdentity:
        """The reporter of `report_id`, released by intake for the listing decided in `case_id`."""
        if self._http is None:
            raise IntakeUnavailable("the intake client is not open")
        reason = f"credit blacklist listing for case {case_id}, report {report_id}: final malicious verdict"
        problem = "no attempt made"
        for attempt in range(1, self._attempts + 1):
            if attempt > 1:
                await asyncio.sleep(self._backoff_s * 2 ** (attempt - 2))
            try:
                response = await self._http.get(
                    f"/v1/reports/{report_id}/reporter", params={"reason": reason},
                    headers={"Authorization": f"Bearer {self._token.bearer()}"},
                )
            except httpx.TransportError as exc:  # refused, reset, timed out
                problem = f"{type(exc).__name__}"
                continue
            if response.status_code == 200:
                try:
                    return ReporterIdentity.model_validate_json(response.content)
                except ValidationError as exc:
                    raise RuntimeError(f"intake answered an identity this service cannot read: {exc}") from exc
            if response.status_code == 404:
                raise ReportUnknown(f"intake has no report {report_id}")
            if response.status_code in (401, 403):
                # Our credential, not the event, is at fault: mint afresh, and keep the event waiting
                # until an operator fixes the token.
                self._token.forget()
                problem = f"intake refused the service token ({response.status_code})"
                continue
            if response.status_code in (408, 429) or response.status_code >= 500:
                problem = f"intake answered {response.status_code}"
                continue
            raise RuntimeError(f"intake refused the identity request: {response.status_code} {response.text[:300]}")
        log.warning("intake unavailable for identity", extra={"attempts": self._attempts, "error": problem})
        raise IntakeUnavailable(f"intake unavailable after {self._attempts} attempt(s): {problem}")
