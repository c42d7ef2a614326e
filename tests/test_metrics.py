"""/metrics as Prometheus scrapes it: process metrics on every service, backlogs read from the tables
(so they survive a restart, and a database that does not answer costs only them), names with their
units, several API workers counted as one service, and a dashboard and alert rules that query only
what the services export."""

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from services.registry import SERVICES
from services.supervisor import WorkerMetrics
from shared.db import create_engine
from shared.observability import WorkerProcesses
from tests.conftest import build_app, serve
from tests.shared.inbox_helpers import TOPIC, delivered, make_inbox, settle

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = ROOT / "deploy" / "grafana" / "zhengming.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yaml"
PROCESS_METRICS = ("process_cpu_seconds_total", "process_resident_memory_bytes", "process_virtual_memory_bytes",
                   "process_open_fds", "process_max_fds", "process_start_time_seconds")
# Prometheus naming: a gauge or histogram names its unit, in the plural (a count names what it counts).
UNIT_SUFFIXES = ("_seconds", "_bytes", "_events", "_messages", "_ratio", "_info")
OUR_METRIC = re.compile(r"\b(?:zm|process|python)_[a-z_]+\b")


def families(text):
    return {family.name: family for family in text_string_to_metric_families(text)}


def sample_names(text):
    """Every series name the exposition declares, with or without a sample yet."""
    names = set()
    for family in text_string_to_metric_families(text):
        suffixes = {"histogram": ("_bucket", "_count", "_sum"), "counter": ("_total",)}.get(family.type, ("",))
        names |= {family.name + suffix for suffix in suffixes}
    return names


def value(text, name, **labels):
    """The value of the one sample `name` with at least `labels`, or None when there is none."""
    found = [s.value for family in text_string_to_metric_families(text) for s in family.samples
             if s.name == name and labels.items() <= s.labels.items()]
    assert len(found) <= 1, f"{name} {labels}: {len(found)} samples"
    return found[0] if found else None


async def scrape(client):
    response = await client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return response.text


@pytest.fixture
async def scraped(new_database, settings_for):
    """Each service's /metrics, once it has answered a request."""
    texts = {}
    for service in SERVICES:
        app = build_app(service, settings_for(service, await new_database(service)))
        async with serve(app) as client:
            await client.get("/livez")
            texts[service] = await scrape(client)
    return texts


async def test_every_service_reports_its_process_cpu_memory_and_file_descriptors(scraped):
    for service, text in scraped.items():
        for name in PROCESS_METRICS:
            assert value(text, name, service=service) is not None, f"{service}: {name}"
        assert value(text, "process_resident_memory_bytes", service=service) > 0
        assert 0 < value(text, "process_open_fds", service=service) <= value(text, "process_max_fds", service=service)
        assert value(text, "process_cpu_seconds_total", service=service) > 0
        assert value(text, "process_start_time_seconds", service=service) <= time.time()
        assert value(text, "zm_build_info", service=service) == 1
        assert "python_info" in families(text)


async def test_every_metric_name_carries_its_unit(scraped):
    for service, text in scraped.items():
        declared = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE))
        ours = {name: kind for name, kind in declared.items() if name.startswith("zm_")}
        assert {"counter", "gauge", "histogram"} <= set(ours.values()), f"{service}: {sorted(ours)}"
        for name, kind in ours.items():
            if kind == "counter":
                assert name.endswith("_total"), name
            else:
                assert not name.endswith("_total") and name.endswith(UNIT_SUFFIXES), f"{name} ({kind}) names no unit"


