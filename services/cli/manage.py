"""`ownstream user ...` and `ownstream dataset ...`: management from the command line."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from services.cli.console import console, emit_json, out
from services.cli.context import announce, command_transaction
from shared.datasets import (
    VariableSpec,
    create_dataset,
    create_user,
    get_dataset,
    regenerate_key,
    user_by_name,
)

user_app = typer.Typer(help="Manage users.", no_args_is_help=True)
dataset_app = typer.Typer(help="Manage datasets.", no_args_is_help=True)
keys_app = typer.Typer(help="A dataset's read and write keys.", no_args_is_help=True)
dataset_app.add_typer(keys_app, name="keys")


@user_app.command("create")
def user_create(
    name: str,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="read the password from stdin")] = False,
    json: Annotated[bool, typer.Option("--json", help="print the new user as JSON")] = False,
) -> None:
    """Create a user (the password is read from stdin or prompted for)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with command_transaction() as session:
        user = create_user(session, name, password)
        created = {"id": user.id, "username": user.username}
    if json:
        emit_json(created)
    else:
        out.print(f"created user [bold]{created['username']}[/bold] (id {created['id']})")


@dataset_app.command("create")
def dataset_create(
    owner: Annotated[str, typer.Option(help="the owning user's name")],
    name: Annotated[str, typer.Option(help="the dataset's name")],
    var: Annotated[list[str], typer.Option(help="a variable, TAG[:Display name]; repeat for more")] = [],  # noqa: B006
    description: Annotated[str, typer.Option()] = "",
    public: Annotated[bool, typer.Option("--public", help="readable without a key")] = False,
    retention_days: Annotated[int | None, typer.Option(help="drop readings older than this")] = None,
    accept_new_variables: Annotated[
        bool | None,
        typer.Option(
            "--accept-new-variables/--no-accept-new-variables",
            help="register unknown variables on first sight (default: only when no --var is given)",
        ),
    ] = None,
    json: Annotated[bool, typer.Option("--json", help="print id and keys as JSON")] = False,
) -> None:
    """Create a dataset; prints its id and its read and write keys (shown only now)."""
    with command_transaction() as session:
        dataset, keys = create_dataset(
            session,
            user_by_name(session, owner),
            name,
            [VariableSpec.parse(v) for v in var],
            description=description,
            public=public,
            retention_days=retention_days,
            accept_new_variables=accept_new_variables,
        )
    result = {
        "id": dataset.id,
        "name": dataset.name,
        "read_key": keys.read_key,
        "write_key": keys.write_key,
        "accept_new_variables": dataset.accept_new_variables,
    }
    if json:
        emit_json(result)
    else:
        out.print(f"dataset [bold]{dataset.id}[/bold] {dataset.name}")
        out.print(f"  read key:  {keys.read_key}\n  write key: {keys.write_key}")


@keys_app.command("regenerate")
def keys_regenerate(
    dataset_id: int,
    kind: Annotated[str, typer.Argument(help="read or write")],
    json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Issue a new read or write key; the old one is refused from now on."""
    if kind not in ("read", "write"):
        console.print("[red]error:[/red] kind must be read or write")
        raise typer.Exit(2)
    with command_transaction() as session:
        key = regenerate_key(session, get_dataset(session, dataset_id), kind)  # type: ignore[arg-type]
    announce()
    if json:
        emit_json({"id": dataset_id, "kind": kind, "key": key})
    else:
        out.print(f"new {kind} key for dataset {dataset_id}: {key}")
