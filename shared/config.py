"""One settings object for every Ownstream process, read from OWNSTREAM_* environment variables."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET_KEY = "dev-insecure-secret-key-change-me"
DEV_MQTT_PASSWORD = "dev-insecure-bridge-password"


class Settings(BaseSettings):
    """Ownstream configuration; every field maps to OWNSTREAM_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="OWNSTREAM_", env_file=".env", extra="ignore")

    environment: Literal["development", "production", "test"] = "development"
    database_url: str = "postgresql://postgres@127.0.0.1:5432/ownstream"
    # A streaming replica the API reads readings from (writes and key checks stay on database_url); "": none.
    read_database_url: str = ""
    redis_url: str = "redis://127.0.0.1:6379/0"
    mqtt_url: str = "mqtt://127.0.0.1:1883"
    secret_key: str = DEV_SECRET_KEY

    # The MQTT bridge's own broker account (deploy/mosquitto/acl grants this user the subscriptions).
    mqtt_username: str = "ownstream-bridge"
    mqtt_password: str = DEV_MQTT_PASSWORD
    # stable per bridge process (its persistent session); default: a free slot of ownstream-bridge-<host>-<install>-<n>
    mqtt_client_id: str = ""
    mqtt_session_expiry_s: int = Field(default=86_400, ge=1, description="broker keeps a bridge's queue this long")
    mqtt_receive_maximum: int = Field(default=5000, ge=1, le=65_535, description="unacknowledged messages in flight")
    mqtt_batch_max: int = Field(default=2000, ge=1, description="messages per enqueue at most")
    mqtt_batch_wait_ms: float = Field(default=5.0, ge=0, description="how long a batch waits for more messages")
    mqtt_message_id_ttl_s: int = Field(default=86_400, ge=1, description="a device's message-id is kept this long")
    mqtt_metrics_port: int = 0  # Prometheus metrics of the bridge on this port (0: off)
    # Per-device broker accounts (Mosquitto's dynamic security plugin, deploy/mosquitto/dynsec.conf): registering,
    # refreshing and revoking a device also changes its broker account, through $CONTROL as this admin user; the
    # bridge then trusts the broker on `registered/{dataset}/{device}/...` topics.
    mqtt_dynsec: bool = False
    mqtt_admin_username: str = "ownstream-admin"
    mqtt_admin_password: str = ""
    mqtt_admin_timeout_s: float = Field(default=5.0, gt=0, description="wait this long for the broker's answers")

    host: str = "127.0.0.1"
    port: int = 8000
    ingest_port: int = 8001
    api_port: int = 8002
    http_processes: int = Field(default=1, ge=1, description="uvicorn worker processes for `up`")
    workers: int = Field(default=2, ge=0, description="RQ worker processes started by `up`")
    # Prometheus metrics of a worker on this port (0: off); `up` gives its N-th worker this port + N - 1.
    worker_metrics_port: int = Field(default=0, ge=0, le=65_535)
    log_format: Literal["text", "json"] = "text"

    queue_name: str = "ownstream-ingest"
    redis_namespace: str = "ownstream"  # prefix of Ownstream's own Redis keys (not RQ's)
    job_timeout_s: int = 300
    # A write that fails for a passing reason (database down) is retried inside the job for write_patience_s, then
    # the job goes straight back on the queue (no retry interval: that would need RQ's scheduler, whose lock a killed
    # worker holds for minutes), up to job_retry_max times: more than two days of outage.
    write_patience_s: float = 20.0
    # A worker killed mid-batch stops heart-beating; its batch is retried after the heartbeat TTL has passed and
    # the next maintenance run (any worker) has found it.
    worker_heartbeat_ttl_s: int = Field(default=20, ge=2)
    worker_maintenance_interval_s: int = Field(default=10, ge=1)
    retention_interval_s: float = Field(default=300, ge=1, description="how often a worker applies retention")
    # Plain PostgreSQL: readings of UTC days that ended pack_after_s ago are packed (services/worker/packing.py).
    pack_after_s: int = Field(default=172_800, ge=0, description="pack readings older than this")
    # hourly is plenty: a day crosses the cutoff once a day, and each run scans the partly packed partition for old rows
    pack_interval_s: float = Field(default=3600, ge=1, description="how often a worker packs cold readings")
    job_retry_max: int = 10_000
    # A worker takes up to worker_batch_jobs queued jobs (carrying up to worker_batch_messages messages) per
    # database transaction: one write, one commit, the RQ bookkeeping of all of them in one round trip.
    worker_batch_jobs: int = Field(default=20, ge=1)
    worker_batch_messages: int = Field(default=10_000, ge=1)
    # ... and stops gathering once they carry this much payload: the backlog of large jobs is spread over the workers
    # rather than taken by one into a single long transaction while the others wait on an empty queue
    worker_batch_bytes: int = Field(default=1024 * 1024, ge=1)
    # ... and when the queue runs dry while it gathers, waits this long once for more (0: never waits; nor does a
    # worker idle for longer than this). Readings become readable up to this much later; a device's
    # acknowledgement does not wait for it.
    worker_batch_linger_ms: int = Field(default=100, ge=0, le=1000)
    # Backpressure: receivers flush at once (an acknowledgement never waits on the workers) until this many jobs
    # wait in the queue; past it HTTP answers 503 with Retry-After and the MQTT bridge holds its PUBACKs.
    queue_max_backlog: int = Field(default=20_000, ge=1, description="jobs waiting in the queue at most")
    backlog_retry_after_s: int = Field(default=2, ge=1, description="Retry-After of a 503 at the backlog limit")
    enqueue_max_batch: int = Field(default=500, ge=1, description="queue messages per RQ job at most")

    http_header_timeout_s: float = Field(default=10.0, gt=0, description="a request's headers must arrive in this")
    http_body_timeout_s: float = Field(default=60.0, gt=0, description="a request's body must arrive in this")
    # Ingest requests (HTTP) and messages (MQTT) per second per write key or device, counted in Redis across every
    # receiver process and bridge (0: no limit), and how many may come at once (0: as many as one second's worth).
    ingest_rate_per_key: float = Field(default=0.0, ge=0)
    ingest_burst_per_key: float = Field(default=0.0, ge=0)
    # Server time (ms) one caller's reads may take per minute, across API processes (0: no limit).
    read_cost_ms_per_minute: int = Field(default=60_000, ge=0)
    max_body_bytes: int = Field(default=1_048_576, ge=1024, description="request body limit (decoded)")
    max_records: int = Field(default=1000, ge=1, description="records in one AutoPi array / native batch")
    key_cache_poll_s: float = 0.25
    # How long an Idempotency-Key's answer is kept, and how long a resend waits for a first try still running.
    idempotency_ttl_s: int = Field(default=86_400, ge=1)
    idempotency_wait_s: float = Field(default=2.0, ge=0)

    # Readings whose time is outside [min_time, now + max_future_s] are refused.
    reading_min_year: int = 2000
    reading_max_future_s: int = 86_400

    timescaledb: Literal["auto", "on", "off"] = "auto"
    partition_interval: Literal["day", "week", "month"] = "month"
    partitions_ahead: int = 2
    timescale_chunk_interval: str = "7 days"
    timescale_compress_after: str = "30 days"

    @field_validator("database_url", "read_database_url")
    @classmethod
    def _normalize_dsn(cls, value: str) -> str:
        for prefix in ("postgresql+psycopg://", "postgres://", "postgresql+psycopg2://"):
            if value.startswith(prefix):
                return "postgresql://" + value[len(prefix) :]
        return value

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.environment == "production" and self.secret_key == DEV_SECRET_KEY:
            raise ValueError("OWNSTREAM_SECRET_KEY must be set to a random value in production")
        if self.mqtt_dynsec and not self.mqtt_admin_password:
            raise ValueError("OWNSTREAM_MQTT_DYNSEC is on: set OWNSTREAM_MQTT_ADMIN_PASSWORD (the dynsec admin's)")
        return self

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL in SQLAlchemy's psycopg 3 dialect form."""
        return "postgresql+psycopg://" + self.database_url[len("postgresql://") :]

    @property
    def reads_url(self) -> str:
        """Where readings are read from: the replica when one is configured, else the primary."""
        return self.read_database_url or self.database_url


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
