"""The baseline intake is measured against: validate the same body, one raw asyncpg INSERT, 201.

No encryption, no outbox, no duplicate detection, no idempotency, no audit: the least a service
can do and still store a report durably.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator

import asyncpg
from fastapi import FastAPI, Request

from services.intake.schemas import ReportIn

DSN = os.environ.get("BASELINE_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.pool = await asyncpg.create_pool(DSN, min_size=4, max_size=10)
    async with app.state.pool.acquire() as conn:
        await conn.execute("CREATE TABLE IF NOT EXISTS baseline_reports (id uuid PRIMARY KEY, body jsonb NOT NULL, "
                           "received_at timestamptz NOT NULL DEFAULT now())")
    yield
    await app.state.pool.close()


app = FastAPI(lifespan=lifespan)


@app.post("/v1/reports", status_code=201)
async def submit(body: ReportIn, request: Request) -> dict[str, str]:
    report_id = uuid.uuid4()
    async with request.app.state.pool.acquire() as conn:
        await conn.execute("INSERT INTO baseline_reports (id, body) VALUES ($1, $2)", report_id,
                           body.model_dump_json())
    return {"id": str(report_id), "status": "received"}