async def test_the_dashboard_and_the_alerts_query_only_metrics_the_services_export(scraped):
    exported = set().union(*(sample_names(text) for text in scraped.values()))
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    panels = [p for top in dashboard["panels"] for p in [top, *top.get("panels", [])] if p["type"] != "row"]
    queried = {}
    for panel in panels:
        assert panel["targets"] and panel["datasource"]["uid"] == "${datasource}", panel["title"]
        for target in panel["targets"]:
            expr = target["expr"]
            assert expr.count("(") == expr.count(")") and expr.count("{") == expr.count("}"), expr
            queried.setdefault(panel["title"], set()).update(OUR_METRIC.findall(expr))
    variables = " ".join(v.get("definition", "") for v in dashboard["templating"]["list"])
    used = set().union(*queried.values(), OUR_METRIC.findall(variables))
    assert used <= exported, f"the dashboard queries what no service exports: {sorted(used - exported)}"
    # The golden signals, the outbox, the consumers and the dead letters each have a panel.
    for needed in ("zm_http_request_duration_seconds_count", "zm_http_request_duration_seconds_bucket",
                   "process_cpu_seconds_total", "process_resident_memory_bytes", "zm_outbox_backlog_events",
                   "zm_consumer_lag_messages", "zm_dead_letter_backlog_events", "zm_dlt_events_total"):
        assert needed in used, needed
    ids = [p["id"] for top in dashboard["panels"] for p in [top, *top.get("panels", [])]]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    rules = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    alerted = {name for group in rules["groups"] for rule in group["rules"]
               for name in OUR_METRIC.findall(rule["expr"])}
    assert alerted and alerted <= exported, f"alerts on what no service exports: {sorted(alerted - exported)}"


async def test_the_dead_letter_backlog_still_shows_after_a_restart(new_database, settings_for):
    url = await new_database("verification")
    settings = settings_for("verification", url)
    app = build_app("verification", settings)
    async with serve(app) as client:
        runtime = app.started
        inbox = make_inbox(runtime.sessions, metrics=runtime.metrics)
        # An unsigned event: refused by the trust check and dead-lettered at once.
        assert await settle(inbox, delivered("r-forged", offset=0, unsigned=True))
        before = await scrape(client)
    dead = {"service": "verification", "topic": TOPIC, "reason": "signature_invalid"}
    assert value(before, "zm_dlt_events_total", service="verification", topic=TOPIC) == 1
    assert value(before, "zm_dead_letter_backlog_events", **dead) == 1
    unsent = value(before, "zm_outbox_backlog_events", service="verification")
    assert unsent >= 1  # the dead letter's copy for reports.submitted.DLT, no relay running here

    app = build_app("verification", settings)  # the service restarted on the same database
    async with serve(app) as client:
        after = await scrape(client)
    assert value(after, "zm_dlt_events_total", service="verification", topic=TOPIC) is None  # counted anew
    assert value(after, "zm_dead_letter_backlog_events", **dead) == 1
    assert value(after, "zm_outbox_backlog_events", service="verification") == unsent


async def test_metrics_answer_without_the_backlogs_while_the_database_does_not(new_database, settings_for, caplog):
    app = build_app("intake", settings_for("intake", await new_database("intake")))
    async with serve(app) as client:
        runtime = app.started
        working = runtime.engine
        await client.get("/livez")
        runtime.engine = create_engine("postgresql+asyncpg://postgres@127.0.0.1:9/gone")  # nothing listens there
        try:
            with caplog.at_level(logging.INFO, logger="zhengming.metrics"):
                outage = [await scrape(client) for _ in range(3)]
                for text in outage:
                    assert value(text, "zm_outbox_backlog_events", service="intake") is None
                    assert value(text, "process_resident_memory_bytes", service="intake") > 0
                    assert value(text, "zm_http_request_duration_seconds_count", route="/livez",
                                 method="GET", status="200") is not None
                warned = [r for r in caplog.records if r.name == "zhengming.metrics" and r.levelno == logging.WARNING]
                assert len(warned) == 1, "one line for the outage, not one a scrape"
                await runtime.engine.dispose()
                runtime.engine = working
                back = await scrape(client)
        finally:
            runtime.engine = working
        assert value(back, "zm_outbox_backlog_events", service="intake") == 0
        assert any(r.levelno == logging.INFO and "read again" in r.getMessage() for r in caplog.records)


