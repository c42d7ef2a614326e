"""The parts every service app shares: runtime, lifespan, dependencies, health and metrics."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Security
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.audit import verify_chain
from shared.auth import Principal, TokenVerifier, current_principal, ensure_development_keys
from shared.broker import reachable
from shared.calendar import WorkingCalendar
from shared.consumer import EventConsumer, Handler
from shared.crypto import FieldCipher, ensure_development_field_keys
from shared.db import create_engine, session_factory
from shared.errors import install_problem_handlers
from shared.migrate import current_revision, head_revision
from shared.observability import Metrics, RequestContextMiddleware
from shared.relay import OutboxRelay
from shared.settings import ServiceSettings
from shared.uow import UnitOfWork

log = logging.getLogger("zhengming.app")
MAX_BODY_BYTES = 1_000_000


@dataclass(frozen=True)
class ConsumerSpec:
    """A topic this service consumes and the handler applied to each event."""

    topic: str
    handler: Handler


@dataclass
class Runtime:
    """What a running service holds: settings, database, metrics, keys, background workers."""

    settings: ServiceSettings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    metrics: Metrics
    verifier: TokenVerifier
    cipher: FieldCipher
    calendar: WorkingCalendar
    migrations_dir: Path
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    outbox_written: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    consumers: list[EventConsumer] = field(default_factory=list)

    @property
    def source(self) -> str:
        return f"/zhengming/{self.settings.service_name}"

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.sessions, source=self.source, on_events_committed=self.outbox_written.set)


def build_runtime(settings: ServiceSettings, migrations_dir: Path, metrics: Metrics | None = None) -> Runtime:
    ensure_development_keys(settings)
    ensure_development_field_keys(settings.field_keys_path, allowed=settings.development_keys_allowed)
    engine = create_engine(settings.database_url)
    return Runtime(
        settings=settings,
        engine=engine,
        sessions=session_factory(engine),
        metrics=metrics or Metrics(settings.service_name),
        verifier=TokenVerifier(
            settings.public_key_path.read_bytes(), issuer=settings.jwt_issuer, audience=settings.jwt_audience
        ),
        cipher=FieldCipher.from_file(settings.field_keys_path),
        calendar=WorkingCalendar.from_settings(settings.calendar_overrides_file),
        migrations_dir=migrations_dir,
    )


def start_workers(runtime: Runtime, consumers: Sequence[ConsumerSpec]) -> None:
    s = runtime.settings
    if s.run_relay and s.role in ("all", "relay"):
        relay = OutboxRelay(
            runtime.engine, bootstrap=s.kafka_bootstrap, service=s.service_name, metrics=runtime.metrics,
            partitions=s.kafka_partitions, batch_size=s.relay_batch_size, poll_interval_s=s.relay_poll_interval_s,
            wake=runtime.outbox_written,
        )
        runtime.tasks.append(asyncio.create_task(relay.run(runtime.stop), name=f"{s.service_name}-relay"))
    if s.run_consumer and s.role in ("all", "consumer"):
        for spec in consumers:
            consumer = EventConsumer(
                subscriber=s.service_name, topic=spec.topic, handler=spec.handler, uow_factory=runtime.uow,
                bootstrap=s.kafka_bootstrap, metrics=runtime.metrics, partitions=s.kafka_partitions,
                max_attempts=s.consumer_max_attempts, backoff_s=s.consumer_backoff_s,
                backoff_max_s=s.consumer_backoff_max_s, session_timeout_ms=s.consumer_session_timeout_ms,
            )
            runtime.consumers.append(consumer)
            runtime.tasks.append(asyncio.create_task(consumer.run(runtime.stop), name=f"{s.service_name}-consumer"))


async def stop_workers(runtime: Runtime, timeout_s: float = 10.0) -> None:
    runtime.stop.set()
    if runtime.tasks:
        done, pending = await asyncio.wait(runtime.tasks, timeout=timeout_s)
        for task in pending:
            task.cancel()
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                log.error("worker ended with an error", extra={"error": repr(task.exception())})


def create_service_app(
    settings: ServiceSettings,
    *,
    title: str,
    description: str,
    migrations_dir: Path,
    routers: Sequence[APIRouter],
    consumers: Sequence[ConsumerSpec] = (),
    openapi_tags: list[dict[str, Any]] | None = None,
) -> FastAPI:
    """A FastAPI app with problem+json errors, health, metrics, audit verification and workers."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = build_runtime(settings, migrations_dir, app.state.metrics)
        app.state.runtime = runtime
        start_workers(runtime, consumers)
        try:
            yield
        finally:
            await stop_workers(runtime)
            await runtime.engine.dispose()

    app = FastAPI(
        title=title,
        description=description,
        version="0.1.0",
        lifespan=lifespan,
        openapi_tags=[*(openapi_tags or []), {"name": "operations", "description": "Health, metrics, audit"}],
        responses={401: PROBLEM_RESPONSE, 403: PROBLEM_RESPONSE, 422: PROBLEM_RESPONSE},
    )
    install_problem_handlers(app)
    # The middleware needs the metrics before lifespan runs; the runtime adopts the same object.
    metrics = Metrics(settings.service_name)
    app.add_middleware(RequestContextMiddleware, metrics=metrics, max_body_bytes=MAX_BODY_BYTES)  # type: ignore[arg-type]
    app.state.metrics = metrics
    app.include_router(operations_router)
    if settings.role in ("all", "api"):
        # Consumer and relay processes serve only health, readiness and metrics.
        for router in routers:
            app.include_router(router)
    return app


