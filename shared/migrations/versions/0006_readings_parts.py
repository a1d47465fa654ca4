"""readings_in() split into its two parts, readings_hot() and readings_packed_in(), each callable on its own.

A reader that wants the rows in time order (a raw page) is fastest reading each part in order by itself: the hot
part straight from the primary key's index (no sort), the packed part sorted alone, and the two merged. Over the
union, PostgreSQL sorts every row. readings_in() stays the union of the two, defined once, here.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

import importlib

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

packed_readings = importlib.import_module("shared.migrations.versions.0003_packed_readings")
COLUMNS = packed_readings.COLUMNS
SIGNATURE = "(series_ids bigint[], lo timestamptz, hi timestamptz)"


def _function(name: str, body: str) -> None:
    op.execute(f"""
        create or replace function {name}{SIGNATURE}
        returns table ({COLUMNS})
        language sql stable parallel safe as $body${body}
        $body$
    """)


def upgrade() -> None:
    mode = op.get_bind().exec_driver_sql("select value from ownstream_meta where key = 'storage_mode'").scalar()
    _function("readings_hot", packed_readings.HOT)
    # On TimescaleDB nothing is packed (native compression does that): the packed part is always empty there.
    _function(
        "readings_packed_in", packed_readings.PACKED if mode != "timescaledb" else packed_readings.HOT + " and false"
    )
    union = "select * from readings_hot(series_ids, lo, hi)"
    if mode != "timescaledb":
        union += "\n    union all select * from readings_packed_in(series_ids, lo, hi)"
    _function("readings_in", "\n    " + union)


def downgrade() -> None:
    mode = op.get_bind().exec_driver_sql("select value from ownstream_meta where key = 'storage_mode'").scalar()
    body = packed_readings.HOT
    if mode != "timescaledb":
        body += "\n    union all" + packed_readings.PACKED
    _function("readings_in", body)
    op.execute(f"drop function readings_packed_in{SIGNATURE}")
    op.execute(f"drop function readings_hot{SIGNATURE}")
