"""HTTP plumbing every service's routes use: the app type, its dependencies, problem details."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, Query, Request, Security
from pydantic import BaseModel

from shared.auth import current_principal
from shared.runtime import Runtime
from shared.uow import UnitOfWork

R = TypeVar("R")


class ServiceApp(FastAPI):
    """A service's FastAPI app. Its runtime (and the service's own resources) exist while its
    lifespan runs; routes reach them through the dependencies below, typed."""

    started: Runtime[Any] | None = None  # set and cleared by the lifespan
    resources: object = None  # the service's own (a limiter, a client), built with the runtime

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
