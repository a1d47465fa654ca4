"""`ownstream dataset list|show|edit|delete`, `dataset var add|rename|remove`, `user list|passwd|delete`.

Everything the dashboard does, from the command line: tables on stdout, `--json` for programs, errors on
stderr with exit code 1 (2 for bad usage).
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.cli.console import console, emit_json, out, report
from services.cli.context import announce, command_transaction
from shared.config import get_settings
from shared.datasets import (
    MAX_RETENTION_DAYS,
    VariableSpec,
    add_variable,
    delete_dataset,
    get_dataset,
    update_dataset,
    user_by_name,
)
from shared.device_accounts import DeviceAccounts
from shared.errors import BadRequest
from shared.models import Dataset, Device, Series, User
from shared.users import delete_user, list_users, set_password
from shared.variables import remove_variable, rename_variable

var_app = typer.Typer(help="A dataset's variables.", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="print as JSON")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")]


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def dataset_summary(dataset: Dataset) -> dict:
    return {
        "id": dataset.id,
        "name": dataset.name,
        "owner": dataset.owner.username,
        "public": dataset.public,
        "accept_new_variables": dataset.accept_new_variables,
        "variables": len(dataset.variables),
        "entry_count": dataset.entry_count,
        "last_entry_at": _iso(dataset.last_entry_at),
        "retention_days": dataset.retention_days,
    }


def dataset_detail(session: Session, dataset: Dataset) -> dict:
    devices = session.scalar(
        select(func.count()).select_from(Device).where(Device.dataset_id == dataset.id, Device.revoked_at.is_(None))
    )
    series = session.scalar(select(func.count()).select_from(Series).where(Series.dataset_id == dataset.id))
    return {
        **dataset_summary(dataset),
        "description": dataset.description,
        "created_at": _iso(dataset.created_at),
        "devices": devices,
        "series": series,
        "variables": [
            {"tag": v.tag, "name": v.name, "unit": v.unit, "position": v.position + 1} for v in dataset.variables
        ],
    }


def confirm(what: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        console.print(f"[red]error:[/red] {what}: add --yes to confirm")
        raise typer.Exit(2)
    if not typer.confirm(f"{what}?"):
        raise typer.Exit(1)


# datasets ------------------------------------------------------------------------------------------------------
def dataset_list(
    owner: Annotated[str | None, typer.Option(help="only this user's datasets")] = None, json: JsonOpt = False
) -> None:
    """Every dataset (or one user's): id, name, owner, variables, entries."""
    with command_transaction() as session:
        query = select(Dataset).order_by(Dataset.id)
        if owner is not None:
            query = query.where(Dataset.owner_id == user_by_name(session, owner).id)
        rows = [dataset_summary(d) for d in session.scalars(query)]
    if json:
        emit_json(rows)
        return
    table = Table(title=f"{len(rows)} dataset(s)", title_justify="left")
    for column in ("id", "name", "owner", "public", "variables", "entries", "last entry", "retention"):
        table.add_column(column, no_wrap=column in ("id", "name"))
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["name"],
            r["owner"],
            "yes" if r["public"] else "no",
            str(r["variables"]),
            str(r["entry_count"]),
            r["last_entry_at"] or "-",
            f"{r['retention_days']} d" if r["retention_days"] else "-",
        )
    out.print(table)


def dataset_show(dataset_id: int, json: JsonOpt = False) -> None:
    """One dataset with its variables (keys are never shown: regenerate them to get new ones)."""
    with command_transaction() as session:
        detail = dataset_detail(session, get_dataset(session, dataset_id))
    if json:
        emit_json(detail)
        return
    out.print(
        f"[bold]{detail['name']}[/bold] (dataset {detail['id']}, owner {detail['owner']}, "
        f"{'public' if detail['public'] else 'private'})"
    )
    if detail["description"]:
        out.print(detail["description"], markup=False)
    out.print(
        f"{detail['entry_count']} entries, last {detail['last_entry_at'] or '-'}; {detail['devices']} "
        f"device(s), {detail['series']} series; retention "
        f"{str(detail['retention_days']) + ' days' if detail['retention_days'] else 'none'}"
    )
    table = Table(title="Variables", title_justify="left")
    for column in ("field", "tag", "name", "unit"):
        table.add_column(column, no_wrap=True)
    for v in detail["variables"]:
        table.add_row(f"field{v['position']}", v["tag"], v["name"], v["unit"] or "")
    out.print(table)


