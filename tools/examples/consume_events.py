"""A plain kafka-python consumer of Zhengming's events: it reads a topic, checks every event's
signature the way a consumer must, and prints the events it accepts, one JSON object a line.

    python tools/examples/consume_events.py --topic clarification.events --from-beginning

It needs only kafka-python and cryptography, and two files from the operators: the trust file (each
service's Ed25519 public keys; data/keys/event-trust.json under `make run`) and the event contract
(docs/asyncapi.json, or any service's GET /asyncapi.json), which says which service produces which
event type.

Consumer settings, and why (measured against the embedded broker of `make run`, Tansu 0.6):

* By default it joins no consumer group: it assigns itself every partition of the topic, so it reads
  within a second. A kafka-python consumer that subscribes with the default settings waits about
  half its session timeout (45 s by default) for its partitions -- some 23 s.
* `--group NAME` keeps its position under a group id (offsets committed after each batch is
  printed), still without joining the group: one running instance per group id.
* `--member NAME` shares the partitions among several instances: it subscribes as a static member
  (`group_instance_id`, unique per instance and the same across its restarts) with a 6 s session,
  and it is assigned partitions in about 6 s. A dynamic member that leaves while its group is forming
  (a Ctrl-C during those seconds) has been seen to hold the whole group up for 14 to over 20 minutes; a
  static member never sends that LeaveGroup, and a restarted one takes its own place back.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import signal
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from kafka import KafkaConsumer
from kafka.structs import OffsetAndMetadata, TopicPartition

ROOT = Path(__file__).resolve().parents[2]
SIGNED_ATTRIBUTES = (("id", "ce_id"), ("source", "ce_source"), ("type", "ce_type"), ("subject", "ce_subject"),
                     ("time", "ce_time"), ("datacontenttype", "content-type"))


class Refused(Exception):
    """An event not to be applied, and why."""


# --- what the operators give you ----------------------------------------------------------------


def load_trust(path: Path) -> dict[str, Ed25519PublicKey]:
    """Key id -> public key, for every key in the trust file (`{"<service>": ["<PEM>", ...]}`). A key
    id is `<service>-` and the first 16 hex digits of the SHA-256 of the raw 32-byte public key."""
    keys: dict[str, Ed25519PublicKey] = {}
    for service, pems in json.loads(path.read_text()).items():
        for pem in pems:
            key = serialization.load_pem_public_key(pem.encode())
            assert isinstance(key, Ed25519PublicKey), f"a key of {service} is not Ed25519"
            raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            keys[f"{service}-{hashlib.sha256(raw).hexdigest()[:16]}"] = key
    return keys


def load_producers(contract: str) -> dict[str, set[str]]:
    """Event type -> the `ce_source`s that may produce it, read from the AsyncAPI contract (a file,
    or a service's /asyncapi.json): each message's headers schema names them."""
    if contract.startswith(("http://", "https://")):
        with urllib.request.urlopen(contract, timeout=10) as answer:
            document = json.load(answer)
    else:
        document = json.loads(Path(contract).read_text())
    producers: dict[str, set[str]] = {}
    for name, message in document["components"]["messages"].items():
        for part in message.get("headers", {}).get("allOf", []):
            sources = part.get("properties", {}).get("ce_source", {}).get("enum")
            if sources:
                producers[name] = set(sources)
    return producers


# --- the checks a consumer makes before it uses an event ---------------------------------------


def verify(headers: Mapping[str, str], value: bytes, *, trust: Mapping[str, Ed25519PublicKey],
           producers: Mapping[str, set[str]]) -> dict[str, Any]:
    """The event's data if the event is genuine; Refused saying why otherwise."""
    source, event_type = headers.get("ce_source", ""), headers.get("ce_type", "")
    # 1. A type we know, from a source the contract names as its producer.
    if event_type not in producers:
        raise Refused(f"unknown event type {event_type!r}")
    if source not in producers[event_type]:
        raise Refused(f"{source!r} does not produce {event_type}")
    # 2. Signed with a key the operators trust for that very service.
    service = source.removeprefix("/zhengming/")
    key_id = headers.get("ce_signaturekeyid", "")
    key = trust.get(key_id)
    if key is None or not key_id.startswith(f"{service}-"):
        raise Refused(f"key {key_id!r} is not a trusted key of {service}")
    # 3. The signature covers these lines, then a blank line, then the value exactly as received
    #    (never re-serialize the JSON before checking).
    lines = [b"zhengming-event-signature/1"]
    for name, header in SIGNED_ATTRIBUTES:
        if header not in headers or "\n" in headers[header] or "\r" in headers[header]:
            raise Refused(f"attribute {name} is missing or holds a line break")
        lines.append(f"{name}={headers[header]}".encode())
    try:
        key.verify(base64.b64decode(headers.get("ce_signature", ""), validate=True),
                   b"\n".join(lines) + b"\n\n" + value)
    except (InvalidSignature, binascii.Error, ValueError) as exc:
        raise Refused("the signature does not verify") from exc
    # 4. Only now read the data; the subject the signature covers names the same report.
    data = json.loads(value)
    if "report_id" in data and data["report_id"] != headers.get("ce_subject"):
        raise Refused("the subject is not the data's report")
    if event_type.startswith("audit.anchored.") and data.get("service") != service:
        raise Refused(f"{service} signed an anchor about {data.get('service')!r}")
    return dict(data)


# --- reading the topic ---------------------------------------------------------------------------


def open_consumer(args: argparse.Namespace) -> KafkaConsumer:
    common: dict[str, Any] = {
        "bootstrap_servers": args.bootstrap,
        "enable_auto_commit": False,  # commit only what was handled (printed, here)
        "auto_offset_reset": "earliest" if args.from_beginning else "latest",
        "fetch_max_wait_ms": 100,  # how long an empty fetch is held: the delay a new event may see
    }
    if args.member:
        consumer = KafkaConsumer(
            group_id=args.member_group, group_instance_id=args.member,
            session_timeout_ms=6000, heartbeat_interval_ms=1000,  # a stopped member is let go after 6 s
            **common)
        consumer.subscribe([args.topic])
        return consumer
    consumer = KafkaConsumer(group_id=args.group, **common)
    deadline = time.monotonic() + 30
    while not (partitions := consumer.partitions_for_topic(args.topic)):
        if time.monotonic() > deadline:
            raise SystemExit(f"no topic {args.topic} on {args.bootstrap}")
        time.sleep(0.2)
    consumer.assign([TopicPartition(args.topic, p) for p in sorted(partitions)])
    return consumer


def run(args: argparse.Namespace) -> None:
    trust = load_trust(Path(args.trust))
    producers = load_producers(args.contract)
    consumer = open_consumer(args)
    seen: set[str] = set()  # an event may arrive twice (at least once): deduplicate on its id
    stop = False

    def stop_on_signal(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, stop_on_signal)
    signal.signal(signal.SIGINT, stop_on_signal)
    try:
        while not stop:
            for tp, records in consumer.poll(timeout_ms=500).items():
                for record in records:
                    headers = {name: (raw or b"").decode("utf-8", "replace") for name, raw in record.headers}
                    where = f"{tp.partition}/{record.offset}"
                    try:
                        data = verify(headers, record.value or b"", trust=trust, producers=producers)
                    except Refused as refused:
                        print(f"refused {where}: {refused}", file=sys.stderr, flush=True)
                        continue
                    if headers["ce_id"] in seen:
                        continue
                    seen.add(headers["ce_id"])
                    print(json.dumps({
                        "partition": tp.partition, "offset": record.offset,
                        "key": record.key.decode() if record.key else None,
                        "id": headers["ce_id"], "type": headers["ce_type"], "source": headers["ce_source"],
                        "subject": headers["ce_subject"], "time": headers["ce_time"],
                        "traceparent": headers.get("ce_traceparent"), "data": data,
                    }, ensure_ascii=False), flush=True)
                if args.group or args.member:
                    consumer.commit({tp: OffsetAndMetadata(records[-1].offset + 1, "", -1)})
    finally:
        consumer.close()


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--topic", default="clarification.events")
    parser.add_argument("--trust", default=str(ROOT / "data" / "keys" / "event-trust.json"),
                        help="the services' public keys (default: the one make run writes)")
    parser.add_argument("--contract", default=str(ROOT / "docs" / "asyncapi.json"),
                        help="the AsyncAPI contract: a file or a service's /asyncapi.json URL")
    parser.add_argument("--from-beginning", action="store_true", help="read what is already on the topic")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--group", help="keep the position under this group id (one instance per id)")
    mode.add_argument("--member", help="this instance's id as a static member of --member-group")
    parser.add_argument("--member-group", default="example-consumers")
    return parser.parse_args(argv)


if __name__ == "__main__":
    run(arguments())
