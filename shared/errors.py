"""Domain errors with a stable code and HTTP status; shared/problems.py renders them as RFC 9457
problem+json. Nothing here knows HTTP frameworks: the event side raises them too.

An error's title comes from the catalogue by its code (shared/catalogue.py), and its detail is a
catalogue sentence with its values, so the problem can be answered in the officers' language:

    raise CaseNotFound(Message("verification.case_not_found", case_id=case_id))"""

from __future__ import annotations

from typing import Any, ClassVar, Self

from shared.catalogue import TITLES
from shared.messages import ENGLISH, Language, localized, title_of
from shared.vocabulary import Refusal


class DomainError(Exception):
    """Base of every error a service raises on purpose. Subclasses set `code` (with a title in the
    catalogue) and `status`; `extra` members go into the problem body as they are, except that each
    entry of `errors` has its `message` given in the answer's language."""

    code: ClassVar[str] = "error"
    status: ClassVar[int] = 400
    title: ClassVar[str] = title_of("error", ENGLISH)  # in English; `title_in` for another language

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # The catalogue's title; a code it lacks keeps its class's English title in every language
        # (tests/test_languages.py holds every code to having one in both).
        if cls.code in TITLES:
            cls.title = title_of(cls.code, ENGLISH)

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        """`detail` is a catalogue `Message` (a plain str is answered as it is, in every language)."""
        super().__init__(detail or self.title)
        self.detail: str = detail or self.title  # in English
        self._said = detail
        self.extra = extra

    @classmethod
    def because(cls, refusal: Refusal) -> Self:
        """This error for a rule's refusal: its sentence as the detail, its rule named in the body."""
        return cls(refusal.detail, rule=refusal.rule)

    def title_in(self, language: Language) -> str:
        return title_of(self.code, language) if self.code in TITLES else self.title

    def detail_in(self, language: Language) -> str:
        return self.title_in(language) if not self._said else str(localized(self._said, language))

    def extra_in(self, language: Language) -> dict[str, Any]:
        """The extension members, each of `errors`' messages in `language`."""
        errors = self.extra.get("errors")
        if not isinstance(errors, list):
            return self.extra
        return {**self.extra, "errors": [
            {**error, "message": localized(error["message"], language)}
            if isinstance(error, dict) and "message" in error else error for error in errors]}


class InvalidRequest(DomainError):
    """A request that is well-formed but names something it may not (render `errors` for the fields)."""

    code = "validation_failed"
    status = 422


class NotFound(DomainError):
    code = "not_found"
    status = 404


class Conflict(DomainError):
    code = "conflict"
    status = 409


class Unauthorized(DomainError):
    code = "unauthorized"
    status = 401


class Forbidden(DomainError):
    code = "forbidden"
    status = 403


class DatabaseUnavailable(DomainError):
    code = "database_unavailable"
    status = 503
