"""Health and metrics, the same on every service: liveness, readiness, Prometheus."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, Field
from sqlalchemy import text

from shared.broker import reachable
from shared.migrate import current_revision, head_revision
from shared.web import RuntimeDep

router = APIRouter(tags=["operations"])


@router.get("/livez", summary="Liveness: the process answers", operation_id="get_liveness")
async def livez() -> dict[str, str]:
    return {"status": "alive"}


@router.head("/livez", summary="Liveness, headers only: the process answers", operation_id="head_liveness",
             response_class=Response)
async def livez_head() -> Response:
    """What GET answers, without the body: for probes that send HEAD."""
    return JSONResponse({"status": "alive"})


class Readiness(BaseModel):
    status: str = Field(description="ready or not_ready")
    checks: dict[str, str] = Field(description="database, migrations, broker, workers: ok or what is wrong")


@router.get(
    "/readyz", summary="Readiness: database reachable, migrations at head, broker reachable, workers running",
    response_model=Readiness, responses={503: {"model": Readiness, "description": "not ready: see checks"}},
    operation_id="get_readiness",
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


@router.get("/metrics", summary="Prometheus metrics", response_class=Response, operation_id="get_metrics")
async def metrics(runtime: RuntimeDep) -> Response:
    return Response(await runtime.metrics.exposition(runtime.engine), media_type=CONTENT_TYPE_LATEST)
