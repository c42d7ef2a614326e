"""An entry's standing on a day, from its stored row: in Python (domain.standing over the stored facts)
and as SQL, for the filters that select entries by it and for the sweep that writes it down.

The date moves an entry on twice -- a notice whose objection window closed is active, an active entry
whose period ended is expired -- and `_date_moves` says so once for every query here.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import ColumnElement, and_, or_

from services.credit_blacklist import domain
from services.credit_blacklist.domain import EntryStatus
from services.credit_blacklist.models import Entry
from shared.calendar import china_date
from shared.db import utcnow


def facts(entry: Entry) -> domain.EntryFacts:
    return domain.EntryFacts(
        status=EntryStatus(entry.status), objection_deadline=entry.objection_deadline, months=entry.period_months,
        listed_from=entry.listed_from, listed_until=entry.listed_until,
    )


def standing(entry: Entry, today: date | None = None) -> domain.Standing:
    """The entry as it stands on `today` (default: today in China)."""
    return domain.standing(facts(entry), today or china_date(utcnow()))


def _date_moves(today: date) -> tuple[tuple[EntryStatus, EntryStatus, ColumnElement[bool]], ...]:
    """Each move the date makes: from the stored status, to the status it stands in, once the SQL holds."""
    return (
        (EntryStatus.notified, EntryStatus.active, Entry.objection_deadline < today),  # the window closed
        (EntryStatus.active, EntryStatus.expired, Entry.listed_until < today),  # the period ended
    )


def stands_in(status: EntryStatus, today: date) -> ColumnElement[bool]:
    """SQL for "stands in `status` on `today`": stored so and not moved on by the date, or moved into it.
    (A notice whose window *and* whole period lapsed unswept counts as active here; `standing` knows better.)"""
    moves = _date_moves(today)
    stays = and_(Entry.status == status.value, *(~due for source, _, due in moves if source == status))
    arrives = [(Entry.status == source.value) & due for source, target, due in moves if target == status]
    return or_(stays, *arrives)


def moved_by_date(today: date) -> ColumnElement[bool]:
    """SQL for "the date has moved the entry on from its stored status": what the sweep writes down."""
    return or_(*((Entry.status == source.value) & due for source, _, due in _date_moves(today)))
