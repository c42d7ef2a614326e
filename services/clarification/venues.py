"""The venue register: the rooms each region holds clarification meetings in, with their name,
address and bookable hours. Meetings are booked only at a registered, active venue of the
officer's jurisdiction, within its hours; the free-slot answer and the .ics carry its name and
address. Services flush; the edge commits."""

from __future__ import annotations

from sqlalchemy import select

from services.clarification import domain, store
from services.clarification.models import Venue
from services.clarification.schemas import VenueIn
from shared.auth import Principal, RegionOutsideJurisdiction
from shared.db import in_region, utcnow
from shared.errors import InvalidRequest, NotFound
from shared.messages import Message
from shared.queries import keyset_page
from shared.uow import UnitOfWork


class VenueNotFound(NotFound):
    code = "venue_not_found"


async def register(*, uow: UnitOfWork, principal: Principal, venue_id: str, body: VenueIn,
                   default_hours: domain.WorkingHours) -> tuple[Venue, bool]:
    """Create or replace the venue `venue_id`; True when it is new. Only within the jurisdiction:
    a venue of another region is neither moved into it nor changed from here."""
    if not principal.serves(body.region_code):
        raise RegionOutsideJurisdiction(Message("auth.region_outside", region=body.region_code,
                                                jurisdiction=principal.region or "-"))
    venue = await uow.session.get(Venue, venue_id, with_for_update=True)
    if venue is not None and not principal.serves(venue.region_code):
        raise VenueNotFound(Message("clarification.venue_not_found", venue_id=venue_id))
    opens_at = body.opens_at or (venue.opens_at if venue else default_hours.start)
    closes_at = body.closes_at or (venue.closes_at if venue else default_hours.end)
    if closes_at <= opens_at:
        raise InvalidRequest(Message("value.closes_after_opens"), errors=[
            {"field": "closes_at", "message": Message("clarification.closes_after_opens", opens_at=opens_at),
             "type": "value_error"}])
    now = utcnow()
    created = venue is None
    if venue is None:
        venue = Venue(id=venue_id, created_at=now)
        uow.session.add(venue)
    before = None if created else {"name": venue.name, "address": venue.address, "active": venue.active}
    venue.region_code, venue.name, venue.address = body.region_code, body.name, body.address
    venue.opens_at, venue.closes_at, venue.active = opens_at, closes_at, body.active
    venue.updated_by, venue.updated_at = principal.subject, now
    uow.record_audit(actor=principal.subject, action="venue.registered" if created else "venue.updated",
                     object_type="venue", object_id=venue_id, details={
                         "name": venue.name, "address": venue.address, "region_code": venue.region_code,
                         "hours": f"{opens_at:%H:%M}-{closes_at:%H:%M}", "active": venue.active,
                         **({"before": before} if before else {})})
    await uow.session.flush()
    return venue, created


async def get(*, uow: UnitOfWork, principal: Principal, venue_id: str) -> Venue:
    """The venue, or 404 when it is not registered in the caller's jurisdiction."""
    venue = await uow.session.get(Venue, venue_id)
    if venue is None or not principal.serves(venue.region_code):
        raise VenueNotFound(Message("clarification.venue_not_registered", venue_id=venue_id))
    return venue


async def bookable(*, uow: UnitOfWork, principal: Principal, venue_id: str) -> Venue:
    """The venue a meeting is booked at: registered in the jurisdiction and not retired, else 422 on
    `venue_id` (the body names something that cannot be used)."""
    venue = await store.venue(uow, venue_id)  # Core: read, never changed here
    if venue is None or not principal.serves(venue.region_code):
        message = Message("clarification.venue_not_registered", venue_id=venue_id)
    elif not venue.active:
        message = Message("clarification.venue_retired", venue_id=venue_id, name=venue.name)
    else:
        return venue
    raise InvalidRequest(Message("clarification.field_problem", field="venue_id", problem=message), errors=[
        {"field": "venue_id", "message": message, "type": "unknown_venue"}])


def hours(venue: Venue) -> domain.WorkingHours:
    return domain.WorkingHours(venue.opens_at, venue.closes_at)


async def listed(*, uow: UnitOfWork, principal: Principal, region: str | None, active: bool | None,
                 cursor: str | None, limit: int) -> tuple[list[Venue], str | None]:
    """The venues registered in the jurisdiction (or a region of it), oldest first."""
    stmt = select(Venue).where(in_region(Venue.region_code, principal.within(region)))
    if active is not None:
        stmt = stmt.where(Venue.active.is_(active))
    return await keyset_page(uow.session, stmt, at=Venue.created_at, ident=Venue.id, cursor=cursor, limit=limit)