# --- dependencies ------------------------------------------------------------------------------


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_uow(request: Request) -> AsyncIterator[UnitOfWork]:
    async with get_runtime(request).uow() as uow:
        yield uow


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
# The `region` query parameter of list and statistics routes: an administrative-code prefix.
RegionPrefix = Annotated[
    str | None, Query(pattern=r"^([0-9]{2}|[0-9]{4}|[0-9]{6})$", description="e.g. 33, 3305, 330502")
]
UoW = Annotated[UnitOfWork, Depends(get_uow)]


def authorized(*scopes: str) -> Any:
    """`principal: Annotated[Principal, authorized("reports:read")]` on every protected route."""
    return Security(current_principal, scopes=list(scopes))


# --- problem details schema for OpenAPI ---------------------------------------------------------


class FieldProblem(BaseModel):
    field: str
    message: str
    type: str


class ProblemDetails(BaseModel):
    """RFC 9457 problem details; `errors` lists each invalid field on 422."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    code: str
    errors: list[FieldProblem] | None = None


PROBLEM_RESPONSE: dict[str, Any] = {
    "model": ProblemDetails,
    "content": {"application/problem+json": {}},
    "description": "Problem details (RFC 9457)",
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: PROBLEM_RESPONSE for status in statuses}


# --- operations: health, readiness, metrics, audit --------------------------------------------

operations_router = APIRouter(tags=["operations"])


@operations_router.get("/livez", summary="Liveness: the process answers")
async def livez() -> dict[str, str]:
    return {"status": "alive"}


class Readiness(BaseModel):
    status: str = Field(description="ready or not_ready")
    checks: dict[str, str] = Field(description="database, migrations, broker, workers: ok or what is wrong")


@operations_router.get(
    "/readyz", summary="Readiness: database reachable, migrations at head, broker reachable, workers running",
    response_model=Readiness, responses={503: {"model": Readiness, "description": "not ready: see checks"}},
)
async def readyz(runtime: RuntimeDep) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        async with runtime.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
        current = await current_revision(runtime.engine)
        head = head_revision(runtime.migrations_dir)
        checks["migrations"] = "ok" if current == head else f"at {current}, head is {head}"
    except Exception as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}"
        checks.setdefault("migrations", "unknown")
    ok = await asyncio.to_thread(reachable, runtime.settings.kafka_bootstrap)
    checks["broker"] = "ok" if ok else "unreachable"
    stopped = [t.get_name() for t in runtime.tasks if t.done()]
    checks["workers"] = "ok" if not stopped else f"stopped: {', '.join(stopped)}"
    ready = all(v == "ok" for v in checks.values())
    body = {"status": "ready" if ready else "not_ready", "checks": checks}
    return JSONResponse(body, status_code=200 if ready else 503)


@operations_router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    body = generate_latest(get_runtime(request).metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


class AuditChainReport(BaseModel):
    valid: bool
    records_checked: int
    first_broken_seq: int | None = None
    problem: str | None = None


@operations_router.get(
    "/v1/audit/verify", response_model=AuditChainReport, responses=problems(401, 403),
    summary="Walk the audit chain and report the first broken link",
)
async def audit_verify(
    uow: UoW, _principal: Annotated[Principal, authorized("audit:read")]
) -> AuditChainReport:
    report = await verify_chain(uow.session)
    return AuditChainReport(**report.__dict__)