# --- several API workers ---------------------------------------------------------------------------


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _per_worker_counts(directory, route):
    """Requests to `route` each worker counted in its own file (pid -> count)."""
    counts = {}
    for path in Path(directory).glob("histogram_*.db"):
        pid = int(path.stem.split("_")[1])
        counts[pid] = sum(s.value for family in MultiProcessCollector.merge([str(path)]) for s in family.samples
                          if s.name.endswith("_count") and s.labels.get("route") == route)
    return counts


@pytest.fixture
def cli_env(tmp_path):
    """The environment of a `zhengming` process with a data folder of its own (the name marks the
    test `processes`, tests/conftest.py)."""
    return {**os.environ, "ZM_DATA_DIR": str(tmp_path / "data")}


async def test_two_api_workers_answer_metrics_for_both(cli_env, new_database, tmp_path, monkeypatch):
    from services.cli import _ensure_keys

    monkeypatch.setenv("ZM_DATA_DIR", cli_env["ZM_DATA_DIR"])
    _ensure_keys()  # as `make run` does, before processes that would race to make them
    port = _free_port()
    env = {**cli_env, "ZM_INTAKE_DATABASE_URL": await new_database("intake"), "TMPDIR": str(tmp_path)}
    with open(tmp_path / "workers.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "services.cli", "run", "intake", "--role", "api", "--port",
                                 str(port), "--workers", "2"], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        directory = None
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "workers.log").read_text()
            made = list(tmp_path.glob("zm-metrics-*"))
            if made and len(WorkerProcesses(str(made[0]), "intake").running()) == 2:
                directory = made[0]
                break
            time.sleep(0.2)
        assert directory is not None, "both workers started"
        workers = WorkerProcesses(str(directory), "intake").running()
        # Each request on a connection of its own, which the kernel hands to either worker, until both
        # have answered some.
        sent = 0
        while time.monotonic() < deadline and sent < 400:
            assert httpx.get(f"{url}/v1/reports", timeout=5).status_code == 401
            sent += 1
            counts = _per_worker_counts(directory, "/v1/reports")
            if len(counts) == 2 and all(counts.values()):
                break
        assert sorted(counts) == workers and all(0 < n < sent for n in counts.values()), counts
        assert sum(counts.values()) == sent
        for _ in range(6):  # whichever worker answers the scrape
            text = httpx.get(f"{url}/metrics", timeout=5).text
            assert value(text, "zm_http_request_duration_seconds_count", route="/v1/reports", status="401") == sent
            starts = {s.labels["pid"] for s in families(text)["process_start_time_seconds"].samples}
            assert starts == {str(pid) for pid in workers}, "each worker's own process metrics"
            assert value(text, "zm_build_info", service="intake") == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert not list(tmp_path.glob("zm-metrics-*")), "the metrics directory goes with the workers"


@pytest.mark.processes
def test_a_stopped_worker_keeps_its_counts_and_drops_its_process_metrics():
    shared = WorkerMetrics()
    script = ("import sys; from shared.observability import Metrics; m = Metrics('intake'); "
              "m.outbox_published.labels('intake').inc(3); print('ready', flush=True); sys.stdin.read()")
    try:
        worker = subprocess.Popen([sys.executable, "-c", script], env=shared.environment, cwd=ROOT,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert worker.stdout.readline().strip() == b"ready"
        processes = WorkerProcesses(str(shared.path), "intake")
        assert processes.running() == [worker.pid]
        assert {s.labels["pid"] for f in processes.collect() for s in f.samples} == {str(worker.pid)}
        worker.stdin.close()
        worker.wait(timeout=30)
        shared.exited(worker.pid)
        assert processes.running() == [] and list(processes.collect()) == []
        published = [s.value for f in MultiProcessCollector(None, path=str(shared.path)).collect()
                     for s in f.samples if s.name == "zm_outbox_published_total"]
        assert published == [3]
    finally:
        shared.remove()
    assert not os.path.exists(shared.path)
