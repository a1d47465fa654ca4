"""The `ownstream` command."""

from __future__ import annotations

import typer

from services.cli import catalog, devices, manage, mqtt, run, status, transfer
from services.cli.failed import failed_app
from services.cli.local import local_app

app = typer.Typer(
    help="Ownstream: your IoT data, on your own machines.", no_args_is_help=True, pretty_exceptions_enable=False
)
catalog.register(manage.dataset_app, manage.user_app)
app.add_typer(manage.user_app, name="user")
app.add_typer(manage.dataset_app, name="dataset")
app.add_typer(devices.device_app, name="device")
app.add_typer(devices.token_app, name="token")
app.add_typer(local_app, name="local")
app.add_typer(mqtt.mqtt_app, name="mqtt")
app.add_typer(failed_app, name="failed")
for command in (run.migrate, run.worker, run.serve, run.up, status.status):
    app.command()(command)
app.command("export")(transfer.export)
app.command("import")(transfer.import_)
app.command("backup")(transfer.backup)
app.command("restore")(transfer.restore)
