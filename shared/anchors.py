"""Audit anchors: each service publishes the head of its audit chain, every other service keeps it,
and a service checking its own chain asks the others what they kept (shared/audit.py says why)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

import httpx
from pydantic import BaseModel, ValidationError
from sqlalchemy import select

from shared import audit
from shared.db import utcnow
from shared.events import AuditAnchoredV1, ReceivedEvent
from shared.models import AuditAnchor
from shared.uow import UnitOfWork

if TYPE_CHECKING:
    from shared.runtime import Runtime

log = logging.getLogger("zhengming.audit")
ANCHORS_TOPIC = AuditAnchoredV1.topic
ANCHOR_SUBSCRIBER_SUFFIX = ".audit"  # its own consumer group beside the service's other consumers


async def keep_anchor(event: ReceivedEvent, uow: UnitOfWork) -> None:
    """Keep an anchor another service (or this one) published; the inbox makes a repeat a no-op."""
    assert isinstance(event.data, AuditAnchoredV1)
    data = event.data
    uow.session.add(AuditAnchor(event_id=event.id, service=data.service, seq=data.seq, head_mac=data.head_mac,
                                anchored_at=data.anchored_at, received_at=utcnow()))
    await uow.session.flush()


async def anchors_of(uow: UnitOfWork, service: str, *, after_seq: int, limit: int) -> list[tuple[int, str]]:
    """The heads of `service`'s chain this service holds, from `after_seq` on: each (seq, MAC) once."""
    rows = await uow.session.execute(
        select(AuditAnchor.seq, AuditAnchor.head_mac).where(AuditAnchor.service == service, AuditAnchor.seq > after_seq)
        .distinct().order_by(AuditAnchor.seq, AuditAnchor.head_mac).limit(limit))
    return [(int(seq), str(mac)) for seq, mac in rows]


async def publish_head(runtime: Runtime, last_anchored: int) -> int:
    """Publish the chain's head if it moved past `last_anchored`; the sequence number now anchored."""
    async with runtime.uow() as uow:
        head = await audit.head(uow.session)
        if head is None or head[0] <= last_anchored:
            return last_anchored
        uow.raise_event(AuditAnchoredV1(service=runtime.signer.service, seq=head[0], head_mac=head[1],
                                        anchored_at=utcnow()), key=runtime.signer.service)
        await uow.commit()
        return head[0]


async def run_anchorer(runtime: Runtime) -> None:
    """Every `audit_anchor_interval_s`, publish the head if it moved. Several replicas may do it at
    once: an anchor is a fact, and the same head anchored twice changes nothing."""
    last = 0
    while not runtime.stop.is_set():
        try:
            last = await publish_head(runtime, last)
        except Exception as exc:  # the database may be away; the next round tries again
            log.warning("audit anchor not published", extra={"error": type(exc).__name__})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(runtime.stop.wait(), timeout=runtime.settings.audit_anchor_interval_s)


class HeldAnchor(BaseModel):
    seq: int
    head_mac: str


class HeldAnchorPage(BaseModel):
    service: str
    items: list[HeldAnchor]
    next_after_seq: int | None


ANCHOR_PAGE = 1000
ANCHOR_PAGES_AT_MOST = 10_000  # ten million anchors: thirty years of one every five minutes


async def anchors_held_elsewhere(runtime: Runtime) -> tuple[list[audit.Anchor], dict[str, str]]:
    """What each other service holds as the newest head of this service's chain, and how asking went."""
    me = runtime.signer.service
    anchors: list[audit.Anchor] = []
    sources: dict[str, str] = {}

    async def ask(peer: str, url: str) -> None:
        held: list[audit.Anchor] = []
        after: int | None = 0
        try:
            async with httpx.AsyncClient(base_url=url, timeout=5.0, transport=runtime.peer_transports.get(peer)) as c:
                for _ in range(ANCHOR_PAGES_AT_MOST):
                    if after is None:
                        break
                    r = await c.get(f"/v1/audit/anchors/{me}", params={"after_seq": after, "limit": ANCHOR_PAGE},
                                    headers={"Authorization": f"Bearer {runtime.signer.credential(audience=peer)}"})
                    if r.status_code != 200:
                        sources[peer] = f"answered {r.status_code}"
                        return
                    page = HeldAnchorPage.model_validate_json(r.content)
                    held.extend(audit.Anchor(held_by=peer, seq=a.seq, head_mac=a.head_mac) for a in page.items)
                    after = page.next_after_seq
        except httpx.HTTPError as exc:
            sources[peer] = f"unreachable ({type(exc).__name__})"
            return
        except ValidationError:
            sources[peer] = "answered something that is not a page of anchors"
            return
        anchors.extend(held)
        sources[peer] = "ok" if held else "holds no anchor yet"

    await asyncio.gather(*(ask(peer, url) for peer, url in runtime.settings.audit_peer_urls.items()))
    return anchors, sources
