"""Database models. The readings table itself is created by migration DDL (partitioned or hypertable)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Double,
    ForeignKey,
    Identity,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _now() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    # Every session cookie carries the epoch it was issued under; raising it ends all of them at once.
    session_epoch: Mapped[int] = mapped_column(Integer, server_default="0", default=0)
    created_at: Mapped[datetime] = _now()

    datasets: Mapped[list[Dataset]] = relationship(back_populates="owner")


class Dataset(Base):
    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, server_default="", default="")
    public: Mapped[bool] = mapped_column(Boolean, server_default=text("false"), default=False)
    entry_count: Mapped[int] = mapped_column(BigInteger, server_default="0", default=0)
    last_entry_id: Mapped[int] = mapped_column(BigInteger, server_default="0", default=0)
    last_entry_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    retention_days: Mapped[int | None] = mapped_column(Integer)
    # on: a reading for an unregistered variable registers it; off: it is refused naming the variable
    accept_new_variables: Mapped[bool] = mapped_column(Boolean, server_default=text("false"), default=False)
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()

    owner: Mapped[User] = relationship(back_populates="datasets")
    variables: Mapped[list[Variable]] = relationship(
        back_populates="dataset", order_by="Variable.position", cascade="all, delete-orphan"
    )
    keys: Mapped[list[DatasetKey]] = relationship(back_populates="dataset", cascade="all, delete-orphan")

    __table_args__ = (CheckConstraint("retention_days is null or retention_days > 0", name="retention"),)


class Variable(Base):
    __tablename__ = "variables"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    tag: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200), server_default="", default="")
    unit: Mapped[str | None] = mapped_column(String(50))
    position: Mapped[int] = mapped_column(Integer, server_default="0", default=0)
    # made by the owner, not registered on first sight: only these take ThingSpeak's field1..field8
    declared: Mapped[bool] = mapped_column(Boolean, server_default=text("true"), default=True)
    created_at: Mapped[datetime] = _now()

    dataset: Mapped[Dataset] = relationship(back_populates="variables")

    __table_args__ = (UniqueConstraint("dataset_id", "tag"),)


class DatasetKey(Base):
    __tablename__ = "dataset_keys"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = _now()
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    dataset: Mapped[Dataset] = relationship(back_populates="keys")

    __table_args__ = (CheckConstraint("kind in ('read', 'write')", name="kind"),)


class Device(Base):
    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    device_id: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (UniqueConstraint("dataset_id", "device_id"),)


class UserToken(Base):
    """A personal API token: acts as its user on the management API."""

    __tablename__ = "user_tokens"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100), server_default="", default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = _now()
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Event(Base):
    """A device event (AutoPi `event.*` records): a type, a tag and its fields, at a time."""

    __tablename__ = "events"

    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True)
    device: Mapped[str] = mapped_column(String(200), primary_key=True, server_default="", default="")
    type: Mapped[str] = mapped_column(String(200), primary_key=True)
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    tag: Mapped[str] = mapped_column(Text, server_default="", default="")
    fields: Mapped[dict] = mapped_column(JSONB, server_default=text("'{}'::jsonb"), default=dict)


class Series(Base):
    """One time series: a variable of a dataset, from one device (or none), with one tag set."""

    __tablename__ = "series"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    device: Mapped[str] = mapped_column(String(200), server_default="", default="")
    variable: Mapped[str] = mapped_column(String(200))
    tags: Mapped[dict] = mapped_column(JSONB, server_default=text("'{}'::jsonb"), default=dict)
    created_at: Mapped[datetime] = _now()

    __table_args__ = (UniqueConstraint("dataset_id", "device", "variable", "tags"),)


class RejectedRecord(Base):
    """A record that was accepted on the wire but could not be normalized, kept with its reason."""

    __tablename__ = "rejected_records"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    source: Mapped[str] = mapped_column(String(20))
    format: Mapped[str] = mapped_column(String(20))
    device: Mapped[str] = mapped_column(String(200), server_default="", default="")
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()


# Readings: narrow, one row per value; exactly one of the value columns is set.
# Created by migrations as a partitioned table or a TimescaleDB hypertable; declared here for queries.
readings = Table(
    "readings",
    Base.metadata,
    Column("series_id", BigInteger, nullable=False),
    Column("time", DateTime(timezone=True), nullable=False),
    Column("v_num", Double),
    Column("v_int", BigInteger),
    Column("v_str", Text),
    Column("v_bool", Boolean),
    Column("entry_id", BigInteger),  # ThingSpeak-style entry number of the push that carried it
    info={"created_by_migration": True},
)

# Cold readings packed by worker maintenance (services/worker/packing.py, migration 0003): arrays of one series' values.
readings_packed = Table(
    "readings_packed",
    Base.metadata,
    Column("series_id", BigInteger, nullable=False),
    Column("start", DateTime(timezone=True), nullable=False),
    info={"created_by_migration": True},
)
