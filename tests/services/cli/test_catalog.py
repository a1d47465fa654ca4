"""The dashboard's management from the command line: datasets, variables, users; tables, JSON, errors."""

from __future__ import annotations

import orjson

from tests.support.db import reading_count, scalar
from tests.support.factories import PASSWORD, make_dataset, make_user
from tests.support.processes import run_cli
from tests.support.worker import drain


def cli_json(*args: str, input: str | None = None):
    result = run_cli(*args, "--json", input=input)
    assert result.returncode == 0, result.stderr
    return orjson.loads(result.stdout)


def test_dataset_list_show_edit_and_variables(client, settings):
    dataset = make_dataset(settings, name="Garden", variables=("temperature",))
    make_dataset(settings, owner="bob", name="Bob's")
    listed = cli_json("dataset", "list")
    assert [(d["id"], d["name"], d["owner"]) for d in listed] == [
        (dataset.id, "Garden", "alice"),
        (dataset.id + 1, "Bob's", "bob"),
    ]
    assert [d["name"] for d in cli_json("dataset", "list", "--owner", "bob")] == ["Bob's"]
    table = run_cli("dataset", "list")
    assert table.returncode == 0 and "Garden" in table.stdout and table.stderr == ""

    # the README's JSON example needs variables the dataset did not have: add them from the CLI
    added = cli_json("dataset", "var", "add", str(dataset.id), "door:Door", "humidity", "--unit", "%")
    assert [(v["tag"], v["name"], v["unit"], v["position"]) for v in added["variables"]] == [
        ("temperature", "temperature", None, 1),
        ("door", "Door", "%", 2),
        ("humidity", "humidity", "%", 3),
    ]
    pushed = client.post(
        f"/api/v1/datasets/{dataset.id}/readings",
        headers={"X-Write-Key": dataset.write_key},
        json={
            "readings": [
                {"time": "2026-01-01T00:00:00Z", "values": {"temperature": 1.5, "door": "open", "humidity": 40}}
            ]
        },
    )
    assert pushed.status_code == 202, pushed.text
    drain(settings)

    renamed = cli_json("dataset", "var", "rename", str(dataset.id), "door", "--to", "gate", "--name", "Gate")
    assert [v["tag"] for v in renamed["variables"]] == ["temperature", "gate", "humidity"]
    rows = client.get(f"/api/v1/datasets/{dataset.id}/data", params={"key": dataset.read_key}).json()["rows"]
    assert {r["variable"]: r["value"] for r in rows} == {"temperature": 1.5, "gate": "open", "humidity": 40}

    removed = cli_json("dataset", "var", "remove", str(dataset.id), "humidity", "--yes")
    assert removed == {"id": dataset.id, "removed": "humidity", "readings_deleted": 1}
    assert reading_count(settings, dataset.id) == 2
    unconfirmed = run_cli("dataset", "var", "remove", str(dataset.id), "gate")
    assert unconfirmed.returncode == 2 and "--yes" in unconfirmed.stderr

    edited = cli_json("dataset", "edit", str(dataset.id), "--name", "Yard", "--public", "--retention-days", "30")
    assert (edited["name"], edited["public"], edited["retention_days"]) == ("Yard", True, 30)
    shown = cli_json("dataset", "show", str(dataset.id))
    assert shown["name"] == "Yard" and [v["tag"] for v in shown["variables"]] == ["temperature", "gate"]
    assert "field2" in run_cli("dataset", "show", str(dataset.id)).stdout


