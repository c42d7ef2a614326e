"""What the services cost while nothing happens: RSS and CPU of every process, idle.

Two set-ups, each started fresh, left to settle (consumer groups formed, start-up work done), then
sampled over a fixed window from /proc (utime+stime at both ends, VmRSS at the end):

- the benchmark cluster (tools/cluster.py): PostgreSQL, each service's API, consumer and relay as
  separate processes;
- `zhengming run` (what `make run` starts): SQLite, one process per service doing all three.

    .venv/bin/python -m bench.idle [--window 60] [--settle 20] [--only cluster,run]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from services.registry import SERVICES
from shared.broker import die_with_parent, free_port
from tools.cluster import Cluster

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User and system CPU the process has used so far."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()  # after the command name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def sample(pids: dict[str, int], window_s: float) -> dict[str, dict[str, float]]:
    """Each process's CPU over `window_s` (% of one core) and its RSS at the end."""
    start = {name: cpu_seconds(pid) for name, pid in pids.items()}
    t0 = time.monotonic()
    time.sleep(window_s)  # the measured window itself: nothing to wait for
    elapsed = time.monotonic() - t0
    return {name: {"rss_mb": rss_mb(pid),
                   "cpu_percent": round(100 * (cpu_seconds(pid) - start[name]) / elapsed, 2)}
            for name, pid in pids.items()}


def by_kind(processes: dict[str, dict[str, float]], kind_of: dict[str, str]) -> dict[str, dict[str, float]]:
    """The worst (highest) RSS and CPU among the processes of each kind, and how many there were."""
    kinds: dict[str, dict[str, float]] = {}
    for name, figures in processes.items():
        kind = kinds.setdefault(kind_of[name], {"processes": 0, "rss_mb_max": 0.0, "cpu_percent_max": 0.0})
        kind["processes"] += 1
        kind["rss_mb_max"] = max(kind["rss_mb_max"], figures["rss_mb"])
        kind["cpu_percent_max"] = max(kind["cpu_percent_max"], figures["cpu_percent"])
    return kinds


def cluster_idle(workdir: Path, window_s: float, settle_s: float, lulls_s: tuple[float, ...] = ()) -> dict[str, Any]:
    """The benchmark cluster (PostgreSQL; API, consumer and relay of each service apart), idle; then,
    after each of `lulls_s`, one report and how long until verification has its case."""
    cluster = Cluster(workdir / "idle-cluster")
    cluster.start()
    try:
        _settle(settle_s)
        pids = {p.name: p.popen.pid for p in cluster.processes.values() if p.popen}  # type: ignore[misc]
        kind_of = {name: cluster.processes[name].role for name in pids}
        if cluster.broker is not None:
            pids["broker"] = cluster.broker.pid
            kind_of["broker"] = "broker"
        processes = sample(pids, window_s)
        out = {"database": "postgresql", "window_s": window_s, "settle_s": settle_s,
               "kinds": by_kind(processes, kind_of), "processes": processes}
        if lulls_s:
            out["first_report_after_a_lull_ms"] = first_after_lulls(cluster, lulls_s)
        return out
    finally:
        cluster.stop()


def first_after_lulls(cluster: Cluster, lulls_s: tuple[float, ...]) -> list[dict[str, float]]:
    """A report after a lull meets consumers whose fetches the broker holds longest: the time from
    intake's 201 until verification has the case, for one report after each lull (the first lull is
    the idle window just sampled)."""
    import asyncio
    import random

    from bench.run import _opened_at, realistic_body

    rng = random.Random(3)
    headers = {"Authorization": f"Bearer {cluster.token('reports:submit')}"}
    measured = []
    with httpx.Client(base_url=cluster.api("intake"), headers=headers, timeout=15) as client:
        for i, lull in enumerate(lulls_s):
            if i:
                time.sleep(lull)  # the lull itself: nothing to wait for
            accepted = time.time()
            report_id = client.post("/v1/reports", json=realistic_body(20_000 + i, rng)).json()["id"]
            deadline = time.monotonic() + 60
            while report_id not in (opened := asyncio.run(_opened_at(cluster.dsn("verification")))):
                if time.monotonic() > deadline:
                    raise RuntimeError("a report after a lull did not reach verification within 60 s")
                time.sleep(0.02)
            measured.append({"lull_s": lull, "ms": round((opened[report_id] - accepted) * 1000, 1)})
    return measured


