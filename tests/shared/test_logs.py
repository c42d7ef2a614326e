"""What a service's log lines are: one JSON object per event, with the ids of the context it was
logged in, never a personal-data field, never a colour code, one traceback per error."""

from __future__ import annotations

import io
import json
import logging

import pytest
import structlog

from shared.logs import configure_logging, log_handler, report_id_var
from shared.tracing import TraceContext, request_id, trace_context
from tests.log_lines import captured_logs

log = logging.getLogger("zhengming.test")


def test_every_record_is_one_json_line_with_our_fields_first():
    with captured_logs() as logs:
        log.info("opened %s cases", 2, extra={"region_code": "330502"})
        log.warning("two\nlines")
    lines = logs.raw().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert list(first)[:5] == ["ts", "level", "service", "logger", "msg"]
    assert first["msg"] == "opened 2 cases" and first["level"] == "info" and first["region_code"] == "330502"
    assert first["ts"].endswith("Z") and first["logger"] == "zhengming.test"
    assert second["msg"] == "two\nlines" and second["level"] == "warning"


def test_lines_carry_the_request_report_and_trace_of_their_context_and_what_is_bound():
    trace = TraceContext.new(request_id="abc")
    tokens = request_id.set("abc"), report_id_var.set("r-1"), trace_context.set(trace)
    try:
        with captured_logs() as logs, structlog.contextvars.bound_contextvars(event_id="e-1"):
            log.info("working")
    finally:
        request_id.reset(tokens[0])
        report_id_var.reset(tokens[1])
        trace_context.reset(tokens[2])
    (line,) = logs.all()
    assert (line["request_id"], line["report_id"], line["event_id"]) == ("abc", "r-1", "e-1")
    assert (line["trace_id"], line["span_id"]) == (trace.trace_id, trace.span_id)


def test_a_line_outside_any_request_claims_no_request():
    with captured_logs() as logs:
        log.info("sweeping")
    (line,) = logs.all()
    assert not {"request_id", "report_id", "trace_id", "event_id"} & set(line)


def test_personal_data_fields_never_reach_a_line_whatever_a_caller_passes():
    with captured_logs() as logs:
        log.info("careless", extra={
            "id_number": "11010519491231002X", "phone": "13800138000", "reporter": {"name": "李秀英"},
            "details": {"address": "某街道1号", "kept": 1, "more": [{"reporter_name": "李秀英"}]}})
    (line,) = logs.all()
    for secret in ("11010519491231002X", "13800138000", "某街道1号", "李秀英"):
        assert secret not in logs.raw()
    assert line["details"] == {"kept": 1, "more": [{}]}


def test_no_colour_code_reaches_a_json_line():
    """uvicorn passes its message again with ANSI colours as `color_message`; messages, fields and
    tracebacks may hold colour codes too."""
    with captured_logs() as logs:
        logging.getLogger("uvicorn.error").info("Started server process [%d]", 42,
                                                extra={"color_message": "Started server process [\x1b[36m%d\x1b[0m]"})
        log.warning("\x1b[31mred\x1b[0m alert", extra={"status": "\x1b[1mbold\x1b[0m", "nested": {"k": "\x1b[2mdim"}})
        try:
            raise ValueError("\x1b[33mcoloured\x1b[0m failure")
        except ValueError:
            log.exception("failed")
    raw = logs.raw()
    assert "\x1b" not in raw and "\\u001b" not in raw and "[36m" not in raw
    started, red, failed = logs.all()
    assert started["msg"] == "Started server process [42]" and "color_message" not in started
    assert (red["msg"], red["status"], red["nested"]) == ("red alert", "bold", {"k": "dim"})
    assert "ValueError: coloured failure" in failed["exc"]


def test_an_exception_is_logged_with_its_traceback_once():
    """The problem handler logs a 500's exception; uvicorn then reports the same exception again."""
    with captured_logs() as logs:
        try:
            raise RuntimeError("boom")
        except RuntimeError as exc:
            log.exception("unhandled error")
            logging.getLogger("uvicorn.error").error("Exception in ASGI application\n", exc_info=exc)
        try:
            raise RuntimeError("another boom")
        except RuntimeError:
            log.exception("another error")
    assert [(line["msg"], "exc" in line) for line in logs.all()] == [("unhandled error", True),
                                                                     ("another error", True)]