def test_dataset_commands_refuse_bad_input_with_exit_codes(settings):
    dataset = make_dataset(settings, variables=("temperature",))
    cases = [
        (("dataset", "show", "999"), 1, "no dataset 999"),
        (("dataset", "edit", str(dataset.id)), 1, "nothing to change"),
        (("dataset", "edit", str(dataset.id), "--name", " "), 1, "needs a name"),
        (("dataset", "edit", str(dataset.id), "--retention-days", "-1"), 1, "retention_days"),
        (("dataset", "var", "add", str(dataset.id), "temperature"), 1, "exists"),
        (("dataset", "var", "add", str(dataset.id), "bad tag!"), 1, "not valid"),
        (("dataset", "var", "rename", str(dataset.id), "nope", "--name", "x"), 1, "no variable 'nope'"),
        (("dataset", "delete", "999", "--yes"), 1, "no dataset 999"),
        (("dataset", "show", "abc"), 2, "Invalid value"),
    ]
    for args, code, message in cases:
        result = run_cli(*args)
        assert (result.returncode, result.stdout) == (code, ""), (args, result.stdout, result.stderr)
        assert message in result.stderr, (args, result.stderr)
    assert scalar(settings, "select name from datasets where id = %s", (dataset.id,)) == "Weather"
    assert scalar(settings, "select count(*) from variables where dataset_id = %s", (dataset.id,)) == 1


def test_dataset_delete_removes_it(settings):
    dataset = make_dataset(settings)
    assert cli_json("dataset", "delete", str(dataset.id), "--yes") == {"deleted": dataset.id, "devices": []}
    assert scalar(settings, "select count(*) from datasets") == 0


def test_user_list_passwd_delete(client, settings):
    make_user(settings, "alice")
    make_dataset(settings, owner="bob")
    assert [(u["username"], u["datasets"]) for u in cli_json("user", "list")] == [("alice", 0), ("bob", 1)]
    assert "bob" in run_cli("user", "list").stdout

    new_password = "another long password"
    assert cli_json("user", "passwd", "alice", "--password-stdin", input=new_password + "\n") == {
        "username": "alice",
        "password_changed": True,
    }
    assert client.post("/api/v1/auth/login", json={"username": "alice", "password": PASSWORD}).status_code == 401
    assert client.post("/api/v1/auth/login", json={"username": "alice", "password": new_password}).status_code == 200
    short = run_cli("user", "passwd", "alice", "--password-stdin", input="short\n")
    assert short.returncode == 1 and "at least 8" in short.stderr
    missing = run_cli("user", "passwd", "carol", "--password-stdin", input=new_password + "\n")
    assert missing.returncode == 1 and "no user 'carol'" in missing.stderr

    assert cli_json("user", "delete", "bob", "--yes") == {"deleted": "bob", "datasets": 1}
    assert scalar(settings, "select count(*) from datasets") == 0
    assert [u["username"] for u in cli_json("user", "list")] == ["alice"]


# Commands whose output is not a result to parse: long-running processes, a data stream, files.
NO_JSON = {
    "migrate",
    "worker",
    "serve",
    "up",
    "mqtt",
    "mqtt bootstrap",
    "mqtt sync-accounts",
    "local services",
    "export",
    "backup",
    "restore",
}


def leaf_commands(group=None, prefix: str = "") -> dict[str, object]:
    import typer.main

    from services.cli.main import app

    command = typer.main.get_command(app) if group is None else group
    found: dict[str, object] = {}
    for name, sub in getattr(command, "commands", {}).items():
        path = f"{prefix}{name}"
        if getattr(sub, "commands", None):
            found.update(leaf_commands(sub, path + " "))
        else:
            found[path] = sub
    return found


def test_every_command_with_a_result_has_json():
    missing = [
        path
        for path, command in leaf_commands().items()
        if path not in NO_JSON and not any("--json" in p.opts for p in command.params)
    ]
    assert missing == []


def test_user_create_and_device_delete_as_json(settings):
    made = cli_json("user", "create", "carol", "--password-stdin", input=PASSWORD + "\n")
    assert made == {"id": made["id"], "username": "carol"}
    dataset = make_dataset(settings, owner="carol")
    device = cli_json("device", "create", "--dataset", str(dataset.id), "--device-id", "car-1")
    assert device["device_id"] == "car-1" and device["token"]
    gone = cli_json("device", "delete", "--dataset", str(dataset.id), "--device-id", "car-1")
    assert gone == {"dataset_id": dataset.id, "device_id": "car-1", "deleted": True}
    assert scalar(settings, "select count(*) from devices where revoked_at is null") == 0
