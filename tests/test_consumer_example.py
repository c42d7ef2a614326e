"""The example consumer in tools/examples (what the README gives an integrator) against the real
broker: it prints a signed event within seconds, refuses a forged one, keeps its position under a
group id, and as a static group member survives being stopped while its group forms."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from kafka.structs import MemberState

from shared.event_examples import examples
from shared.events import encode
from shared.signing import ServiceKey, trust_document
from tests.kafka_helpers import produce_event, produce_raw
from tests.keys import SERVICE_KEYS

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "tools" / "examples" / "consume_events.py"
TOPIC = "clarification.events"
pytestmark = pytest.mark.broker


class Running:
    """The example consumer as a process, its output read line by line."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.refusals: list[str] = []

    async def next_event(self, *, within_s: float) -> dict[str, Any]:
        """The next event it prints, or a failure after `within_s` seconds."""
        assert self.process.stdout is not None
        try:
            line = await asyncio.wait_for(self.process.stdout.readline(), timeout=within_s)
        except TimeoutError:
            raise AssertionError(f"the example printed nothing within {within_s} s") from None
        assert line, f"the example ended: {await self._stderr()}"
        return dict(json.loads(line))

    async def nothing_more(self, *, for_s: float) -> None:
        assert self.process.stdout is not None
        with contextlib.suppress(TimeoutError):
            line = await asyncio.wait_for(self.process.stdout.readline(), timeout=for_s)
            raise AssertionError(f"the example printed {line!r}")

    async def stop(self) -> str:
        """Stop it as Ctrl-C would; what it wrote on standard error."""
        if self.process.returncode is None:
            self.process.terminate()
        await asyncio.wait_for(self.process.wait(), timeout=20)
        return await self._stderr()

    async def _stderr(self) -> str:
        assert self.process.stderr is not None
        return (await self.process.stderr.read()).decode()


@contextlib.asynccontextmanager
async def example(*args: str) -> AsyncIterator[Running]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(EXAMPLE), *args, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    running = Running(process)
    try:
        yield running
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


@pytest.fixture
def trust_file(tmp_path: Path) -> Path:
    """What the operators hand an integrator: the services' public keys."""
    path = tmp_path / "event-trust.json"
    path.write_text(trust_document({service: [key.public_pem()] for service, key in SERVICE_KEYS.items()}))
    return path


def an_event(n: int) -> Any:
    """A clarification event of report `r-<n>`, as clarification publishes it."""
    data = examples()["clarification.opened.v1"].data
    return data.model_copy(update={"report_id": f"r-{n}", "clarification_id": f"c-{n}"})


async def test_the_example_consumer_prints_a_signed_event_within_seconds_and_refuses_a_forged_one(
        broker, trust_file):
    await produce_event(broker, an_event(1), key="r-1")
    async with example("--bootstrap", broker, "--topic", TOPIC, "--trust", str(trust_file),
                       "--from-beginning") as consumer:
        first = await consumer.next_event(within_s=15)
        assert (first["type"], first["source"], first["key"]) == ("clarification.opened.v1",
                                                                  "/zhengming/clarification", "r-1")
        assert first["data"]["clarification_id"] == "c-1" and first["subject"] == "r-1"

        # A forgery (clarification's name, a key no one trusts) and a genuine event altered on the way are
        # refused; the genuine event after them comes through, and fast: no consumer-group join to wait for.
        impostor = ServiceKey("clarification", Ed25519PrivateKey.generate())
        await produce_event(broker, an_event(2), key="r-2", signer=impostor)
        _, genuine = encode(an_event(4), key="r-4", source="/zhengming/clarification",
                            signer=SERVICE_KEYS["clarification"])
        await produce_raw(broker, TOPIC, key=b"r-4", value=genuine.value.replace(b"r-4", b"r-5"),
                          headers=[(k, v.encode()) for k, v in genuine.headers.items()])
        published = time.monotonic()
        await produce_event(broker, an_event(3), key="r-3")
        third = await consumer.next_event(within_s=10)
        assert third["data"]["clarification_id"] == "c-3"
        assert time.monotonic() - published < 5
        errors = await consumer.stop()
    assert "is not a trusted key of clarification" in errors and "the signature does not verify" in errors


async def test_with_a_group_id_the_example_consumer_resumes_where_it_stopped(broker, trust_file):
    args = ("--bootstrap", broker, "--topic", TOPIC, "--trust", str(trust_file), "--from-beginning",
            "--group", "an-integrator")
    await produce_event(broker, an_event(1), key="r-1")
    async with example(*args) as consumer:
        assert (await consumer.next_event(within_s=15))["key"] == "r-1"
        await consumer.stop()
    await produce_event(broker, an_event(2), key="r-2")
    async with example(*args) as consumer:
        assert (await consumer.next_event(within_s=15))["key"] == "r-2"  # not r-1 again
        await consumer.nothing_more(for_s=1)
        await consumer.stop()


async def test_a_member_stopped_while_its_group_forms_does_not_hold_the_group_up(broker, trust_file):
    """On the local broker a dynamic member that leaves while its group forms stays the group's
    awaited leader, and nobody gets partitions for many minutes. The example's group member
    (`--member`) is static: it never sends that LeaveGroup, and its restart takes its place back."""
    args = ["--bootstrap", broker, "--topic", TOPIC, "--trust", str(trust_file), "--from-beginning",
            "--member", "desk-1", "--member-group", "integrators"]
    await produce_event(broker, an_event(1), key="r-1")
    await asyncio.to_thread(join_and_leave_midway, example_module().arguments(args))
    async with example(*args) as consumer:
        assert (await consumer.next_event(within_s=30))["key"] == "r-1"
        await consumer.stop()


def example_module() -> Any:
    spec = importlib.util.spec_from_file_location("consume_events", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def join_and_leave_midway(args: Any) -> None:
    """Open the example's consumer, poll until its group join is under way, and close it then."""
    consumer = example_module().open_consumer(args)
    deadline = time.monotonic() + 15
    while consumer._coordinator.state is not MemberState.REBALANCING:  # no public accessor
        assert time.monotonic() < deadline, "the consumer never started joining its group"
        consumer.poll(timeout_ms=50)
    consumer.close()
