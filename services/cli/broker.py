"""A private Mosquitto with the shipped configuration (deploy/mosquitto): for `make run` and for the tests.

The policy (persistence, queue limits, ACL) is the shipped one, read in place; only what differs per machine
is written here: the listener, the data folder, the password file of the bridge user, and the OS user.
"""

from __future__ import annotations

import getpass
import os
import subprocess
from pathlib import Path

from shared.config import Settings

SHIPPED = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto"
DYNSEC_PLUGIN = "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so"


def write_password_file(path: Path, username: str, password: str) -> None:
    """The broker's password file with the bridge's account, hashed by mosquitto_passwd."""
    path.unlink(missing_ok=True)
    subprocess.run(
        ["mosquitto_passwd", "-c", "-b", str(path), username, password],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    path.chmod(0o600)


def init_dynamic_security(directory: Path, admin_username: str, admin_password: str) -> Path:
    """A new dynamic-security store with its admin account (`mosquitto_ctrl dynsec init`); kept if present."""
    directory.mkdir(parents=True, exist_ok=True)
    store = directory / "dynamic-security.json"
    if not store.exists():
        subprocess.run(
            ["mosquitto_ctrl", "dynsec", "init", str(store), admin_username, admin_password],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
    return store


def write_local_broker_config(
    directory: Path,
    port: int,
    settings: Settings,
    *,
    extra: str = "",
    dynsec: Path | None = None,
) -> Path:
    """A Mosquitto config for a private broker on 127.0.0.1:`port`, persistence under `directory`.

    Access is the shipped password and ACL files, or, given a dynamic-security store, the plugin
    (deploy/mosquitto/dynsec.conf's setup: per-device accounts, see shared/broker_accounts.py).
    """
    directory.mkdir(parents=True, exist_ok=True)
    if dynsec is None:
        passwords = directory / "passwd"
        write_password_file(passwords, settings.mqtt_username, settings.mqtt_password)
        access = f"password_file {passwords}\nacl_file {SHIPPED / 'acl'}\n"
    else:
        access = f"plugin {DYNSEC_PLUGIN}\nplugin_opt_config_file {dynsec}\n"
    # mosquitto started as root drops to the `mosquitto` user, which could not write `directory`
    user = f"user {getpass.getuser()}\n" if os.geteuid() == 0 else ""
    config = directory / "mosquitto.conf"
    config.write_text(
        "# written by services/cli/broker.py; the policy is deploy/mosquitto/conf.d\n"
        f"listener {port} 127.0.0.1\n"
        f"{user}"
        f"persistence_location {directory}/\n"
        f"{access}"
        f"log_dest file {directory}/mosquitto.log\n"
        f"pid_file {directory}/mosquitto.pid\n"
        f"{extra}"
        f"include_dir {SHIPPED / 'conf.d'}\n"
    )
    return config
