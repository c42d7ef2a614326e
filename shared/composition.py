"""A service's composition root: one typed declaration of what the service is, and the app built
from it (Cosmic Python's bootstrap). Every service is wired the same way; services/registry.py
lists the four."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import httpx
from fastapi import APIRouter, FastAPI
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from shared import asyncapi, audit_api, clock, health
from shared.docs import install_offline_docs
from shared.fastroute import FastOperation, FastRoute
from shared.middleware import RequestContextMiddleware
from shared.observability import Metrics
from shared.problems import install_problem_handlers
from shared.runtime import Runtime, build_runtime
from shared.settings import ServiceSettings
from shared.web import PROBLEM_RESPONSE, ServiceApp
from shared.workers import ConsumerSpec, Sweeper, start_workers, stop_workers

S = TypeVar("S", bound=ServiceSettings)
R = TypeVar("R")
MAX_BODY_BYTES = 1_000_000
EVENT_SIGNATURES = (
    "**Events.** Every event this service publishes is signed with its own Ed25519 key (CloudEvents extension "
    "attributes `signature` and `signaturekeyid`, over the attributes id, source, type, subject, time, "
    "datacontenttype and the exact data bytes), and it applies only events signed by the service the catalog "
    "names as their producer; anything else is dead-lettered with the reason `signature_invalid`, "
    "`untrusted_source` or `type_not_allowed`. The README's \"Signed events\" section says how to verify one.")


def no_resources(runtime: Runtime[Any]) -> contextlib.AbstractAsyncContextManager[Any]:
    return contextlib.nullcontext()


def made_by(make: Callable[[Runtime[S]], R]) -> Callable[[Runtime[S]], contextlib.AbstractAsyncContextManager[R]]:
    """Resources that need no closing (rules from settings, say), made by `make` from the runtime."""
    return lambda runtime: contextlib.nullcontext(make(runtime))


def no_consumers(runtime: Runtime[Any], resources: Any) -> Sequence[ConsumerSpec]:
    return ()


def no_sweepers(runtime: Runtime[Any], resources: Any) -> Sequence[Sweeper]:
    return ()


def no_larger_bodies(settings: Any) -> Sequence[tuple[str, int]]:
    return ()


@dataclass(frozen=True)
class ServiceDefinition(Generic[S, R]):
    """What a service is: its settings, its HTTP operations, the events it consumes, its own
    background loops and resources. Everything else (database, keys, calendar, metrics, relay,
    audit anchors, health) every service gets from the runtime."""

    name: str
    settings_class: type[S]
    title: str
    description: str
    migrations_dir: Path
    routers: Sequence[APIRouter]
    openapi_tags: Sequence[dict[str, Any]] = ()
    fast_operations: Sequence[FastOperation[Any]] = ()  # served before the routers, documented on them
    # Built once the runtime exists and closed when it stops: what the routes and handlers need
    # beyond the runtime (rules from settings, rate limiters, a client of another service).
    resources: Callable[[Runtime[S]], contextlib.AbstractAsyncContextManager[R]] = field(default=no_resources)
    consumers: Callable[[Runtime[S], R], Sequence[ConsumerSpec]] = field(default=no_consumers)
    sweepers: Callable[[Runtime[S], R], Sequence[Sweeper]] = field(default=no_sweepers)
    # Paths (regular expressions, matched whole) whose bodies may pass MAX_BODY_BYTES, and their cap
    # from the settings: routes that read their body as a stream and bound it themselves (uploads).
    larger_bodies: Callable[[S], Sequence[tuple[str, int]]] = field(default=no_larger_bodies)

    def settings(self, **overrides: Any) -> S:
        return self.settings_class(**overrides)

    def create_app(self, settings: S | None = None, *,
                   peer_transports: dict[str, httpx.AsyncBaseTransport] | None = None) -> ServiceApp:
        """The service's app; its lifespan builds the runtime and resources and runs the workers.
        `peer_transports` routes calls to another service by name in-process (tests)."""
        settings = settings or self.settings()
        definition = self

        @contextlib.asynccontextmanager
        async def lifespan(app: FastAPI) -> AsyncIterator[None]:
            clock.use(settings.data_dir if settings.dev_clock else None)
            runtime = build_runtime(settings, definition.migrations_dir, metrics, peer_transports)
            async with definition.resources(runtime) as own:
                service.started, service.resources = runtime, own
                start_workers(runtime, definition.consumers(runtime, own), definition.sweepers(runtime, own))
                try:
                    yield
                finally:
                    await stop_workers(runtime)
                    service.started = service.resources = None
            await runtime.engine.dispose()
            clock.use(None)

        service = ServiceApp(
            title=f"Zhengming {self.name}",
            description=f"{self.description}\n\n{EVENT_SIGNATURES}",
            version="0.1.0",
            lifespan=lifespan,
            openapi_tags=[*self.openapi_tags, {"name": "operations", "description": "Health, metrics, audit"}],
            responses={401: PROBLEM_RESPONSE, 403: PROBLEM_RESPONSE, 422: PROBLEM_RESPONSE},
            docs_url=None, redoc_url=None,  # served by install_offline_docs, from this host
        )
        install_offline_docs(service)
        install_problem_handlers(service, default_language=settings.default_language)
        # The middleware needs the metrics before lifespan runs; the runtime adopts the same object.
        metrics = Metrics(settings.service_name)
        service.add_middleware(RequestContextMiddleware, metrics=metrics,  # type: ignore[arg-type]
                               max_body_bytes=MAX_BODY_BYTES,
                               larger_bodies=[(re.compile(path), cap) for path, cap in self.larger_bodies(settings)],
                               default_language=settings.default_language)
        if settings.trusted_proxies.strip():
            # Outermost: the client every other layer sees is the one the trusted proxy names (the
            # rightmost address in X-Forwarded-For not itself a trusted proxy); from anyone else the header
            # is ignored. uvicorn's own copy of this middleware is turned off (services/cli.py), since by
            # default it believes any process on the same machine.
            service.add_middleware(ProxyHeadersMiddleware,  # type: ignore[arg-type]
                                   trusted_hosts=[h.strip() for h in settings.trusted_proxies.split(",") if h.strip()])
        service.include_router(health.router)
        service.include_router(audit_api.router)
        service.include_router(asyncapi.router_for(self.name))  # its event contract, in every role
        if settings.role in ("all", "api"):  # consumer and relay processes serve only health, metrics, audit
            service.router.routes[0:0] = [FastRoute(operation) for operation in self.fast_operations]
            for router in self.routers:
                service.include_router(router)
        return service
