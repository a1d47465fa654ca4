"""The intake: small flushes wait here until a worker makes many of them into one RQ job.

RQ costs a worker about 1.3 ms for each job it runs (registration, execution, finish) and a receiver a job build
for each flush, and a single push's flush carries a dozen or so messages: that fixed cost was most of a single
push's. So a receiver appends each small flush to one Redis list, `<namespace>:intake`, as one item, in the same
Lua call that allocates its entry ids and reads the backlog (one round trip, durable once answered: AOF). A worker
(services/worker/multijob.py) moves items from the intake's head to a holding list of its own, makes them into
RQ jobs of up to `enqueue_max_batch` messages, and in one MULTI/EXEC, watched on the holding list, queues the jobs
and drops the holding list. From there on they are ordinary RQ jobs (`rq info`, retries, the failed registry).

A worker killed between the two leaves its holding list behind, with a lease in `<namespace>:intake:holdings`;
once the lease has passed, any worker moves the items back to the intake's head. A worker that outlived its
lease (stalled for a minute) finds its holding list changed, and its EXEC queues nothing.

An item is the JSON text `[[first entry ids], [messages]]`: the script writes the ids it allocated (one per
dataset asking for entry ids, in dataset order) in front of the messages the receiver sent, and the worker
applies them as the receiver did (`apply_entry_ids`).
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import WatchError
from rq import Queue

from shared.config import Settings
from shared.queue import QueueMessage, add_messages

LEASE_S = 60  # how long a holding list is a worker's own; a worker holds items for milliseconds
RECOVER_EVERY_S = 10.0
TAKE_MOST_BYTES = 4 << 20  # a worker takes up to this much payload (and at least one item) at a time
TAKE_MOST_ITEMS = 2_000

# KEYS: intake, RQ queue, the entry-id counter of each dataset asking for ids; ARGV: the messages (a JSON array),
# then each counter's count. Returns {backlog, first ids...}, or {-1} when a counter does not exist yet (it must be
# seeded from the database first; nothing was changed).
PUSH = """
for i = 3, #KEYS do
    if redis.call('exists', KEYS[i]) == 0 then return {-1} end
