"""Opaque keyset cursors for list endpoints: stable under inserts, no OFFSET scans."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

from shared.errors import DomainError
from shared.messages import Message


class InvalidCursor(DomainError):
    code = "invalid_cursor"
    status = 422

    @classmethod
    def not_ours(cls) -> InvalidCursor:
        """The 422 for a `cursor` this service did not issue (naming the field)."""
        return cls(Message("cursor.not_issued"), errors=[
            {"field": "cursor", "message": Message("cursor.not_from_a_page"), "type": "invalid_cursor"}])


def encode_cursor(at: datetime, ident: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([at.isoformat(), ident]).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The position a cursor of ours holds; 422 for anything else -- a moment no database column can
    hold (far-off years, offsets past the calendar's ends), an id that is not plain text (NUL, lone
    surrogates) or too long, or anything that is not our JSON at all."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        at, ident = json.loads(base64.urlsafe_b64decode(padded))
        when = datetime.fromisoformat(at)
        if when.tzinfo is None or not isinstance(ident, str) or "\x00" in ident or len(ident) > 200:
            raise ValueError("not a cursor this service issues")
        ident.encode("utf-8")  # a lone surrogate cannot be sent to the database
        if not 1900 <= when.astimezone(UTC).year <= 9998:  # astimezone overflows at the calendar's ends
            raise ValueError("not a moment this service stores")
        return when, ident
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise InvalidCursor.not_ours() from exc


def page_after(rows: list[Any], limit: int, *, at: str, ident: str) -> tuple[list[Any], str | None]:
    """Given up to `limit + 1` rows, return the page and the cursor for the next one."""
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], encode_cursor(getattr(last, at), str(getattr(last, ident)))


def cursor_filter(column_at: Any, column_id: Any, cursor: str | None) -> Any:
    if cursor is None:
        return None
    at, ident = decode_cursor(cursor)
    return (column_at > at) | ((column_at == at) & (column_id > ident))
