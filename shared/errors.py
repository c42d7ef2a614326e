"""Domain errors with a stable code and HTTP status; shared/problems.py renders them as RFC 9457
problem+json. Nothing here knows HTTP frameworks: the event side raises them too."""

from __future__ import annotations

from typing import Any, Self

from shared.vocabulary import Refusal


class DomainError(Exception):
    """Base of every error a service raises on purpose. Subclasses set `code`, `status`, `title`."""

    code = "error"
    status = 400
    title = "Request could not be processed"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra

    @classmethod
    def because(cls, refusal: Refusal) -> Self:
        """This error for a rule's refusal: its sentence as the detail, its rule named in the body."""
        return cls(refusal.detail, rule=refusal.rule)


class InvalidRequest(DomainError):
    """A request that is well-formed but names something it may not (render `errors` for the fields)."""

    code = "validation_failed"
    status = 422
    title = "Request is not valid"


class NotFound(DomainError):
    code = "not_found"
    status = 404
    title = "Not found"


class Conflict(DomainError):
    code = "conflict"
    status = 409
    title = "Conflict with the current state"


class Unauthorized(DomainError):
    code = "unauthorized"
    status = 401
    title = "Authentication required"


class Forbidden(DomainError):
    code = "forbidden"
    status = 403
    title = "Not allowed"


class DatabaseUnavailable(DomainError):
    code = "database_unavailable"
    status = 503
    title = "Database unavailable"
