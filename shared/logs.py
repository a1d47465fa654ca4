"""Logging for every process: text for people, or one JSON object per line (OWNSTREAM_LOG_FORMAT=json)."""

from __future__ import annotations

import logging
import os
import socket
from datetime import UTC, datetime

import orjson

from shared.config import Settings

TEXT_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"
# LogRecord attributes that are not `extra=` fields
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, process, host, extras, exception."""

    def __init__(self) -> None:
        super().__init__()
        self.host = socket.gethostname()

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
            "host": self.host,
        }
        for name, value in vars(record).items():
            if name not in _STANDARD and not name.startswith("_"):
                document[name] = value
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(document, default=str).decode()


def configure_logging(settings: Settings, level: int = logging.INFO) -> None:
    """Set up the root logger once per process, in the configured format."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    if settings.log_format == "json":
        os.environ.setdefault("OWNSTREAM_LOG_FORMAT", "json")  # processes this one starts log the same way


def uvicorn_log_config(settings: Settings) -> dict | None:
    """uvicorn's logging setup, applied in each of its processes: ours in JSON mode, else uvicorn's own."""
    if settings.log_format != "json":
        return None
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "shared.logs.JsonFormatter"}},
        "handlers": {"default": {"class": "logging.StreamHandler", "formatter": "json"}},
        "root": {"handlers": ["default"], "level": "INFO"},
        "loggers": {"uvicorn": {"level": "WARNING"}, "uvicorn.error": {"level": "INFO"}},
    }