end
local firsts = {}
for i = 3, #KEYS do
    local n = tonumber(ARGV[i - 1])
    firsts[#firsts + 1] = redis.call('incrby', KEYS[i], n) - n + 1
end
local items = redis.call('rpush', KEYS[1], '[[' .. table.concat(firsts, ',') .. '],' .. ARGV[1] .. ']')
local result = {items + redis.call('llen', KEYS[2])}
for i = 1, #firsts do result[i + 1] = firsts[i] end
return result
"""

# KEYS: intake, holding list, holdings; ARGV: most items, most bytes, lease end (epoch s). Moves items from the
# intake's head to the holding list and leases it; returns everything the holding list holds.
TAKE = """
local taken, size = 0, 0
while taken < tonumber(ARGV[1]) and size < tonumber(ARGV[2]) do
    local item = redis.call('lmove', KEYS[1], KEYS[2], 'LEFT', 'RIGHT')
    if not item then break end
    taken = taken + 1
    size = size + #item
end
local held = redis.call('lrange', KEYS[2], 0, -1)
if #held > 0 then redis.call('zadd', KEYS[3], ARGV[3], KEYS[2]) end
return held
"""

# KEYS: a holding list, intake, holdings; ARGV: now (epoch s). When the holding list's lease has passed, moves its
# items back to the intake's head (in their order) and ends the lease; returns how many items moved.
RECOVER = """
local lease = redis.call('zscore', KEYS[3], KEYS[1])
if not lease or tonumber(lease) > tonumber(ARGV[1]) then return 0 end
local moved = 0
while redis.call('lmove', KEYS[1], KEYS[2], 'RIGHT', 'LEFT') do moved = moved + 1 end
redis.call('zrem', KEYS[3], KEYS[1])
return moved
"""


def wanted(message: QueueMessage) -> int:
    """How many entry ids `message` asks for."""
    return int((message.get("params") or {}).get("entries", 0))


def entry_counts(messages: list[QueueMessage]) -> dict[int, int]:
    """How many entry ids the messages ask for, by dataset."""
    counts: dict[int, int] = {}
    for message in messages:
        if n := wanted(message):
            counts[message["dataset_id"]] = counts.get(message["dataset_id"], 0) + n
    return counts


def apply_entry_ids(messages: list[QueueMessage], firsts: dict[int, int]) -> None:
    """Set params.entry_id on each message asking for ids, in message order, from each dataset's first id."""
    nexts = dict(firsts)
    for message in messages:
        if n := wanted(message):
            message["params"]["entry_id"] = nexts[message["dataset_id"]]
            nexts[message["dataset_id"]] += n


def decode_item(item: bytes) -> list[QueueMessage]:
    """The messages of one intake item, with the entry ids the receiver's push allocated."""
    firsts, messages = orjson.loads(item)
    if firsts:
        apply_entry_ids(messages, dict(zip(sorted(entry_counts(messages)), firsts, strict=True)))
    return messages


def intake_key(settings: Settings) -> str:
    return f"{settings.redis_namespace}:intake"


def holdings_key(settings: Settings) -> str:
    return f"{settings.redis_namespace}:intake:holdings"


class IntakePush:
    """A receiver's side: one round trip appends a flush, allocates its entry ids and reads the backlog."""

    def __init__(self, settings: Settings, queue_key: str, counter_key: Any) -> None:
        self.intake = intake_key(settings)
        self.queue_key = queue_key
        self.counter_key = counter_key  # dataset id -> its entry-id counter's key

    def call(self, messages: list[QueueMessage], text: bytes) -> tuple[list[str], list[Any], list[int]]:
        """The script's keys and arguments for `messages` (`text`: as JSON), and the datasets asking for entry ids,
        in order."""
        counts = entry_counts(messages)
        datasets = sorted(counts)
        keys = [self.intake, self.queue_key, *(self.counter_key(d) for d in datasets)]
        return keys, [text, *(counts[d] for d in datasets)], datasets

    @staticmethod
    def answer(result: list[Any], messages: list[QueueMessage], datasets: list[int]) -> int | None:
        """The backlog once queued, with the entry ids set on `messages`; None when a counter must be seeded first."""
        if int(result[0]) < 0:
            return None
        if datasets:
            apply_entry_ids(messages, {d: int(v) for d, v in zip(datasets, result[1:], strict=True)})
        return int(result[0])


def backlog(redis: Redis, settings: Settings, queue_key: str) -> int:
    """Batches waiting: RQ jobs queued plus intake items."""
    with redis.pipeline(transaction=False) as pipe:
        pipe.llen(queue_key)
        pipe.llen(intake_key(settings))
        return sum(pipe.execute())


async def backlog_async(redis: AsyncRedis, settings: Settings, queue_key: str) -> int:
    async with redis.pipeline(transaction=False) as pipe:
        pipe.llen(queue_key)
        pipe.llen(intake_key(settings))
        return sum(await pipe.execute())


class Collector:
    """A worker's side: makes intake items into RQ jobs, through a holding list of its own (`name`)."""

    def __init__(self, redis: Redis, queue: Queue, settings: Settings, name: str) -> None:
        self.redis = redis
        self.queue = queue
        self.settings = settings
        self.intake = intake_key(settings)
        self.holdings = holdings_key(settings)
        self.holding = f"{self.holdings}:{name}"
        self._take = redis.register_script(TAKE)
        self._recover = redis.register_script(RECOVER)
        self._recovered_at = float("-inf")

    def collect(self) -> int:
        """Queue what waits in the intake (up to TAKE_MOST_BYTES of it) as RQ jobs; returns how many messages."""
        self.recover_due()
        return self.queue_held(self.take())

    def take(self) -> list[bytes]:
        """Move items from the intake's head to this collector's holding list, leased; returns all it holds."""
        return self._take(
            keys=[self.intake, self.holding, self.holdings],
            args=[TAKE_MOST_ITEMS, TAKE_MOST_BYTES, time.time() + LEASE_S],
        )

    def queue_held(self, held: list[bytes]) -> int:
        """Queue the `held` items as RQ jobs and drop the holding list, in one MULTI/EXEC; returns how many messages
        (none when the lease passed meanwhile and the items went back to the intake)."""
        if not held:
            return 0
        messages = [m for item in held for m in decode_item(item)]
        with self.redis.pipeline() as pipe:
            pipe.watch(self.holding)
            if pipe.llen(self.holding) != len(held):  # recovered before the watch
                return 0
            pipe.multi()
            add_messages(self.queue, self.settings, messages, pipe)
            pipe.delete(self.holding)
            pipe.zrem(self.holdings, self.holding)
            try:
                pipe.execute()
            except WatchError:  # recovered after it
                return 0
        return len(messages)

    def collect_all(self) -> int:
        """Collect until the intake is empty; returns how many messages were queued."""
        total = 0
        while n := self.collect():
            total += n
        return total

    def wait(self, timeout_s: int) -> bool:
        """Block until the intake holds an item (True) or `timeout_s` passes; takes nothing (a rotation in place)."""
        return self.redis.blmove(self.intake, self.intake, timeout_s, "RIGHT", "RIGHT") is not None

    def recover_due(self) -> int:
        """Every RECOVER_EVERY_S: move items of holding lists whose lease passed back to the intake."""
        if time.monotonic() - self._recovered_at < RECOVER_EVERY_S:
            return 0
        self._recovered_at = time.monotonic()
        return self.recover()

    def recover(self) -> int:
        moment = time.time()
        moved = 0
        holdings: list[bytes] = self.redis.zrangebyscore(self.holdings, "-inf", moment)  # type: ignore[assignment]
        for holding in holdings:
            moved += int(self._recover(keys=[holding, self.intake, self.holdings], args=[moment]))
        return moved
