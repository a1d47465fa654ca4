"""Entry ids (ThingSpeak's per-channel entry numbers): one Redis counter per dataset, allocated in bulk.

A counter missing from Redis (a new dataset, or a Redis that lost its data) is seeded from the database's
datasets.last_entry_id, which the workers keep equal to the largest stored entry id, so ids never go back.
"""

from __future__ import annotations

import asyncio

from psycopg_pool import ConnectionPool
from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import RedisError

from shared.intake import apply_entry_ids, entry_counts
from shared.queue import QueueMessage

# -1 for a counter that does not exist yet (it must be seeded first); otherwise the counter after INCRBY.
ALLOCATE = """
local out = {}
for i, key in ipairs(KEYS) do
    if redis.call('exists', key) == 0 then
        out[i] = -1
    else
        out[i] = redis.call('incrby', key, ARGV[i])
    end
end
return out
"""
SEED = "select id, last_entry_id from datasets where id = any(%s)"


class EntryIds:
    """Allocates entry ids for many datasets in one Redis round trip."""

    def __init__(self, redis: Redis, pool: ConnectionPool, namespace: str) -> None:
        self.redis = redis
        self.pool = pool
        self.namespace = namespace
        self._allocate = redis.register_script(ALLOCATE)

    def key(self, dataset_id: int) -> str:
        return f"{self.namespace}:entry-id:{dataset_id}"

    def allocate(self, counts: dict[int, int]) -> dict[int, int]:
        """The first of `counts[d]` consecutive new entry ids of each dataset d."""
        datasets = sorted(counts)
        last = self._run(datasets, counts)
        for _ in range(3):
            missing = [d for d in datasets if last[d] < 0]
            if not missing:
                return {d: last[d] - counts[d] + 1 for d in datasets}
            self.seed(missing)
            last.update(self._run(missing, counts))
        raise RedisError("entry id counters vanish as soon as they are seeded")

    def assign(self, messages: list[QueueMessage]) -> None:
        """Set params.entry_id on every message that asks for entry ids, in message order."""
        if counts := entry_counts(messages):
            apply_entry_ids(messages, self.allocate(counts))

    async def assign_async(self, redis: AsyncRedis, messages: list[QueueMessage]) -> None:
        """`assign` from an event loop: the allocation is one async round trip; seeding (rare) runs in a thread."""
        counts = entry_counts(messages)
        if not counts:
            return
        datasets = sorted(counts)
        keys, args = [self.key(d) for d in datasets], [counts[d] for d in datasets]
        values = await redis.eval(ALLOCATE, len(keys), *keys, *args)
        if any(int(v) < 0 for v in values):
            apply_entry_ids(messages, await asyncio.to_thread(self.allocate, counts))
            return
        apply_entry_ids(messages, {d: int(v) - counts[d] + 1 for d, v in zip(datasets, values, strict=True)})

    def _run(self, datasets: list[int], counts: dict[int, int]) -> dict[int, int]:
        values = self._allocate(keys=[self.key(d) for d in datasets], args=[counts[d] for d in datasets])
        return {d: int(v) for d, v in zip(datasets, values, strict=True)}

    def seed(self, datasets: list[int]) -> None:
        with self.pool.connection() as conn:
            stored: dict[int, int] = dict(conn.execute(SEED, (datasets,)).fetchall())
        with self.redis.pipeline(transaction=False) as pipe:
            for dataset_id in datasets:
                pipe.set(self.key(dataset_id), int(stored.get(dataset_id) or 0), nx=True)  # another process may win
            pipe.execute()
