"""`zhengming`: operator commands — run, broker, migrate, token, outbox replay, dlq list and redrive, clock,
purge.

It speaks the operator's language: Chinese with ZM_LANGUAGE=zh-CN or a Chinese locale (LC_ALL,
LC_MESSAGES, LANG), English otherwise, from the catalogue (shared/catalogue.py)."""

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
from shared.messages import Language, Message, Term, language_of, localized
from shared.vocabulary import ORG_LEVELS


def language() -> Language:
    """The operator's language (ZM_LANGUAGE, else the locale)."""
    return language_of(os.environ)


def text(message_id: str, **params: Any) -> str:
    """The CLI's message `message_id` (shared/catalogue.py, CLI) in the operator's language."""
    return Message(f"cli.{message_id}", **params).in_language(language())


def problem_of(exc: BaseException) -> str:
    """What an exception says, in the operator's language when it is a catalogue message."""
    return str(localized(exc.args[0], language())) if exc.args else str(exc)


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
        say(text("migrating", step=i, steps=len(names), service=name))
        upgrade(entry.migrations_dir, settings.database_url)
        say(text("migrated", step=i, steps=len(names), service=name, revision=head_revision(entry.migrations_dir),
                 seconds=time.monotonic() - started))


# --- token --------------------------------------------------------------------------------------


NATIONWIDE = "nationwide"  # `--region nationwide`: a token serving every region (the empty prefix)


