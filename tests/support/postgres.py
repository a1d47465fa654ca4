"""Private PostgreSQL servers for tests that need their own: a primary and a streaming replica on free ports."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psycopg

from tests.support.http import wait_for
from tests.support.services import free_port

BIN = Path("/usr/lib/postgresql/15/bin")


def _as_server_user() -> list[str]:
    """PostgreSQL refuses to run as root: run its programs as the `postgres` user then."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def server_directory(name: str) -> Path:
    """A fresh folder the server's user owns (a root-owned test folder is closed to it)."""
    path = Path(tempfile.mkdtemp(prefix=f"ownstream-{name}-"))
    if os.geteuid() == 0:
        shutil.chown(path, "postgres", "postgres")
    return path


@dataclass
class PrivateServer:
    directory: Path
    port: int

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        subprocess.run(
            [
                *_as_server_user(),
                str(BIN / "pg_ctl"),
                "-D",
                str(self.directory),
                "-l",
                str(self.directory / "log"),
                "-w",
                "-o",
                f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1",
                "start",
            ],
            check=True,
            capture_output=True,
        )
        wait_for(self.ready, timeout=30, what=f"postgres on {self.port}")

    def ready(self) -> bool:
        try:
            with psycopg.connect(self.url(), connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def stop(self) -> None:
        subprocess.run(
            [*_as_server_user(), str(BIN / "pg_ctl"), "-D", str(self.directory), "-m", "fast", "-w", "stop"],
            capture_output=True,
        )
        shutil.rmtree(self.directory, ignore_errors=True)


def start_primary() -> PrivateServer:
    """initdb (trust on loopback, replication allowed) and start."""
    directory = server_directory("primary")
    subprocess.run(
        [*_as_server_user(), str(BIN / "initdb"), "-D", str(directory), "-U", "postgres", "--auth=trust", "--no-sync"],
        check=True,
        capture_output=True,
    )
    with (directory / "postgresql.conf").open("a") as conf:
        conf.write("fsync = off\nwal_level = replica\nmax_wal_senders = 4\nshared_buffers = 16MB\n")
    server = PrivateServer(directory, free_port())
    server.start()
    return server


def start_replica(primary: PrivateServer) -> PrivateServer:
    """pg_basebackup of `primary` as a hot standby streaming from it, started on its own port."""
    directory = server_directory("replica")
    subprocess.run(
        [
            *_as_server_user(),
            str(BIN / "pg_basebackup"),
            "-h",
            "127.0.0.1",
            "-p",
            str(primary.port),
            "-U",
            "postgres",
            "-D",
            str(directory),
            "-R",
            "-X",
            "stream",
            "--checkpoint=fast",
        ],
        check=True,
        capture_output=True,
    )
    server = PrivateServer(directory, free_port())
    server.start()
    return server
