"""`ownstream mqtt [bootstrap | sync-accounts]`: the MQTT bridge, and the broker's accounts (dynamic security)."""

from __future__ import annotations

from typing import Annotated

import typer

from services.cli.console import console, emit_json
from services.cli.context import sessions
from shared.bridge_lease import LeaseHeld
from shared.broker_accounts import BrokerAccountError, BrokerAdmin, bootstrap
from shared.config import get_settings
from shared.db import transaction
from shared.device_accounts import sync_accounts
from shared.logs import configure_logging
from shared.process import freeze_startup_objects

mqtt_app = typer.Typer(help="The MQTT bridge (no subcommand) and the broker's accounts.", invoke_without_command=True)


@mqtt_app.callback()
def mqtt(
    ctx: typer.Context,
    client_id: Annotated[str | None, typer.Option(help="stable id of this bridge's broker session")] = None,
) -> None:
    """Run the MQTT bridge: subscribe to the device topics and enqueue what arrives."""
    if ctx.invoked_subcommand is not None:
        return
    from services.ingest.mqtt import run_bridge

    settings = get_settings()
    configure_logging(settings)
    freeze_startup_objects()
    try:
        run_bridge(settings, client_id)
    except (ValueError, LeaseHeld) as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from None


def _admin() -> BrokerAdmin:
    settings = get_settings()
    if not settings.mqtt_admin_password:
        console.print("[red]error:[/red] set OWNSTREAM_MQTT_ADMIN_PASSWORD (the admin of `mosquitto_ctrl dynsec init`)")
        raise typer.Exit(2)
    return BrokerAdmin.from_settings(settings)


@mqtt_app.command("bootstrap")
def mqtt_bootstrap() -> None:
    """Set up a dynamic-security broker's fixed policy: the bridge's account, anonymous devices' topics."""
    settings, admin = get_settings(), _admin()
    try:
        bootstrap(admin, settings.mqtt_username, settings.mqtt_password)
    except BrokerAccountError as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(1) from None
    console.print(
        f"broker at {admin.host}:{admin.port}: bridge user [bold]{settings.mqtt_username}[/bold] "
        "may subscribe; anonymous devices may publish under channels/, devices/, datasets/"
    )


@mqtt_app.command("sync-accounts")
def mqtt_sync_accounts(json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Make the broker's device accounts match the registry: remove those of revoked devices and old tokens."""
    admin = _admin()
    try:
        with transaction(sessions()) as session:
            report = sync_accounts(session, admin)
    except BrokerAccountError as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(1) from None
    if json:
        emit_json({"removed": report.removed, "stale": report.stale, "missing": report.missing})
        return
    for user in report.removed:
        console.print(f"removed {user}: no such device in the registry")
    for user in report.stale:
        console.print(f"removed {user}: its password is not the device's current token")
    for user in report.missing:
        console.print(
            f"[yellow]no account[/yellow] {user}: refresh its token (`ownstream device refresh`) to give it one"
        )
    if not (report.removed or report.stale or report.missing):
        console.print("broker accounts match the registry")