def dataset_edit(
    dataset_id: int,
    name: Annotated[str | None, typer.Option(help="a new name")] = None,
    description: Annotated[str | None, typer.Option(help="a new description")] = None,
    public: Annotated[bool | None, typer.Option("--public/--private", help="readable without a key or not")] = None,
    retention_days: Annotated[int | None, typer.Option(help="drop readings older than this (0: keep forever)")] = None,
    accept_new_variables: Annotated[
        bool | None,
        typer.Option(
            "--accept-new-variables/--no-accept-new-variables",
            help="register unknown variables on first sight, or refuse them naming the variable",
        ),
    ] = None,
    add_var: Annotated[
        list[str] | None, typer.Option(help="declare a variable, TAG[:Display name]; repeat for more")
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Change a dataset's name, description, visibility, retention or rule for new variables; declare variables."""
    with command_transaction() as session:
        dataset = get_dataset(session, dataset_id)
        if (
            name is None
            and description is None
            and public is None
            and retention_days is None
            and accept_new_variables is None
            and not add_var
        ):
            raise BadRequest(
                "nothing to change: give --name, --description, --public/--private, "
                "--retention-days, --accept-new-variables/--no-accept-new-variables or --add-var"
            )
        update_dataset(
            session,
            dataset,
            name=dataset.name if name is None else name,
            description=dataset.description if description is None else description,
            public=dataset.public if public is None else public,
            accept_new_variables=accept_new_variables,
        )
        if retention_days is not None:
            if not 0 <= retention_days <= MAX_RETENTION_DAYS:
                raise BadRequest(f"retention_days must be between 0 (keep forever) and {MAX_RETENTION_DAYS}")
            dataset.retention_days = retention_days or None
        for spec in add_var or []:
            add_variable(session, dataset, VariableSpec.parse(spec))
            session.refresh(dataset, ["variables"])  # the next one's position counts this one, as in `var add`
        detail = dataset_detail(session, dataset)
    announce()  # receivers cache each dataset's variables and its rule for new ones
    if json:
        emit_json(detail)
    else:
        rule = "on" if detail["accept_new_variables"] else "off"
        out.print(
            f"dataset {dataset_id} saved; accept new variables {rule}; "
            f"variables {', '.join(v['tag'] for v in detail['variables'])}"
        )


def dataset_delete(dataset_id: int, yes: YesOpt = False, json: JsonOpt = False) -> None:
    """Delete a dataset with its keys, devices and readings."""
    with command_transaction() as session:
        dataset = get_dataset(session, dataset_id)
        confirm(f"delete dataset {dataset_id} ({dataset.name}) and all its readings", yes)
        devices = delete_dataset(session, dataset)
    announce()
    accounts = DeviceAccounts(get_settings())
    for device_id in devices:  # a broker that misses this is repaired by `ownstream mqtt sync-accounts`
        accounts.revoke(dataset_id, device_id)
    report(json, {"deleted": dataset_id, "devices": devices}, f"deleted dataset {dataset_id}")


# variables -----------------------------------------------------------------------------------------------------
def _variables_of(session: Session, dataset: Dataset) -> list[dict]:
    return dataset_detail(session, dataset)["variables"]


@var_app.command("add")
def var_add(
    dataset_id: int,
    variables: Annotated[list[str], typer.Argument(help="TAG[:Display name], one or more")],
    unit: Annotated[str | None, typer.Option(help="unit of the variable(s)")] = None,
    json: JsonOpt = False,
) -> None:
    """Register variables on a dataset, so devices may send them."""
    with command_transaction() as session:
        dataset = get_dataset(session, dataset_id)
        for text in variables:
            spec = VariableSpec.parse(text)
            add_variable(session, dataset, VariableSpec(spec.tag, spec.name, unit))
            session.refresh(dataset, ["variables"])  # the next one's position counts this one
        result = _variables_of(session, dataset)
    announce()
    report(
        json,
        {"id": dataset_id, "variables": result},
        f"dataset {dataset_id}: added {', '.join(VariableSpec.parse(t).tag for t in variables)}",
    )


@var_app.command("rename")
def var_rename(
    dataset_id: int,
    tag: str,
    to: Annotated[str | None, typer.Option("--to", help="a new tag (stored readings follow it)")] = None,
    name: Annotated[str | None, typer.Option(help="a new display name")] = None,
    unit: Annotated[str | None, typer.Option(help="a new unit ('' for none)")] = None,
    json: JsonOpt = False,
) -> None:
    """Change a variable's tag, display name or unit."""
    with command_transaction() as session:
        dataset = get_dataset(session, dataset_id)
        rename_variable(session, dataset, tag, new_tag=to, name=name, unit=unit)
        result = _variables_of(session, dataset)
    announce()
    report(
        json,
        {"id": dataset_id, "variables": result},
        f"dataset {dataset_id}: variable {tag} saved" + (f" as {to}" if to else ""),
    )


@var_app.command("remove")
def var_remove(dataset_id: int, tag: str, yes: YesOpt = False, json: JsonOpt = False) -> None:
    """Unregister a variable and delete its readings."""
    with command_transaction() as session:
        dataset = get_dataset(session, dataset_id)
        confirm(f"remove variable {tag!r} of dataset {dataset_id} and delete its readings", yes)
        deleted = remove_variable(session, dataset, tag)
    announce()
    report(
        json,
        {"id": dataset_id, "removed": tag, "readings_deleted": deleted},
        f"dataset {dataset_id}: removed {tag} ({deleted} readings deleted)",
    )


# users ---------------------------------------------------------------------------------------------------------
def user_list(json: JsonOpt = False) -> None:
    """Every user, with how many datasets each owns."""
    with command_transaction() as session:
        rows: list[dict[str, Any]] = [
            {"id": u.id, "username": u.username, "datasets": n, "created_at": _iso(u.created_at)}
            for u, n in list_users(session)
        ]
    if json:
        emit_json(rows)
        return
    table = Table(title=f"{len(rows)} user(s)", title_justify="left")
    for column in ("id", "username", "datasets", "created"):
        table.add_column(column, no_wrap=True)
    for r in rows:
        table.add_row(str(r["id"]), r["username"], str(r["datasets"]), r["created_at"] or "-")
    out.print(table)


def user_passwd(
    name: str,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="read the password from stdin")] = False,
    json: JsonOpt = False,
) -> None:
    """Set a user's password (read from stdin or prompted for)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    with command_transaction() as session:
        set_password(session, user_by_name(session, name), password)
    report(json, {"username": name, "password_changed": True}, f"password of {name} changed")


def user_delete(name: str, yes: YesOpt = False, json: JsonOpt = False) -> None:
    """Delete a user with their datasets, devices and readings."""
    with command_transaction() as session:
        user: User = user_by_name(session, name)
        owned = session.scalar(select(func.count()).select_from(Dataset).where(Dataset.owner_id == user.id))
        confirm(f"delete user {name!r} and their {owned} dataset(s) with all readings", yes)
        devices = delete_user(session, user)
    announce()
    accounts = DeviceAccounts(get_settings())
    for dataset_id, device_id in devices:
        accounts.revoke(dataset_id, device_id)
    report(json, {"deleted": name, "datasets": owned}, f"deleted user {name} and {owned} dataset(s)")


def register(dataset_app: typer.Typer, user_app: typer.Typer) -> None:
    """Add these commands to `ownstream dataset` and `ownstream user`."""
    dataset_app.command("list")(dataset_list)
    dataset_app.command("show")(dataset_show)
    dataset_app.command("edit")(dataset_edit)
    dataset_app.command("delete")(dataset_delete)
    dataset_app.add_typer(var_app, name="var")
    user_app.command("list")(user_list)
    user_app.command("passwd")(user_passwd)
    user_app.command("delete")(user_delete)
