"""The one synchronous call in the suite: the reporter's identity from intake, over HTTP.

The call carries a short-lived credential this service signs with its own key (never a token
minted with the officers' signing key) and names the verdict the listing is for; intake releases
the name and ID number only for the final, approved malicious verdict it recorded itself from a
verified event, and audits it. Failures are sorted so the consumer does the right thing with the
event: intake away, overloaded, refusing our credential, or not having applied the verdict yet ->
`IntakeUnavailable` (a ConnectionError: retried until it passes, never dead-lettered); intake does
not know the report -> `ReportUnknown`; intake holds a newer verdict -> `VerdictSuperseded`.

Each call carries the context it is made in -- the verdict being applied: its span as `traceparent`
and `tracestate`, its report's origin request as `X-Request-ID` -- so intake's lines for the release
join the report's trace. Intake reads them as it reads any client's: they name lines, nothing more.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from types import TracebackType

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from shared.tracing import outgoing_headers

log = logging.getLogger("zhengming.credit_blacklist.identity")


class IntakeUnavailable(ConnectionError):
    """Intake could not answer now; the event waits and is retried."""


class ReportUnknown(LookupError):
    """Intake has no such report: the event can never be applied."""


class VerdictSuperseded(LookupError):
    """Intake already holds a newer verdict for the report: this one lists nobody."""


class IdentityRefused(RuntimeError):
    """Intake refuses to release the reporter for this verdict (not the approved malicious one it recorded)."""


class ReporterIdentity(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    report_id: str
    anonymous: bool
    name: str | None = None
    id_number: str | None = None
    phone: str | None = None
    address: str | None = None


class IntakeClient:
    """`async with client:` holds one connection pool for the life of the app."""

    def __init__(
        self,
        *,
        base_url: str,
        credential: Callable[[], str],
        timeout_s: float = 5.0,
        attempts: int = 3,
        backoff_s: float = 0.2,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._base_url = base_url
        self._credential = credential
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

    async def reporter_identity(self, *, report_id: str, verdict_id: str, version: int) -> ReporterIdentity:
        """The reporter of `report_id`, released by intake for the listing the verdict decides."""
        if self._http is None:
            raise IntakeUnavailable("the intake client is not open")
        problem = "no attempt made"
        # The caller's context, read once: every attempt is part of it (and an in-process intake, in
        # tests, leaves the request id it answered with unset behind it).
        carried = outgoing_headers()
        for attempt in range(1, self._attempts + 1):
            if attempt > 1:
                await asyncio.sleep(self._backoff_s * 2 ** (attempt - 2))
            try:
                response = await self._http.get(
                    f"/v1/reports/{report_id}/reporter", params={"verdict_id": verdict_id, "version": version},
                    headers={**carried, "Authorization": f"Bearer {self._credential()}"},
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
            if response.status_code == 401:
                # Our credential, not the event, is at fault (a key missing from intake's trust file):
                # the event waits until an operator fixes it.
                problem = "intake refused this service's credential (401)"
                continue
            rule = _rule(response)
            if response.status_code == 409 and rule == "verdict_superseded":
                raise VerdictSuperseded(f"intake holds a newer verdict than version {version} of report {report_id}")
            if response.status_code == 409:
                # Intake applies the same verdict event on its own; it has not yet. Wait for it.
                problem = f"intake has not recorded the verdict yet ({rule})"
                continue
            if response.status_code == 403:
                raise IdentityRefused(f"intake refused the reporter for verdict {verdict_id}: {rule}")
            if response.status_code in (408, 429) or response.status_code >= 500:
                problem = f"intake answered {response.status_code}"
                continue
            raise RuntimeError(f"intake refused the identity request: {response.status_code} {response.text[:300]}")
        log.warning("intake unavailable for identity", extra={"attempts": self._attempts, "error": problem})
        raise IntakeUnavailable(f"intake unavailable after {self._attempts} attempt(s): {problem}")


def _rule(response: httpx.Response) -> str:
    try:
        return str(response.json().get("rule", "unknown"))
    except ValueError:
        return "unknown"