def test_each_handler_gets_the_traceback_once():
    second = io.StringIO()
    handler = log_handler("second", second)
    logging.getLogger().addHandler(handler)
    try:
        with captured_logs() as logs:
            try:
                raise RuntimeError("boom")
            except RuntimeError:
                log.exception("unhandled error")
    finally:
        logging.getLogger().removeHandler(handler)
    assert len(logs.all()) == 1 and len(second.getvalue().splitlines()) == 1


@pytest.fixture
def restored_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


def test_configure_logging_makes_structlog_loggers_write_the_same_json_lines(restored_logging):
    configure_logging("intake", "INFO")
    (handler,) = logging.getLogger().handlers
    stream = io.StringIO()
    handler.setStream(stream)  # type: ignore[attr-defined]
    structlog.get_logger("zhengming.structured").info("event applied", event_type="report.submitted.v1")
    logging.getLogger("zhengming.plain").debug("below the level")
    (line,) = (json.loads(text) for text in stream.getvalue().splitlines())
    assert line["service"] == "intake" and line["msg"] == "event applied"
    assert line["event_type"] == "report.submitted.v1" and line["logger"] == "zhengming.structured"
    assert "\x1b" not in stream.getvalue()


def test_a_line_without_a_traceback_is_the_line_structlogs_processors_write():
    """JsonFormatter writes lines without a traceback straight from the record; structlog's processors
    (what every line went through before) would write the same bytes."""
    from shared.logs import JsonFormatter

    formatter = JsonFormatter("intake")
    records = [
        log.makeRecord(log.name, logging.INFO, __file__, 1, "opened %s cases", (2,), None, extra={
            "region_code": "330502", "details": {"address": "某街道1号", "kept": [1, {"phone": "1"}]},
            "exception": "a field named so", "_private": 1, "status": "\x1b[1mbold\x1b[0m", "when": object()}),
        log.makeRecord(log.name, logging.WARNING, __file__, 1, "two\nlines 李秀英", (), None),
    ]
    for record in records:
        assert formatter.format(record) == formatter._through_processors(record)


def test_the_access_line_is_a_whole_record_for_any_handler():
    """log_access makes its record without LogRecord's constructor: every attribute a handler or
    formatter reads is there all the same, and the line is the one access_log.info would write."""
    from shared.logs import access_log, log_access

    stream = io.StringIO()
    plain = logging.StreamHandler(stream)
    plain.setFormatter(logging.Formatter(
        "%(asctime)s %(levelname)s %(levelno)d %(name)s %(pathname)s %(filename)s %(module)s %(lineno)d "
        "%(funcName)s %(created)f %(msecs)d %(relativeCreated)d %(thread)d %(threadName)s %(process)d "
        "%(processName)s %(message)s"))
    access_log.addHandler(plain)
    fields = {"method": "POST", "route": "/v1/checks", "status": 200, "duration_ms": 0.42}
    try:
        with captured_logs() as logs:
            trace = TraceContext.new(request_id="abc")
            tokens = request_id.set("abc"), trace_context.set(trace)
            try:
                log_access(fields)
                access_log.info("request", extra=fields)
            finally:
                request_id.reset(tokens[0])
                trace_context.reset(tokens[1])
    finally:
        access_log.removeHandler(plain)
    ours, theirs = logs.all()
    assert {k: v for k, v in ours.items() if k != "ts"} == {k: v for k, v in theirs.items() if k != "ts"}
    assert list(ours) == list(theirs)
    assert (ours["request_id"], ours["trace_id"], ours["status"]) == ("abc", trace.trace_id, 200)
    line = stream.getvalue().splitlines()[0]
    assert " INFO 20 zhengming.access " in line and "middleware.py" in line and line.endswith(" request")
