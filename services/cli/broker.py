"""The broker configuration `make run` uses for a private Mosquitto."""

from __future__ import annotations

from pathlib import Path

from shared.config import Settings


def write_local_broker_config(directory: Path, port: int, settings: Settings) -> Path:
    """A Mosquitto config for a private broker on 127.0.0.1:`port`, persistence under `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "mosquitto.conf"
    config.write_text(
        f"listener {port} 127.0.0.1\n"
        "allow_anonymous true\n"
        "persistence true\n"
        f"persistence_location {directory}/\n"
        f"log_dest file {directory}/mosquitto.log\n"
        f"pid_file {directory}/mosquitto.pid\n"
    )
    return config
