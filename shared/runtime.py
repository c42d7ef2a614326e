"""What a running service holds, whatever the service: settings, database, keys, metrics, calendar.

Built once per process by the service's composition root (shared/composition.py); handlers, routes
and workers receive it typed, never by a string key."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.audit import AuditKeys, ensure_development_audit_keys
from shared.auth import TokenVerifier, ensure_development_keys
from shared.broker import KafkaSecurity
from shared.calendar import WorkingCalendar
from shared.crypto import FieldCipher, ensure_development_field_keys
from shared.db import create_engine, session_factory
from shared.events import PRODUCERS, SIGNING_SERVICES
from shared.observability import Metrics
from shared.settings import ServiceSettings
from shared.signing import EventTrust, ServiceKey, ensure_development_service_keys
from shared.uow import UnitOfWork

S = TypeVar("S", bound=ServiceSettings)


@dataclass
class Runtime(Generic[S]):
    """What a running service holds: settings, database, metrics, keys, background workers."""

    settings: S
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    metrics: Metrics
    verifier: TokenVerifier
    cipher: FieldCipher
    calendar: WorkingCalendar
    migrations_dir: Path
    signer: ServiceKey  # this service's own key: its events and its calls to other services
    trust: EventTrust  # whose signed events this service accepts, and whose service credentials
    kafka_security: KafkaSecurity
    audit_keys: AuditKeys  # the MAC keys of this service's audit chain
    # How to reach another service by name when not over the network (tests put in-process apps here).
    peer_transports: dict[str, httpx.AsyncBaseTransport] = field(default_factory=dict)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    outbox_written: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def source(self) -> str:
        return self.signer.source

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.sessions, signer=self.signer, audit_keys=self.audit_keys,
                          on_events_committed=self.outbox_written.set)


def ensure_development_material(settings: ServiceSettings) -> None:
    """Create the development keys this service needs when they do not exist yet (refused outside
    development and tests, where the files must be provided)."""
    ensure_development_keys(settings)
    ensure_development_field_keys(settings.field_keys_path, allowed=settings.development_keys_allowed)
    if settings.event_trust_file is None:
        ensure_development_service_keys(settings.keys_dir, SIGNING_SERVICES,
                                        allowed=settings.development_keys_allowed)
    if settings.audit_keys_file is None:
        ensure_development_audit_keys(settings.audit_keys_path, allowed=settings.development_keys_allowed)


def build_runtime(settings: S, migrations_dir: Path, metrics: Metrics | None = None,
                  peer_transports: dict[str, httpx.AsyncBaseTransport] | None = None) -> Runtime[S]:
    ensure_development_material(settings)
    signer = ServiceKey.from_file(settings.service_name, settings.signing_key_path)
    trust = EventTrust.from_file(settings.event_trust_path, PRODUCERS)
    if trust.key(signer.key_id) is None:
        # Its own events would be refused by every consumer, which is better found at start-up.
        raise RuntimeError(f"{settings.service_name}'s signing key {signer.key_id} is not in the trust file "
                           f"{settings.event_trust_path}")
    engine = create_engine(settings.database_url)
    return Runtime(
        settings=settings,
        engine=engine,
        sessions=session_factory(engine),
        metrics=metrics or Metrics(settings.service_name),
        verifier=TokenVerifier(
            settings.public_key_path.read_bytes(), issuer=settings.jwt_issuer, audience=settings.jwt_audience,
            max_lifetime_s=settings.jwt_max_lifetime_hours * 3600,
        ),
        cipher=FieldCipher.from_file(settings.field_keys_path),
        calendar=WorkingCalendar.from_settings(settings.calendar_overrides_file),
        migrations_dir=migrations_dir,
        signer=signer,
        trust=trust,
        kafka_security=KafkaSecurity.from_settings(settings),
        audit_keys=AuditKeys.from_file(settings.audit_keys_path),
        peer_transports=dict(peer_transports or {}),
    )
