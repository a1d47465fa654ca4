"""ThingSpeak averages and sums from the shared bucketed aggregation equal those computed from raw entries."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from services.api.thingspeak_buckets import bucketed_feed
from services.api.thingspeak_feeds import FeedQuery, _bucketed_sql
from tests.support.factories import make_dataset
from tests.support.readings import store

START = datetime(2026, 1, 31, 18, 0, tzinfo=UTC)


def raw_feed(conn, query: FeedQuery) -> list[tuple]:
    """The feed computed from raw entries (the general path)."""
    return conn.execute(_bucketed_sql(len(query.tags), query.aggregate, query.round_to), query.params()).fetchall()


@pytest.mark.parametrize(
    ("aggregate", "minutes", "limit", "round_to"),
    [("average", 10, 100, None), ("average", 60, 8000, 2), ("sum", 1440, 8000, None), ("sum", 30, 37, 1)],
)
def test_bucketed_feed_equals_raw_entries(settings, aggregate, minutes, limit, round_to):
    dataset = make_dataset(settings, variables=("field1", "field2"))
    rng = random.Random(minutes)
    readings = []
    for i in range(400):  # every 3 minutes for 20 hours, across a partition boundary, a field2 gap
        moment = START + timedelta(minutes=3 * i)
        readings.append(("", "field1", {}, moment, rng.randint(-50, 50) if i % 2 else round(rng.uniform(0, 9), 3)))
        if not 100 <= i < 160:
            readings.append(("", "field2", {}, moment, rng.randint(0, 1000)))
    store(settings, dataset.id, readings, entries=True)
    query = FeedQuery(
        dataset.id,
        ["field1", "field2", "@status"],
        limit=limit,
        aggregate=aggregate,
        step=timedelta(minutes=minutes),
        origin=datetime(2000, 1, 3, tzinfo=UTC),
        round_to=round_to,
    )
    with psycopg.connect(settings.database_url) as conn:
        ours = bucketed_feed(conn, query)
        raw = raw_feed(conn, query)
    assert ours is not None and len(ours) > 1
    assert [row[0] for row in ours] == [row[0] for row in raw]
    for mine, theirs in zip(ours, raw, strict=True):
        for a, b in zip(mine[2:], theirs[2:], strict=True):
            assert (a is None) == (b is None) and (a is None or float(a) == pytest.approx(float(b), rel=1e-12))


def test_it_steps_aside_where_it_does_not_apply(settings):
    dataset = make_dataset(settings, variables=("field1",))
    store(settings, dataset.id, [("a", "field1", {}, START, 1), ("b", "field1", {}, START, 2)])
    with psycopg.connect(settings.database_url) as conn:
        two_devices = FeedQuery(
            dataset.id,
            ["field1"],
            aggregate="average",
            step=timedelta(minutes=60),
            origin=datetime(2000, 1, 3, tzinfo=UTC),
        )
        assert bucketed_feed(conn, two_devices) is None
        local = datetime(2000, 1, 3, tzinfo=UTC) - timedelta(minutes=330)  # a +05:30 zone's midnight
        assert (
            bucketed_feed(conn, FeedQuery(dataset.id, ["x"], aggregate="sum", step=timedelta(days=1), origin=local))
            is None
        )
        assert (
            bucketed_feed(
                conn, FeedQuery(dataset.id, ["field1"], aggregate="median", step=timedelta(minutes=60), origin=local)
            )
            is None
        )


def test_it_steps_aside_for_values_that_are_not_thingspeak_entries(settings):
    dataset = make_dataset(settings, variables=("field1",))
    store(settings, dataset.id, [("", "field1", {}, START, 1)])  # e.g. line protocol: no entry id
    query = FeedQuery(
        dataset.id, ["field1"], aggregate="average", step=timedelta(minutes=60), origin=datetime(2000, 1, 3, tzinfo=UTC)
    )
    with psycopg.connect(settings.database_url) as conn:
        assert bucketed_feed(conn, query) is None  # the raw path, which shows entries only
        assert raw_feed(conn, query) == []