def run_idle(workdir: Path, window_s: float, settle_s: float) -> dict[str, Any]:
    """`zhengming run` (SQLite; each service one process: API, consumers and relay), idle."""
    data_dir = workdir / "idle-run"
    data_dir.mkdir(parents=True, exist_ok=True)
    ports = {name: free_port() for name in SERVICES}
    env = {**os.environ, "ZM_DATA_DIR": str(data_dir), "ZM_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",
           "ZM_AUDIT_PEERS": ",".join(f"{name}=http://127.0.0.1:{port}" for name, port in ports.items())}
    for name, port in ports.items():
        env[f"ZM_{name.upper()}_PORT"] = str(port)
    env.pop("ZM_DATABASE_URL", None)
    log = open(data_dir / "zhengming-run.log", "ab")
    root = subprocess.Popen([sys.executable, "-m", "services", "run"], env=env, stdout=log,
                            stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
    try:
        for port in ports.values():
            _wait_ready(f"http://127.0.0.1:{port}", root, timeout_s=180)
        _settle(settle_s)
        # The supervising `zhengming run` itself (it starts, restarts and stops the others) counts too.
        pids, kind_of = {"zhengming run": root.pid}, {"zhengming run": "supervisor"}
        for pid in _children(root.pid):
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            words = [w.decode(errors="replace") for w in command]
            service = next((w for w in words if w in SERVICES), None)
            name = service or "broker"
            pids[name], kind_of[name] = pid, "all" if service else "broker"
        processes = sample(pids, window_s)
        return {"database": "sqlite", "window_s": window_s, "settle_s": settle_s,
                "kinds": by_kind(processes, kind_of), "processes": processes}
    finally:
        root.send_signal(signal.SIGTERM)
        try:
            root.wait(timeout=60)
        except subprocess.TimeoutExpired:
            root.kill()
            root.wait()
        log.close()


def _children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _settle(seconds: float) -> None:
    """Consumer groups form (a join takes about half the session timeout, and each member that joins
    rebalances the group again) and start-up work ends; only then is a process idle."""
    time.sleep(seconds)


def _wait_ready(url: str, root: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if root.poll() is not None:
            raise RuntimeError(f"zhengming run exited with {root.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} was not ready within {timeout_s:.0f} s")


def idle(workdir: Path, quick: bool, parts: tuple[str, ...] = ("cluster", "run")) -> dict[str, Any]:
    """The benchmark step: both set-ups, 20 s windows (quick) or 60 s."""
    window_s, settle_s = (20.0, 15.0) if quick else (60.0, 30.0)
    lulls = (window_s, 5.0, 10.0) if quick else (window_s, 2.0, 5.0, 10.0, 30.0)
    out: dict[str, Any] = {}
    if "cluster" in parts:
        out["cluster"] = cluster_idle(workdir, window_s, settle_s, lulls)
    if "run" in parts:
        out["zhengming_run"] = run_idle(workdir, window_s, settle_s)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.idle", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--settle", type=float, default=20.0)
    parser.add_argument("--only", default="cluster,run")
    parser.add_argument("--lulls", default="", help="seconds, comma-separated: a report after each (cluster)")
    parser.add_argument("--workdir", type=Path, default=Path(__file__).resolve().parent.parent / "data" / "bench"
                        / time.strftime("idle-%Y%m%dT%H%M%S"))
    args = parser.parse_args(argv)
    parts = args.only.split(",")
    out: dict[str, Any] = {}
    if "cluster" in parts:
        lulls = tuple(float(x) for x in args.lulls.split(",") if x)
        out["cluster"] = cluster_idle(args.workdir, args.window, args.settle, lulls)
    if "run" in parts:
        out["zhengming_run"] = run_idle(args.workdir, args.window, args.settle)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
