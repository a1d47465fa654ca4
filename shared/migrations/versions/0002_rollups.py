"""Rollups of numeric readings in 1-minute and 1-hour buckets (see shared.rollups).

Plain PostgreSQL: tables `rollup_1m` and `rollup_1h`, filled here from the readings already stored and then
kept by the workers in the transaction that writes the readings. TimescaleDB: continuous aggregates of the same
name and shape, with real-time aggregation and refresh policies.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from alembic import op
from sqlalchemy import text

from shared.rollups import (
    MERGED_STATE,
    NUMERIC,
    RAW_STATE,
    ROLLUPS,
    STATE_COLUMNS,
    STATE_DDL,
    bucket_of,
    continuous_aggregate,
)

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Refresh policies: the 1-minute aggregate often, the hourly one less; start_offset null covers all history,
# and a refresh only recomputes buckets whose readings changed (late, replaced or deleted data).
POLICIES = {"rollup_1m": ("1 minute", "1 minute"), "rollup_1h": ("1 hour", "5 minutes")}


def storage_mode() -> str:
    row = op.get_bind().execute(text("select value from ownstream_meta where key = 'storage_mode'")).first()
    return row[0] if row else "partitioned"


def upgrade() -> None:
    if storage_mode() == "timescaledb":
        for name, width in ROLLUPS:
            op.execute(continuous_aggregate(name, width))
            end_offset, every = POLICIES[name]
            op.execute(
                f"select add_continuous_aggregate_policy('{name}', start_offset => null, "
                f"end_offset => interval '{end_offset}', schedule_interval => interval '{every}')"
            )
        return
    for name, _ in ROLLUPS:
        op.execute(f"""
            create table {name} (
                series_id bigint not null references series (id) on delete cascade,
                bucket timestamptz not null,
                {STATE_DDL},
                primary key (series_id, bucket)
            )""")
    widths = dict(ROLLUPS)
    op.execute(f"""
        insert into rollup_1m (series_id, bucket, {STATE_COLUMNS})
        select series_id, {bucket_of("time", widths["rollup_1m"])}, {RAW_STATE}
        from readings where {NUMERIC} group by 1, 2""")
    op.execute(f"""
        insert into rollup_1h (series_id, bucket, {STATE_COLUMNS})
        select series_id, {bucket_of("bucket", widths["rollup_1h"])}, {MERGED_STATE}
        from rollup_1m group by 1, 2""")


def downgrade() -> None:
    if storage_mode() == "timescaledb":
        for name, _ in ROLLUPS:
            op.execute(f"drop materialized view if exists {name}")
        return
    for name, _ in ROLLUPS:
        op.execute(f"drop table if exists {name}")
