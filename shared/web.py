"""HTTP plumbing every service's routes use: the app type, its dependencies, the errors a route declares."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, Query, Request, Security

from shared import auth
from shared.auth import Principal, current_principal, require_any
from shared.errors import DomainError
from shared.openapi import PROBLEM_RESPONSE as PROBLEM_RESPONSE  # composition's default; replaced per operation
from shared.openapi import Access, declared, mark, refine
from shared.runtime import Runtime
from shared.uow import UnitOfWork

R = TypeVar("R")


class ServiceApp(FastAPI):
    """A service's FastAPI app. Its runtime (and the service's own resources) exist while its
    lifespan runs; routes reach them through the dependencies below, typed."""

    started: Runtime[Any] | None = None  # set and cleared by the lifespan
    resources: object = None  # the service's own (a limiter, a client), built with the runtime

    def openapi(self) -> dict[str, Any]:
        """FastAPI's document with each operation's problems, scopes and open-ness made true (refine)."""
        if self.openapi_schema is None:
            self.openapi_schema = refine(super().openapi(), self.routes, database=get_uow)
        return self.openapi_schema

    @property
    def runtime(self) -> Runtime[Any]:
        if self.started is None:
            raise RuntimeError("the service has not started (its lifespan is not running)")
        return self.started


def service_app(app: Any) -> ServiceApp:
    if not isinstance(app, ServiceApp):
        raise TypeError(f"not a service app: {type(app).__name__}")
    return app


def get_runtime(request: Request) -> Runtime[Any]:
    return service_app(request.app).runtime


def resources(kind: type[R]) -> Callable[[Request], R]:
    """A dependency giving the service's own resources (built by its composition root) as `kind`."""

    def get(request: Request) -> R:
        found = service_app(request.app).resources
        if not isinstance(found, kind):
            raise TypeError(f"this app's resources are a {type(found).__name__}, not a {kind.__name__}")
        return found

    return get


async def get_uow(request: Request) -> AsyncIterator[UnitOfWork]:
    async with get_runtime(request).uow() as uow:
        yield uow


RuntimeDep = Annotated[Runtime[Any], Depends(get_runtime)]
UoW = Annotated[UnitOfWork, Depends(get_uow)]
# The `region` query parameter of list and statistics routes: an administrative-code prefix.
RegionPrefix = Annotated[
    str | None, Query(pattern=r"^([0-9]{2}|[0-9]{4}|[0-9]{6})$", description="e.g. 33, 3305, 330502")
]


def authorized(*scopes: str) -> Any:
    """`principal: Annotated[Principal, authorized("reports:read")]` on every protected route."""
    return Security(current_principal, scopes=list(scopes))


# --- what a route declares, for its OpenAPI document (shared/openapi.py) --------------------------------


def authorized_any(*scopes: str) -> Any:
    """`principal: Annotated[Principal, authorized_any("a", "b")]` on a route open to several roles:
    a valid bearer token holding at least one of `scopes` (403 naming them otherwise)."""

    async def one_of(principal: Annotated[Principal, Security(current_principal)]) -> Principal:
        require_any(principal, *scopes)
        return principal

    return Depends(mark(one_of, Access(scopes, any_of=True)))


def officer_or_service(*scopes: str, services: Sequence[str]) -> Any:
    """`shared.auth.officer_or_service`, documented: officers need `scopes`, the named services call
    with their own signed credential."""
    caller = auth.officer_or_service(*scopes, services=services).dependency
    return Security(mark(caller, Access(scopes, services=tuple(services))), scopes=list(scopes))


def problems(*errors: type[DomainError], examples: Mapping[int, Any] | None = None) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route that can raise `errors` (each documented with its code), beyond
    what every operation of its kind can answer (401/403 with a token, 422, 400/413 with a body,
    503 with a unit of work), which the document adds itself. `examples` gives a body per status."""
    return declared(*errors, examples=examples)
