"""What a request, and everything that follows from it, is followed by: its request id and its W3C
trace context.

* The request id is asgi-correlation-id's: taken from `X-Request-ID` when it is a short plain token
  (`valid_request_id`), made otherwise, returned on every answer and stamped on every log line.
* The trace context (W3C Trace Context: `traceparent`, `tracestate`) is the incoming request's
  continued as a child span, or a new trace. The events written while the request runs carry it as
  the CloudEvents distributed-tracing extension (`ce_traceparent`, `ce_tracestate`); a consumer
  applying one continues it as a child span again, so the events it raises in turn, and its log
  lines, share the trace id. Our own `tracestate` entry (`zhengming=<request id>`) carries the
  request the trace started from, so a consumer's log lines name that request too.
* A report's journey is one trace: each service remembers the trace a report first came with
  (`trace_links`, shared/uow.py), and an event about the report raised in another trace -- an
  officer's request, a sweeper's round -- is a new span of the report's trace instead (`step`). The
  request that took that step is kept as our second member, `zhengming-by=<request id>`, so the
  report's origin request and the officer's are both on the consumers' lines.

Headers from a client or off the broker are read strictly, and anything not valid is ignored, never
an error: `traceparent` by W3C's grammar below, `tracestate` by OpenTelemetry's parser (the reference
list-member grammar).
"""

from __future__ import annotations

import contextvars
import os
import random
import re
from typing import NamedTuple

from asgi_correlation_id import correlation_id
from opentelemetry.trace.span import TraceState

REQUEST_ID_HEADER = "X-Request-ID"
# A client's id is taken as given only when it is short and plain: it goes on every log line and into
# the events' trace state, so it can neither forge a line nor carry much (a `,` or `=` would also
# break a tracestate member).
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:/+@-]{1,64}")
TRACESTATE_KEY = "zhengming"  # our tracestate member: the request the trace started from
# Our second member: the request that took this step of a report's trace, when another one started it.
# A member of its own, not part of the first's value: a reader that knows only `zhengming=` still
# reads it, and W3C's grammar keeps `,` and `=` out of values, so a pair would need a private syntax.
TRACESTATE_BY_KEY = "zhengming-by"
_TRACESTATE_MAX_CHARS = 512  # what W3C asks every vendor to pass on; a longer incoming one is dropped
_TRACESTATE_MAX_MEMBERS = 32
_OUR_KEYS = (TRACESTATE_KEY, TRACESTATE_BY_KEY)
# W3C Trace Context: version, trace id, parent id, flags; a later version may append fields. Matched
# here rather than through OpenTelemetry's propagator, which builds a context, a span and a span
# context to say the same, at ten times the cost (about 10 us) on every request that sends one.
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")

# The request id of this context: set by asgi-correlation-id's middleware for a request, and by the
# inbox to the originating request's while it applies an event (None when there is none).
request_id: contextvars.ContextVar[str | None] = correlation_id


def valid_request_id(value: str) -> bool:
    """Whether a request id from a client (or from an event's trace state) may be used as given:
    1 to 64 letters, digits and `._:/+@-`."""
    return _REQUEST_ID.fullmatch(value) is not None


def new_request_id() -> str:
    """32 random hex digits from the system's generator (a uuid4's randomness, without building a
    UUID, and without `secrets.token_hex`'s extra call: the same bytes)."""
    return os.urandom(16).hex()


def _new_id(bits: int) -> str:
    # Random, not secret: trace and span ids need only not collide (OpenTelemetry's SDK does the same:
    # the random module's generator, seeded from the system's and seeded anew in a forked child).
    value = random.getrandbits(bits)
    while not value:  # all zeros is W3C's "invalid"
        value = random.getrandbits(bits)
    return f"{value:0{bits // 4}x}"


_NO_TRACE, _NO_SPAN = "0" * 32, "0" * 16


