"""The officers' language: what a service says in a problem (its title, its detail, each field's
message) in English or in Chinese, from the one catalogue (shared/catalogue.py), and which of the
two a request prefers (`Accept-Language`).

A raise site names a catalogue sentence and its values instead of writing a sentence:

    raise CaseNotFound(Message("verification.case_not_found", case_id=case_id))

A `Message` is a `str` (its English text), so logs, tests and anything else that reads an error's
detail read what they read before; the problem handlers give it in the request's language
(`localized`). A value that is itself a `Message` or a `Term` (a status, a verdict) is given in the
same language; a list is joined as the language joins one."""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any, Final, Literal, Protocol, runtime_checkable

from shared.catalogue import MESSAGES, TERMS, TITLES, VALIDATION

Language = Literal["en", "zh-CN"]
ENGLISH: Final[Language] = "en"
CHINESE: Final[Language] = "zh-CN"
LANGUAGES: Final[tuple[Language, ...]] = (ENGLISH, CHINESE)


@runtime_checkable
class Localizable(Protocol):
    def in_language(self, language: Language) -> str: ...


class Message(str):
    """One sentence of the catalogue with its values; as a `str`, its English text."""

    id: str
    params: Mapping[str, Any]

    def __new__(cls, message_id: str, /, **params: Any) -> Message:
        made = super().__new__(cls, fill(MESSAGES[message_id].en, params, ENGLISH))
        made.id, made.params = message_id, params
        return made

    def in_language(self, language: Language) -> str:
        if language == ENGLISH:
            return str.__str__(self)
        return fill(MESSAGES[self.id].zh, self.params, language)

    # A Message is immutable: copies are itself, and a pickle rebuilds it from its id and values
    # (str's own would call __new__ with the English text as the id).
    def __copy__(self) -> Message:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Message:
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return _message, (self.id, dict(self.params))


def _message(message_id: str, params: dict[str, Any]) -> Message:
    return Message(message_id, **params)


class Term(str):
    """A value of a vocabulary (a status, a verdict, a level) inside a message: in English the value
    itself (or `english`, a library's own sentence for it, say), in Chinese the office's term for the
    value (the English when the catalogue has none)."""

    vocabulary: str
    value: str

    def __new__(cls, vocabulary: str, value: str, english: str | None = None) -> Term:
        made = super().__new__(cls, value if english is None else english)
        made.vocabulary, made.value = vocabulary, value
        return made

    def in_language(self, language: Language) -> str:
        english = str.__str__(self)
        if language == ENGLISH:
            return english
        return TERMS.get(self.vocabulary, {}).get(self.value, english)

    def __copy__(self) -> Term:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Term:
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return Term, (self.vocabulary, self.value, str.__str__(self))


# How each language joins a list inside a sentence: sentences, and words (ids, terms, names).
_SENTENCES = {ENGLISH: "; ", CHINESE: "；"}
_WORDS = {ENGLISH: ", ", CHINESE: "、"}


def localized(text: Any, language: Language) -> Any:
    """`text` in `language` when it is a catalogue message or term; anything else as it is."""
    return text.in_language(language) if isinstance(text, Localizable) else text


def _value(value: Any, language: Language) -> Any:
    if isinstance(value, Localizable):
        return value.in_language(language)
    if isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)
        joiner = _SENTENCES if any(isinstance(item, Message) for item in items) else _WORDS
        return joiner[language].join(str(_value(item, language)) for item in items)
    return value  # as it is, so a format spec in the template ({day:%Y-%m-%d}) still applies


def fill(template: str, params: Mapping[str, Any], language: Language) -> str:
    """`template` with `params` (str.format), each value given in `language`."""
    return template.format(**{name: _value(value, language) for name, value in params.items()})


def placeholders(template: str) -> set[str]:
    """The names a template's placeholders use (`{day:%Y-%m-%d}` -> `day`)."""
    return {name.split(".")[0].split("[")[0] for _, name, _, _ in string.Formatter().parse(template) if name}


def title_of(code: str, language: Language) -> str:
    """The problem title of `code` in `language` (the catalogue has one for every code a service answers)."""
    text = TITLES[code]
    return text.en if language == ENGLISH else text.zh


