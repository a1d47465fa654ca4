"""Initial schema: users, datasets, variables, keys, devices, series, readings, rejected records.

Readings become a TimescaleDB hypertable when the server offers the extension, and a natively
range-partitioned table otherwise (partitions are created by the workers).

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects.postgresql import JSONB

from shared.config import get_settings
from shared.storage_mode import detect_timescaledb

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _ts(name: str, **kw) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), **kw)


def _created() -> sa.Column:
    return _ts("created_at", server_default=sa.func.now(), nullable=False)


def upgrade() -> None:
    settings = context.config.attributes.get("settings") or get_settings()
    op.create_table(
        "ownstream_meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.Text, nullable=False),
        _created(),
    )
    op.create_table(
        "datasets",
        sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
        sa.Column("owner_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("public", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("entry_count", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("last_entry_id", sa.BigInteger, nullable=False, server_default="0"),
        _ts("last_entry_at"),
        sa.Column("retention_days", sa.Integer),
        _created(),
        _ts("updated_at", server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("retention_days is null or retention_days > 0", name="retention"),
    )
    op.create_index("ix_datasets_owner_id", "datasets", ["owner_id"])
    op.create_table(
        "variables",
        sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
        sa.Column("dataset_id", sa.Integer, sa.ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("tag", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200), nullable=False, server_default=""),
        sa.Column("unit", sa.String(50)),
        sa.Column("position", sa.Integer, nullable=False, server_default="0"),
        _created(),
        sa.UniqueConstraint("dataset_id", "tag"),
    )
    op.create_table(
        "dataset_keys",
        sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
        sa.Column("dataset_id", sa.Integer, sa.ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        _created(),
        _ts("revoked_at"),
        sa.CheckConstraint("kind in ('read', 'write')", name="kind"),
    )
    op.create_index("ix_dataset_keys_dataset_id", "dataset_keys", ["dataset_id"])
    op.create_table(
        "devices",
        sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
        sa.Column("dataset_id", sa.Integer, sa.ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("device_id", sa.String(200), nullable=False),
        sa.Column("token_hash", sa.String(64), unique=True),
        _created(),
        _ts("updated_at", server_default=sa.func.now(), nullable=False),
        _ts("last_seen_at"),
        _ts("revoked_at"),
        sa.UniqueConstraint("dataset_id", "device_id"),
    )
    op.create_table(
        "user_tokens",
        sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False, server_default=""),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        _created(),
        _ts("last_used_at"),
        _ts("revoked_at"),
    )
    op.create_table(
        "events",
        sa.Column("dataset_id", sa.Integer, sa.ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("device", sa.String(200), nullable=False, server_default=""),
        sa.Column("type", sa.String(200), nullable=False),
        _ts("time", nullable=False),
        sa.Column("tag", sa.Text, nullable=False, server_default=""),
        sa.Column("fields", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.PrimaryKeyConstraint("dataset_id", "device", "type", "time", name="pk_events"),
    )
    op.create_index("ix_events_dataset_time", "events", ["dataset_id", "time"])
    op.create_table(
        "series",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("dataset_id", sa.Integer, sa.ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("device", sa.String(200), nullable=False, server_default=""),
        sa.Column("variable", sa.String(200), nullable=False),
        sa.Column("tags", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        _created(),
        sa.UniqueConstraint("dataset_id", "device", "variable", "tags"),
    )
    op.create_table(
        "rejected_records",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("dataset_id", sa.Integer, sa.ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
        _ts("received_at", nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("format", sa.String(20), nullable=False),
        sa.Column("device", sa.String(200), nullable=False, server_default=""),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("raw", sa.Text, nullable=False),
        _created(),
    )
    op.create_index("ix_rejected_records_dataset_id", "rejected_records", ["dataset_id", "id"])

    columns = """
        series_id bigint not null,
        time timestamptz not null,
        v_num double precision,
        v_int bigint,
        v_str text,
        v_bool boolean,
        entry_id bigint,
        primary key (series_id, time)
    """
    bind = op.get_bind()
    if detect_timescaledb(bind, settings.timescaledb):
        op.execute("create extension if not exists timescaledb")
        op.execute(f"create table readings ({columns})")
        op.execute(
            sa.text(
                "select create_hypertable('readings', 'time', chunk_time_interval => cast(:chunk as interval))"
            ).bindparams(chunk=settings.timescale_chunk_interval)
        )
        op.execute(
            "alter table readings set (timescaledb.compress, "
            "timescaledb.compress_segmentby = 'series_id', timescaledb.compress_orderby = 'time desc')"
        )
        op.execute(
            sa.text("select add_compression_policy('readings', cast(:after as interval))").bindparams(
                after=settings.timescale_compress_after
            )
        )
        mode = "timescaledb"
    else:
        op.execute(f"create table readings ({columns}) partition by range (time)")
        mode = "partitioned"
    op.execute(sa.text("insert into ownstream_meta (key, value) values ('storage_mode', :m)").bindparams(m=mode))


def downgrade() -> None:
    for table in (
        "readings",
        "rejected_records",
        "series",
        "events",
        "user_tokens",
        "devices",
        "dataset_keys",
        "variables",
        "datasets",
        "users",
        "ownstream_meta",
    ):
        op.drop_table(table)