class TraceContext(NamedTuple):
    """One span of a trace, as W3C Trace Context writes it. (A named tuple: every request makes one,
    in a third of a frozen dataclass's time.)"""

    trace_id: str  # 32 lower-case hex digits, shared by every span of the trace
    span_id: str  # 16 lower-case hex digits, this span's
    flags: str = "01"  # the trace flags, two hex digits (01: sampled)
    vendor_state: str = ""  # the other vendors' tracestate members, as they came (validated)
    request_id: str | None = None  # the request the trace started from (our tracestate member)
    by_request_id: str | None = None  # the request that took this step, when not that one (our second)

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"

    @property
    def tracestate(self) -> str | None:
        """Our members first (W3C: the member a vendor updates moves to the front), then the others,
        as many of them as fit in 512 characters (W3C lets a vendor drop members from the right)."""
        ours = f"{TRACESTATE_KEY}={self.request_id}" if self.request_id else ""
        by = f"{TRACESTATE_BY_KEY}={self.by_request_id}" if self.by_request_id else ""
        state = ",".join(part for part in (ours, by, self.vendor_state) if part)
        while len(state) > _TRACESTATE_MAX_CHARS and "," in state:
            state = state.rsplit(",", 1)[0]
        return state or None

    def child(self, *, request_id: str | None = None) -> TraceContext:
        """A new span of the same trace, with this one as its parent; `request_id`, when given,
        replaces the request the trace is said to come from (the span is then that request's own
        step, so no other request is named as taking it)."""
        # tuple.__new__ rather than _replace: every request with a traceparent makes one, and
        # _replace takes three times as long.
        if request_id:
            return tuple.__new__(TraceContext, (self[0], _new_id(64), self[2], self[3], request_id, None))
        return tuple.__new__(TraceContext, (self[0], _new_id(64), self[2], self[3], self[4], self[5]))

    def step(self, *, by_request_id: str | None) -> TraceContext:
        """A new span of this trace for work done in another context (an officer's request, a
        sweeper's round): it still names the request the trace started from, and `by_request_id`
        (the other context's request, if any) as the one that took the step."""
        by = by_request_id if by_request_id != self.request_id else None
        return self._replace(span_id=_new_id(64), by_request_id=by)

    @property
    def origin(self) -> TraceContext:
        """This span as where a journey starts: without the request that took it as a step."""
        return self._replace(by_request_id=None) if self.by_request_id else self

    @classmethod
    def new(cls, *, request_id: str | None = None) -> TraceContext:
        """The first span of a new trace: its trace and span ids from one draw of 192 random bits
        (every request without a traceparent makes one)."""
        digits = f"{random.getrandbits(192):048x}"
        trace_id, span_id = digits[:32], digits[32:]
        if trace_id == _NO_TRACE:  # all zeros is W3C's "invalid"
            trace_id = _new_id(128)
        if span_id == _NO_SPAN:
            span_id = _new_id(64)
        return tuple.__new__(cls, (trace_id, span_id, "01", "", request_id, None))

    @classmethod
    def parse(cls, traceparent: str | None, tracestate: str | None = None) -> TraceContext | None:
        """The span `traceparent` names, with its `tracestate`; None when `traceparent` is absent or
        not valid W3C (a `tracestate` that is not valid, or too long, is dropped alone)."""
        match = _TRACEPARENT.fullmatch(traceparent.strip(" \t")) if traceparent and len(traceparent) <= 512 else None
        if match is None:
            return None
        version, trace_id, span_id, flags, more = match.groups()
        if version == "ff" or (version == "00" and more) or trace_id == "0" * 32 or span_id == "0" * 16:
            return None
        # The flags we pass on are those version 00 defines (sampled); the others are a later version's.
        parent = cls(trace_id=trace_id, span_id=span_id, flags=f"{int(flags, 16) & 0x01:02x}")
        if not tracestate or len(tracestate) > _TRACESTATE_MAX_CHARS:
            return parent
        members = list(TraceState.from_header([tracestate]).items())
        ours, by = dict(members).get(TRACESTATE_KEY), dict(members).get(TRACESTATE_BY_KEY)
        others = [f"{key}={value}" for key, value in members if key not in _OUR_KEYS]
        return parent._replace(
            # Room for our own two members at the front: W3C lets a vendor drop members from the right.
            vendor_state=",".join(others[:_TRACESTATE_MAX_MEMBERS - len(_OUR_KEYS)]),
            request_id=ours if ours is not None and valid_request_id(ours) else None,
            by_request_id=by if by is not None and valid_request_id(by) else None,
        )

    @classmethod
    def continued(cls, traceparent: str | None, tracestate: str | None = None, *,
                  request_id: str | None = None) -> TraceContext:
        """A child span of the one the headers name, or a new trace when they name none."""
        parent = cls.parse(traceparent, tracestate)
        if parent is None:
            return cls.new(request_id=request_id)
        return parent.child(request_id=request_id)


trace_context: contextvars.ContextVar[TraceContext | None] = contextvars.ContextVar("trace_context", default=None)


def current_trace() -> TraceContext | None:
    """The span this context runs in: a request's, or that of the event being applied."""
    return trace_context.get()


def outgoing_headers() -> dict[str, str]:
    """What a call to another service carries so that its lines join this context's: the current
    span as `traceparent` and `tracestate`, and the request id as `X-Request-ID` (empty outside a
    request or an applied event)."""
    headers: dict[str, str] = {}
    if (trace := current_trace()) is not None:
        headers["traceparent"] = trace.traceparent
        if (state := trace.tracestate) is not None:
            headers["tracestate"] = state
    if (rid := request_id.get()) is not None:
        headers[REQUEST_ID_HEADER] = rid
    return headers