def token(args: argparse.Namespace) -> None:
    """Mint a development token with the signing key the services of this data folder verify with.
    Never makes a key: a token signed with a key no service knows is refused by all of them."""
    from cryptography.hazmat.primitives import serialization

    from shared.auth import mint_token, officer_key_id

    settings = SERVICES["intake"].settings()
    if not settings.private_key_path.exists():
        raise SystemExit(text("no_signing_key", path=settings.private_key_path))
    private_pem = settings.private_key_path.read_bytes()
    if settings.database_url.startswith("sqlite") and not any(
            (settings.data_dir / f"{name}.db").exists() for name in SERVICES):
        print(text("no_service_ran", data_dir=settings.data_dir), file=sys.stderr, flush=True)
    region = "" if args.region == NATIONWIDE else args.region
    minted = mint_token(
        private_pem, subject=args.sub, scopes=args.scopes.split(), region=region, org_level=args.org_level,
        ttl_s=args.ttl, issuer=settings.jwt_issuer, audience=settings.jwt_audience,
        max_ttl_s=settings.jwt_max_lifetime_hours * 3600)
    key_id = officer_key_id(serialization.load_pem_private_key(private_pem, None).public_key())
    print(text("signed_with", key_id=key_id, path=settings.private_key_path, region=region or text("nationwide")),
          file=sys.stderr, flush=True)
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
        say(text("queued", service=name, count=marked))
        if args.wait and marked:
            deadline = time.monotonic() + args.timeout
            while time.monotonic() < deadline:
                async with sessions() as session:
                    left = int(await session.scalar(
                        select(func.count()).where(OutboxMessage.sent_at.is_(None))) or 0)
                _progress(text("publishing", service=name), marked - min(left, marked), marked)
                if left == 0:
                    break
                await asyncio.sleep(0.5)
            print()
            if time.monotonic() >= deadline:
                say(text("still_publishing", service=name, seconds=args.timeout))
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
            print(text("cannot_read_dead_letters", service=name, error=type(exc).__name__), file=sys.stderr,
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
        say(text("no_dead_letters"))


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
            say(text("nothing_to_redrive", service=args.service))
        async with definition.resources(runtime) as own:
            handlers = {(f"{settings.service_name}{spec.subscriber_suffix}", spec.topic): spec.handler
                        for spec in [*definition.consumers(runtime, own), ANCHOR_CONSUMER]}
            for dead_letter_id in ids:
                try:
                    done = await redrive(uow_factory=runtime.uow, trust=runtime.trust, handlers=handlers,
                                         dead_letter_id=dead_letter_id, actor=f"cli:{getpass.getuser()}")
                except NoSuchDeadLetter:
                    failures += 1
                    say(json.dumps({"dead_letter_id": dead_letter_id, "outcome": "not_found"}) if args.json
                        else text("no_such_dead_letter", service=args.service, id=dead_letter_id))
                    continue
                failures += done.outcome == "failed"
                if args.json:
                    say(json.dumps({"service": args.service, "dead_letter_id": done.dead_letter_id,
                                    "event_id": done.event_id, "outcome": done.outcome, "detail": done.detail},
                                   ensure_ascii=False))
                else:
                    outcome = Term("redrive_outcome", done.outcome)
                    say(text("redriven_because", service=args.service, id=done.dead_letter_id, event_id=done.event_id,
                             outcome=outcome, detail=done.detail) if done.detail
                        else text("redriven", service=args.service, id=done.dead_letter_id, event_id=done.event_id,
                                  outcome=outcome))
    finally:
        await runtime.engine.dispose()
    return 1 if failures else 0


async def _dlq_discard(args: argparse.Namespace) -> int:
    """Drop dead letters that must never be applied (forged, obsolete), with a reason, audited."""
    import getpass

    from shared.redrive import NoSuchDeadLetter, discard
    from shared.runtime import build_runtime

    if len(args.reason.strip()) < 10:
        raise SystemExit(text("discard_reason"))
    definition = SERVICES[args.service]
    runtime = build_runtime(definition.settings(), definition.migrations_dir)
    failures = 0
    try:
        for dead_letter_id in args.id:
            try:
                event_id = await discard(uow_factory=runtime.uow, dead_letter_id=dead_letter_id,
                                         actor=f"cli:{getpass.getuser()}", reason=args.reason.strip())
                say(text("discarded", service=args.service, id=dead_letter_id, event_id=event_id))
            except NoSuchDeadLetter:
                failures += 1
                say(text("no_such_dead_letter", service=args.service, id=dead_letter_id))
    finally:
        await runtime.engine.dispose()
    return 1 if failures else 0


# --- retention -----------------------------------------------------------------------------------


def _held(holds: Any) -> str:
    return "; ".join(" ".join(part for part in (h.service, h.reason, h.object_id, f"({h.status})" if h.status else "")
                              if part) for h in holds)


async def _purge(args: argparse.Namespace) -> int:
    """One retention round of intake from the command line: each due report's personal data purged (or, with
    --dry-run, what would be) unless something holds it, one line per report as it goes."""
    import getpass

    from services.intake import retention
    from shared import clock
    from shared.db import utcnow
    from shared.runtime import build_runtime

    definition = SERVICES["intake"]
    settings = definition.settings()
    clock.use(settings.data_dir if settings.dev_clock else None)  # as the services see "now"
    runtime = build_runtime(settings, definition.migrations_dir)
    try:
        async with definition.resources(runtime) as own, retention.peers_of(runtime) as peers:
            rules = retention.Retention(years=settings.retention_years, actor=f"cli:{getpass.getuser()}",
                                        store=own.evidence, uow=runtime.uow)
            cut = retention.cutoff(utcnow(), rules.years)
            async with runtime.uow() as uow:
                total = await retention.count_due(uow, cut=cut)
            if args.limit is not None:
                total = min(total, args.limit)
            if not args.json:
                say(text("purge_due", count=total, years=rules.years, cutoff=china_time(cut)))
                if args.dry_run:
                    say(text("purge_dry_run"))
            step = 0

            def show(examined: retention.Examined) -> None:
                nonlocal step
                step += 1
                removed = examined.removed
                if args.json:  # one JSON object per line, for scripts
                    say(json.dumps({"report_id": examined.report_id, "outcome": examined.outcome,
                                    "holds": [h.__dict__ for h in examined.holds],
                                    "removed": None if removed is None else removed.as_details()}))
                    return
                counts = {} if removed is None else {"fields": len(removed.identity_fields),
                                                     "files": removed.attachments, "messages": removed.messages}
                say(text(f"purge_{examined.outcome}", step=step, steps=max(total, step), report_id=examined.report_id,
                         holds=_held(examined.holds), **counts))

            done = await retention.run_round(rules, peers, limit=args.limit, batch=settings.retention_batch_size,
                                             dry_run=args.dry_run, on_examined=show)
            if not args.json:
                say(text("purge_summary", purged=done.count("purged"), would=done.count("would_purge"),
                         held=done.count("held"), skipped=done.count("skipped")))
    finally:
        await runtime.engine.dispose()
        clock.use(None)
    return 0


# --- the development clock ------------------------------------------------------------------------


def clock_command(args: argparse.Namespace) -> None:
    from datetime import UTC, timedelta

    from shared import clock

    settings = SERVICES["intake"].settings()
    if settings.environment == "production":
        raise SystemExit(text("clock_production"))
    data_dir = settings.data_dir
    real = datetime.now(UTC)
    offset = clock.read_offset(data_dir / clock.FILE_NAME)
    if args.clock_command == "set":
        try:
            moment = datetime.fromisoformat(args.moment)
        except ValueError as exc:
            raise SystemExit(text("clock_not_iso", moment=repr(args.moment))) from exc
        if moment.tzinfo is None:
            raise SystemExit(text("clock_needs_offset"))
        offset = moment - real
    elif args.clock_command == "advance":
        try:
            offset += timedelta(days=args.days, hours=args.hours)
        except OverflowError as exc:
            raise SystemExit(text("clock_too_far")) from exc
    elif args.clock_command == "reset":
        offset = timedelta(0)
    if args.clock_command != "show":
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            clock.write_offset(data_dir, offset)
        except ValueError as exc:
            raise SystemExit(text("clock_refused", problem=problem_of(exc))) from exc
    say(text("clock_now", now=china_time(real + offset), offset=offset, real=china_time(real)))


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
            raise SystemExit(text("workers_need_api"))
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
                    say(text("worker_exited", service=name, pid=child.pid, code=child.returncode))
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
        say(text("broker_in_use", address=bootstrap))
    else:
        port = int(bootstrap.rsplit(":", 1)[1])
        say(text("broker_starting", address=bootstrap))
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
        say(text("stopping"))
        stop_all(children, said=lambda name: say(text("stopped", service=name)))
        if broker is not None:
            stop_all({"broker": broker}, timeout_s=5, said=lambda name: say(text("broker_stopped")))


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
        raise SystemExit(problem_of(exc)) from exc


def _print_welcome() -> None:
    say(text("running"))
    for name in SERVICES:
        port = SERVICES[name].settings().port  # type: ignore[attr-defined]
        say(f"  {name:<17} http://127.0.0.1:{port}/docs")
    say(text("mint_a_token"))
    say('  .venv/bin/zhengming token --sub alice --region 33 --org-level provincial \\\n'
        '      --scopes "reports:submit reports:read verification:read verification:write '
        'clarification:read clarification:write blacklist:check blacklist:read audit:read"')
    say(text("logs_and_stop"))


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
                raise SystemExit(text("keeps_exiting", service=name, code=code))
            say(text("restarting", service=name, code=code))
            restarts[name] = [*recent, time.monotonic()]
            children[name] = _spawn(name, data_dir)


# --- entry point ---------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zhengming", description=text("description"))
    sub = parser.add_subparsers(dest="command", required=True)

    p_run = sub.add_parser("run", help=text("help.run"))
    p_run.add_argument("service", nargs="?", choices=list(SERVICES))
    p_run.add_argument("--role", choices=["all", "api", "consumer", "relay"],
                       help=text("help.role"))
    p_run.add_argument("--port", type=int, help=text("help.port"))
    p_run.add_argument("--host", help=text("help.host"))
    p_run.add_argument("--workers", type=int, default=1,
                       help=text("help.workers"))
    p_run.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)  # set for each of --workers

    p_broker = sub.add_parser("broker", help=text("help.broker"))
    p_broker.add_argument("--port", type=int, default=9092)

    p_migrate = sub.add_parser("migrate", help=text("help.migrate"))
    p_migrate.add_argument("service", nargs="*", help=text("help.migrate_services", services=", ".join(SERVICES)))

    p_token = sub.add_parser("token", help=text("help.token"))
    p_token.add_argument("--sub", required=True, help=text("help.sub"))
    p_token.add_argument("--scopes", required=True, help=text("help.scopes"))
    p_token.add_argument("--region", required=True, help=text("help.region", nationwide=NATIONWIDE))
    p_token.add_argument("--org-level", default="county", choices=list(ORG_LEVELS), help=text("help.org_level"))
    p_token.add_argument("--ttl", type=int, default=8 * 3600, help=text("help.ttl"))

    p_outbox = sub.add_parser("outbox", help=text("help.outbox"))
    outbox_sub = p_outbox.add_subparsers(dest="outbox_command", required=True)
    p_replay = outbox_sub.add_parser("replay", help=text("help.replay"))
    p_replay.add_argument("--service", choices=list(SERVICES))
    p_replay.add_argument("--from-id", type=int)
    p_replay.add_argument("--to-id", type=int)
    p_replay.add_argument("--since", help=text("help.since"))
    p_replay.add_argument("--wait", action="store_true", help=text("help.wait"))
    p_replay.add_argument("--timeout", type=float, default=600)

    p_clock = sub.add_parser("clock", help=text("help.clock"))
    clock_sub = p_clock.add_subparsers(dest="clock_command", required=True)
    clock_sub.add_parser("show", help=text("help.clock_show"))
    p_set = clock_sub.add_parser("set", help=text("help.clock_set"))
    p_set.add_argument("moment")
    p_advance = clock_sub.add_parser("advance", help=text("help.clock_advance"))
    p_advance.add_argument("--days", type=float, default=0)
    p_advance.add_argument("--hours", type=float, default=0)
    clock_sub.add_parser("reset", help=text("help.clock_reset"))

    p_purge = sub.add_parser("purge", help=text("help.purge"))
    p_purge.add_argument("--dry-run", action="store_true", help=text("help.purge_dry_run"))
    p_purge.add_argument("--limit", type=int, help=text("help.purge_limit"))
    p_purge.add_argument("--json", action="store_true", help=text("help.json_lines"))

    p_dlq = sub.add_parser("dlq", help=text("help.dlq"))
    dlq_sub = p_dlq.add_subparsers(dest="dlq_command", required=True)
    p_list = dlq_sub.add_parser("list", help=text("help.dlq_list"))
    p_list.add_argument("--service", choices=list(SERVICES))
    p_list.add_argument("--limit", type=int, default=50)
    p_list.add_argument("--json", action="store_true", help=text("help.json"))
    p_redrive = dlq_sub.add_parser("redrive", help=text("help.redrive"))
    p_redrive.add_argument("--service", choices=list(SERVICES), required=True)
    which = p_redrive.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", type=int, action="append", help=text("help.dead_letter_id"))
    which.add_argument("--all", action="store_true", help=text("help.all"))
    p_redrive.add_argument("--reason", help=text("help.reason_filter"))
    p_redrive.add_argument("--json", action="store_true", help=text("help.json_lines"))
    p_discard = dlq_sub.add_parser("discard", help=text("help.discard"))
    p_discard.add_argument("--service", choices=list(SERVICES), required=True)
    p_discard.add_argument("--id", type=int, action="append", required=True, help=text("help.discard_id"))
    p_discard.add_argument("--reason", required=True, help=text("help.discard_reason"))
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.command == "run":
        if args.workers < 1:
            raise SystemExit(text("workers_at_least_one"))
        if args.service:
            run_one(args.service, role=args.role, port=args.port, host=args.host, workers=args.workers,
                    reuse_port=args.reuse_port)
        elif args.role or args.port or args.host or args.workers != 1:
            raise SystemExit(text("options_need_service"))
        else:
            run_all(args)
    elif args.command == "broker":
        proc = start_local_broker(args.port)
        say(text("broker_listening", port=args.port))
        try:
            proc.wait()
        except KeyboardInterrupt:
            proc.terminate()
    elif args.command == "migrate":
        unknown = [name for name in args.service if name not in SERVICES]
        if unknown:
            raise SystemExit(text("unknown_service", services=", ".join(unknown)))
        migrate(args.service or list(SERVICES))
    elif args.command == "token":
        try:
            token(args)
        except ValueError as exc:
            raise SystemExit(text("token_refused", problem=problem_of(exc))) from exc
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
    elif args.command == "purge":
        if args.limit is not None and args.limit < 1:
            raise SystemExit(text("purge_limit_at_least_one"))
        raise SystemExit(asyncio.run(_purge(args)))


if __name__ == "__main__":
    main()
