"""The parts every service app shares: runtime, lifespan, dependencies, health and metrics."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypeVar

import httpx
from fastapi import APIRouter, Depends, FastAPI, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.exceptions import HTTPException as StarletteHTTPException
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from shared import anchors
from shared.audit import AuditKeys, ensure_development_audit_keys
from shared.auth import Principal, TokenVerifier, authenticate, current_principal, ensure_development_keys
from shared.broker import KafkaSecurity, reachable
from shared.calendar import WorkingCalendar
from shared.consumer import BatchHandler, EventConsumer, Handler
from shared.crypto import FieldCipher, ensure_development_field_keys
from shared.db import create_engine, session_factory
from shared.errors import DomainError, install_problem_handlers
from shared.events import PRODUCERS, SIGNING_SERVICES
from shared.migrate import current_revision, head_revision
from shared.observability import ASGIApp, Metrics, Receive, RequestContextMiddleware, Scope, Send
from shared.relay import OutboxRelay
from shared.settings import ServiceSettings
from shared.signing import EventTrust, ServiceKey, ensure_development_service_keys
from shared.uow import UnitOfWork

log = logging.getLogger("zhengming.app")
EVENT_SIGNATURES = (
    "**Events.** Every event this service publishes is signed with its own Ed25519 key (CloudEvents extension "
    "attributes `signature` and `signaturekeyid`, over the attributes id, source, type, subject, time, "
    "datacontenttype and the exact data bytes), and it applies only events signed by the service the catalog "
    "names as their producer; anything else is dead-lettered with the reason `signature_invalid`, "
    "`untrusted_source` or `type_not_allowed`. The README's \"Signed events\" section says how to verify one.")
M = TypeVar("M", bound=BaseModel)
MAX_BODY_BYTES = 1_000_000


@dataclass(frozen=True)
class ConsumerSpec:
    """A topic this service consumes and the handler applied to each event."""

    topic: str
    handler: Handler
    handle_many: BatchHandler | None = None  # the same for several events in one unit of work
    subscriber_suffix: str = ""  # a consumer group of its own: `<service><suffix>`


# Every service keeps the audit anchors the others publish (shared/anchors.py).
ANCHOR_CONSUMER = ConsumerSpec(topic=anchors.ANCHORS_TOPIC, handler=anchors.keep_anchor,
                               subscriber_suffix=anchors.ANCHOR_SUBSCRIBER_SUFFIX)


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
    signer: ServiceKey  # this service's own key: its events and its calls to other services
    trust: EventTrust  # whose signed events this service accepts, and whose service credentials
    kafka_security: KafkaSecurity
    audit_keys: AuditKeys  # the MAC keys of this service's audit chain
    # How to reach another service by name when not over the network (tests put in-process apps here).
    peer_transports: dict[str, httpx.AsyncBaseTransport] = field(default_factory=dict)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    outbox_written: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    consumers: list[EventConsumer] = field(default_factory=list)

    @property
    def source(self) -> str:
        return self.signer.source

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.sessions, signer=self.signer, audit_keys=self.audit_keys,
                          on_events_committed=self.outbox_written.set)


def build_runtime(settings: ServiceSettings, migrations_dir: Path, metrics: Metrics | None = None) -> Runtime:
    ensure_development_keys(settings)
    ensure_development_field_keys(settings.field_keys_path, allowed=settings.development_keys_allowed)
    if settings.event_trust_file is None:
        ensure_development_service_keys(settings.keys_dir, SIGNING_SERVICES,
                                        allowed=settings.development_keys_allowed)
    if settings.audit_keys_file is None:
        ensure_development_audit_keys(settings.audit_keys_path, allowed=settings.development_keys_allowed)
    signer = ServiceKey.from_file(settings.service_name, settings.signing_key_path)
    trust = EventTrust.from_file(settings.event_trust_path, PRODUCERS)
    if trust.key(signer.key_id) is None:
        # Its own events would be refused by every consumer, which is better found at start-up.
        raise RuntimeError(f"{settings.service_name}'s signing key {signer.key_id} is not in the trust file "
                           f"{settings.event_trust_path}")
    engine = create_engine(settings.database_url)
    return Runtime(
        settings=settings,
        engine=engine,
        sessions=session_factory(engine),
        metrics=metrics or Metrics(settings.service_name),
        verifier=TokenVerifier(
            settings.public_key_path.read_bytes(), issuer=settings.jwt_issuer, audience=settings.jwt_audience,
            max_lifetime_s=settings.jwt_max_lifetime_hours * 3600,
        ),
        cipher=FieldCipher.from_file(settings.field_keys_path),
        calendar=WorkingCalendar.from_settings(settings.calendar_overrides_file),
        migrations_dir=migrations_dir,
        signer=signer,
        trust=trust,
        kafka_security=KafkaSecurity.from_settings(settings),
        audit_keys=AuditKeys.from_file(settings.audit_keys_path),
    )


def start_workers(runtime: Runtime, consumers: Sequence[ConsumerSpec]) -> None:
    s = runtime.settings
    if s.run_relay and s.role in ("all", "relay"):
        relay = OutboxRelay(
            runtime.engine, bootstrap=s.kafka_bootstrap, service=s.service_name, metrics=runtime.metrics,
            partitions=s.kafka_partitions, batch_size=s.relay_batch_size, poll_interval_s=s.relay_poll_interval_s,
            wake=runtime.outbox_written, security=runtime.kafka_security,
        )
        runtime.tasks.append(asyncio.create_task(relay.run(runtime.stop), name=f"{s.service_name}-relay"))
    if s.run_consumer and s.role in ("all", "consumer"):
        runtime.tasks.append(asyncio.create_task(anchors.run_anchorer(runtime), name=f"{s.service_name}-anchorer"))
        for spec in [*consumers, ANCHOR_CONSUMER]:
            consumer = EventConsumer(
                subscriber=f"{s.service_name}{spec.subscriber_suffix}", topic=spec.topic, handler=spec.handler,
                uow_factory=runtime.uow,
                bootstrap=s.kafka_bootstrap, trust=runtime.trust, security=runtime.kafka_security,
                metrics=runtime.metrics, partitions=s.kafka_partitions,
                max_attempts=s.consumer_max_attempts, backoff_s=s.consumer_backoff_s,
                backoff_max_s=s.consumer_backoff_max_s, session_timeout_ms=s.consumer_session_timeout_ms,
                handle_many=spec.handle_many,
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
    direct_routes: Mapping[tuple[str, str], ASGIApp] | None = None,
) -> FastAPI:
    """A FastAPI app with problem+json errors, health, metrics, audit verification and workers.

    `direct_routes` maps (method, path) to a plain ASGI handler that answers those requests without
    FastAPI's routing, dependency solving and response validation (see `direct_route`); the same
    operation must also be declared on a router, which documents it in OpenAPI."""

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
        description=f"{description}\n\n{EVENT_SIGNATURES}",
        version="0.1.0",
        lifespan=lifespan,
        openapi_tags=[*(openapi_tags or []), {"name": "operations", "description": "Health, metrics, audit"}],
        responses={401: PROBLEM_RESPONSE, 403: PROBLEM_RESPONSE, 422: PROBLEM_RESPONSE},
    )
    install_problem_handlers(app)
    # The middleware needs the metrics before lifespan runs; the runtime adopts the same object.
    metrics = Metrics(settings.service_name)
    serves_api = settings.role in ("all", "api")  # consumer and relay processes serve only health and metrics
    direct = {key: direct_route(app, handler) for key, handler in (direct_routes or {}).items()} if serves_api else {}
    app.add_middleware(RequestContextMiddleware, metrics=metrics, max_body_bytes=MAX_BODY_BYTES,  # type: ignore[arg-type]
                       direct_routes=direct)
    if settings.trusted_proxies.strip():
        # Outermost: the client every other layer sees is the one the trusted proxy names (the
        # rightmost address in X-Forwarded-For not itself a trusted proxy); from anyone else the header
        # is ignored. uvicorn's own copy of this middleware is turned off (services/cli.py), since by
        # default it believes any process on the same machine.
        app.add_middleware(ProxyHeadersMiddleware,  # type: ignore[arg-type]
                           trusted_hosts=[h.strip() for h in settings.trusted_proxies.split(",") if h.strip()])
    app.state.metrics = metrics
    app.state.direct_routes = direct  # the middleware reads this very dict (a test may empty it)
    from shared.audit_api import router as audit_router  # it imports this module's dependencies

    app.include_router(operations_router)
    app.include_router(audit_router)
    if serves_api:
        for router in routers:
            app.include_router(router)
    return app


# --- direct routes: hot paths answered in plain ASGI -----------------------------------------------


def direct_route(app: FastAPI, handler: ASGIApp) -> ASGIApp:
    """`handler` with the app's problem+json rendering of the errors FastAPI would render: a
    DomainError, a RequestValidationError (422 naming the field), an HTTPException, or the database
    away (503). Anything else propagates to the app's 500 handler, as from a FastAPI route."""

    async def answer(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await handler(scope, receive, send)
        except (DomainError, RequestValidationError, StarletteHTTPException, SQLAlchemyError, ConnectionError) as exc:
            render = next(app.exception_handlers[cls] for cls in type(exc).__mro__ if cls in app.exception_handlers)
            response = render(Request(scope, receive), exc)
            if inspect.isawaitable(response):
                response = await response
            await response(scope, receive, send)

    return answer


async def read_body(receive: Receive) -> bytes:
    """The whole request body (already capped in size by RequestContextMiddleware)."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise StarletteHTTPException(400, "the client went away before sending the whole body")
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def header(scope: Scope, name: bytes) -> bytes | None:
    """A request header by its lower-case name (the first, if repeated)."""
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


MISSING = object()  # no body at all: refused by `validated_body`, after the caller is authenticated


def json_document(scope: Scope, body: bytes) -> Any:
    """The body as FastAPI reads a JSON body: parsed when the content type is JSON, the raw bytes
    when it is another or absent (then refused by validation; FastAPI's strict content type),
    `MISSING` when empty, 422 `json_invalid` at the position of a syntax error."""
    if not body:
        return MISSING
    if not is_json(scope):
        return body
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise RequestValidationError([{"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error",
                                       "input": {}, "ctx": {"error": exc.msg}}]) from exc
    except (ValueError, RecursionError) as exc:  # not UTF-8, or nested deeper than the parser goes
        raise StarletteHTTPException(400, "There was an error parsing the body") from exc


def is_json(scope: Scope) -> bool:
    """Whether FastAPI reads this request's body as JSON: by its content type, strictly."""
    content_type = header(scope, b"content-type")
    if content_type is None:
        return False
    content_type = content_type.split(b";", 1)[0].strip().lower()
    return content_type == b"application/json" or (
        content_type.startswith(b"application/") and content_type.endswith(b"+json"))


def valid_json_body(model: type[M], scope: Scope, body: bytes) -> M | None:
    """The body as `model` straight from its JSON bytes (Pydantic's own parser, about half the
    CPU of parsing and then validating), when it is JSON and valid; None when it is not, and the
    caller takes the `json_document` and `validated_body` path, which names what is wrong exactly
    as FastAPI does."""
    if not body or not is_json(scope):
        return None
    try:
        return model.model_validate_json(body)
    except ValidationError:
        return None


def validated_body(model: type[M], document: Any) -> M:
    """`document` as `model`, or the RequestValidationError FastAPI raises (fields under `body`)."""
    if document is MISSING:
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}])
    try:
        return model.model_validate(document, from_attributes=True)  # as FastAPI validates a body
    except ValidationError as exc:
        raise RequestValidationError(
            [{**err, "loc": ("body", *err["loc"])} for err in exc.errors(include_url=False)]) from exc


def bearer_principal(scope: Scope, *scopes: str) -> Principal:
    """The caller of a direct route, found exactly as `authorized(*scopes)` finds it."""
    value = header(scope, b"authorization")
    return authenticate(scope["app"].state.runtime.verifier, None if value is None else value.decode("latin-1"),
                        scopes)


async def send_json(send: Send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


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
