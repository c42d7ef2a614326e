"""The sweep on a real database: it writes down the moves the date made due (window closed, period
ended) once each, also with two replicas at once and over several batches."""

import asyncio

from tests.factories import resident_id

# --- the sweep --------------------------------------------------------------------------------------


async def test_the_sweep_writes_down_activation_and_expiry_once_each(desk):
    entry_id = await desk.listed()
    assert await desk.sweep() == 0
    await desk.age(entry_id, 20)
    assert await asyncio.gather(desk.sweep(), desk.sweep()) in ([1, 0], [0, 1])  # two replicas at once
    stored = await desk.stored(entry_id)
    assert stored.status == "active" and stored.listed_from is not None
    assert await desk.sweep() == 0
    await desk.age(entry_id, 200)
    assert await desk.sweep() == 1
    assert (await desk.stored(entry_id)).status == "expired"
    events = await desk.events()
    assert [t for t, _ in events] == ["blacklist.entry_notified.v1", "blacklist.entry_activated.v1",
                                      "blacklist.entry_removed.v1"]
    assert events[2][1]["reason_code"] == "period_ended" and events[2][1]["status"] == "expired"
    assert events[1][1]["listed_until"] == stored.listed_until.isoformat()


async def test_the_sweep_works_through_more_than_one_batch(desk):
    ids = [await desk.listed(id_number=resident_id(seq=i)) for i in range(5)]
    for entry_id in ids:
        await desk.age(entry_id, 20)
    assert await desk.sweep(batch_size=2) == 5
    assert {(await desk.stored(i)).status for i in ids} == {"active"}
