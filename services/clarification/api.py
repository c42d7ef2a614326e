"""HTTP routes of clarification under /v1 (the domain routes come with its own issue)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1")
