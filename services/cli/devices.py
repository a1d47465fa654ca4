"""`ownstream device ...` and `ownstream token ...`: device registry and personal API tokens for scripts."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from services.cli.console import console, emit_json, out
from services.cli.context import announce, command_transaction, sessions
from shared.config import get_settings
from shared.datasets import get_dataset, user_by_name
from shared.db import transaction
from shared.device_accounts import DeviceAccounts
from shared.devices import create_device, describe_device, find_device, list_devices, refresh_token, revoke_device
from shared.tokens import create_user_token, describe_token

device_app = typer.Typer(help="Register devices; each gets its own token for one dataset.", no_args_is_help=True)
token_app = typer.Typer(help="Personal API tokens (act as a user on the management API).", no_args_is_help=True)


def show_token(result: dict, json: bool, label: str) -> None:
    """Print a device and its token (shown only now): JSON for programs, a line for people."""
    if json:
        emit_json(result)
    else:
        out.print(
            f"device [bold]{result['device_id']}[/bold] in dataset {result['dataset_id']}\n  {label}: {result['token']}"
        )


@device_app.command("create")
def device_create(
    dataset: Annotated[int, typer.Option(help="the dataset's id")],
    device_id: Annotated[str, typer.Option("--device-id", help="the device's name, unique in the dataset")],
    json: Annotated[bool, typer.Option("--json", help="print the device and its token as JSON")] = False,
) -> None:
    """Register a device in a dataset; prints its token (shown only now)."""
    with command_transaction() as session:
        owner = get_dataset(session, dataset).owner
        device, token = create_device(session, owner, dataset, device_id)
        DeviceAccounts(get_settings()).provision(device, token)  # before the commit: 503 changes nothing
        result = {**describe_device(device), "token": token}
    announce()
    show_token(result, json, "token")


@device_app.command("refresh")
def device_refresh(
    dataset: Annotated[int, typer.Option(help="the dataset's id")],
    device_id: Annotated[str, typer.Option("--device-id", help="the device's name")],
    json: Annotated[bool, typer.Option("--json", help="print the device and its new token as JSON")] = False,
) -> None:
    """Give a device a new token (shown only now); the old one is refused from now on."""
    with command_transaction() as session:
        device = find_device(session, get_dataset(session, dataset).owner, device_id, dataset)
        token = refresh_token(session, device)
        DeviceAccounts(get_settings()).provision(device, token)
        result = {**describe_device(device), "token": token}
    announce()
    show_token(result, json, "new token")


@device_app.command("delete")
def device_delete(
    dataset: Annotated[int, typer.Option(help="the dataset's id")],
    device_id: Annotated[str, typer.Option("--device-id", help="the device's name")],
    json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Unregister a device: its token and broker account stop working; its data stays."""
    with command_transaction() as session:
        revoke_device(session, find_device(session, get_dataset(session, dataset).owner, device_id, dataset))
    announce()
    broker_account_removed = DeviceAccounts(get_settings()).revoke(dataset, device_id)
    if not broker_account_removed:
        console.print(
            "[yellow]warning:[/yellow] the broker still has the device's account; "
            "run `ownstream mqtt sync-accounts` once it answers"
        )
    if json:
        emit_json({"dataset_id": dataset, "device_id": device_id, "deleted": True})
    else:
        out.print(f"device [bold]{device_id}[/bold] removed from dataset {dataset}")


@device_app.command("list")
def device_list(
    dataset: Annotated[int | None, typer.Option(help="only this dataset's devices")] = None,
    json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Registered devices (never their tokens)."""
    with transaction(sessions()) as session:
        devices = [describe_device(d) for d in list_devices(session, dataset_id=dataset)]
    if json:
        emit_json(devices)
        return
    table = Table("dataset", "device", "created", "last seen", box=None)
    for d in devices:
        table.add_row(
            str(d["dataset_id"]),
            d["device_id"],
            f"{d['created_at']:%Y-%m-%d %H:%M:%S}",
            f"{d['last_seen_at']:%Y-%m-%d %H:%M:%S}" if d["last_seen_at"] else "never",
        )
    out.print(table)


@token_app.command("create")
def token_create(
    user: Annotated[str, typer.Option(help="the user the token acts for")],
    name: Annotated[str, typer.Option(help="a label to recognize the token by")] = "",
    json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Make a personal API token; send it as `Authorization: Bearer <token>` (shown only now)."""
    with command_transaction() as session:
        row, token = create_user_token(session, user_by_name(session, user), name)
        result = {**describe_token(row), "user": user, "token": token}
    if json:
        emit_json(result)
    else:
        out.print(f"token for [bold]{user}[/bold]: {token}")