def validation_message(error: Mapping[str, Any], language: Language) -> str:
    """One validation error's message (a Pydantic error: `type`, `msg`, `ctx`) in `language`: our own
    validators' catalogue sentences in either language; Pydantic's English, or the catalogue's
    Chinese for its error type; an unknown type keeps Pydantic's English."""
    kind = error.get("type")
    ctx = error.get("ctx") or {}
    if kind in ("value_error", "assertion_error"):
        raised = ctx.get("error")
        said = raised.args[0] if isinstance(raised, BaseException) and raised.args else None
        if isinstance(said, Localizable) and language != ENGLISH:
            return said.in_language(language)
    message = str(error.get("msg", ""))
    if language == ENGLISH or kind not in VALIDATION:
        return message
    try:
        return fill(VALIDATION[str(kind)].zh, {**ctx, "expected": _expected(ctx)}, language)
    except (KeyError, IndexError, ValueError):  # a context this type does not usually carry
        return message


def _expected(ctx: Mapping[str, Any]) -> str:
    """An enum's or a literal's allowed values as Chinese lists them (Pydantic's `expected` says
    "'a', 'b' or 'c'")."""
    expected = str(ctx.get("expected", ""))
    parts = [p.strip() for p in expected.replace(" or ", ", ").split(",") if p.strip()]
    return "、".join(parts)


# --- Accept-Language ------------------------------------------------------------------------------------


def negotiate(accept_language: str | None, default: Language) -> Language:
    """The language to answer in: of English and Chinese, the one `accept_language` (RFC 9110 §12.5.4,
    with q-values) prefers; on equal preference the one listed first; `default` when it names neither
    (or only `*`), or is absent or unreadable. A language given q=0 is never chosen, even through `*`.

    Any Chinese range (`zh`, `zh-CN`, `zh-Hans`, ...) chooses Chinese: the only Chinese written here is
    Simplified, which a reader asking for another script still reads better than English."""
    if not accept_language:
        return default
    named: dict[Language, tuple[float, int]] = {}  # a language's best q, and where that range stood
    anything: float | None = None  # the q of `*`
    for position, part in enumerate(accept_language.split(",")):
        tag, _, params = part.partition(";")
        tag = tag.strip().lower()
        quality = _quality(params)
        if quality is None or not tag:
            continue
        if tag == "*":
            anything = quality
            continue
        if tag == "zh" or tag.startswith("zh-"):
            language: Language = CHINESE
        elif tag == "en" or tag.startswith("en-"):
            language = ENGLISH
        else:
            continue
        if language not in named or quality > named[language][0]:
            named[language] = (quality, position)
    # Highest q first; at equal q a language named outright before one reached through `*`, and the
    # one named first; two reached through `*` alike: the default.
    ranked = []
    for language in LANGUAGES:
        if language in named:
            quality, position = named[language]
            key = (quality, 1, -position)
        elif anything is not None:
            key = (anything, 0, 0)
        else:
            continue
        if key[0] > 0:
            ranked.append((key, language == default, language))
    return max(ranked)[2] if ranked else default


def _quality(params: str) -> float | None:
    """The q-value of one Accept-Language member's parameters (1 when absent), None when malformed."""
    quality = 1.0
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() != "q":
            continue
        value = value.strip()
        # RFC 9110: 0, 1, or 0.xxx / 1.000 with at most three decimals.
        if not value or len(value) > 5 or value.count(".") > 1 or not value.replace(".", "").isdigit():
            return None
        quality = float(value)
        if quality > 1:
            return None
    return quality


def as_language(value: str) -> Language:
    """A setting's language: `en` or `zh-CN` (any Chinese tag is zh-CN)."""
    tag = value.strip().lower()
    if tag == "zh" or tag.startswith("zh-") or tag.startswith("zh_"):
        return CHINESE
    if tag == "en" or tag.startswith("en-") or tag.startswith("en_"):
        return ENGLISH
    raise ValueError(f"not a language this suite answers in: {value!r} (en or zh-CN)")


def language_of(environ: Mapping[str, str]) -> Language:
    """The language of a command run in `environ`: ZM_LANGUAGE (en or zh-CN) when it names one, else
    Chinese when the locale is Chinese (the first of LC_ALL, LC_MESSAGES and LANG that is set, the
    order POSIX reads them in), else English."""
    try:
        return as_language(environ.get("ZM_LANGUAGE", ""))
    except ValueError:
        pass
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        if value := environ.get(name):
            return CHINESE if value.lower().startswith("zh") else ENGLISH
    return ENGLISH
