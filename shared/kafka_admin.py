"""Topics: created with the configured partitions before a client uses them, never by the
broker's auto-creation (which would take its own default)."""

from __future__ import annotations

from collections.abc import Iterable

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from shared.broker import PLAINTEXT, KafkaSecurity


def ensure_topics(bootstrap: str, topics: Iterable[str], *, partitions: int,
                  security: KafkaSecurity = PLAINTEXT) -> None:
    """Create any of `topics` that do not exist yet, with `partitions` partitions each."""
    wanted = set(topics)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="zhengming-admin", request_timeout_ms=10_000,
                             **security.client_options())
    try:
        missing = wanted - set(admin.list_topics())
        for name in sorted(missing):
            try:
                admin.create_topics([NewTopic(name, partitions, 1)])
            except TopicAlreadyExistsError:
                pass  # another process created it between list and create
    finally:
        admin.close()
