"""`ownstream backup` and `restore`: pg_dump/pg_restore of the whole install, refused over an existing one."""

from __future__ import annotations

from tests.services.transfer.test_export_import import fill
from tests.support import services as svc
from tests.support.db import reading_count, scalar
from tests.support.factories import make_dataset
from tests.support.processes import run_cli


def test_backup_restores_into_an_empty_database(settings, tmp_path):
    dataset = make_dataset(settings, variables=("temperature",))
    fill(settings, dataset.id, 500)
    path = tmp_path / "ownstream.dump"
    done = run_cli("backup", str(path))
    assert done.returncode == 0, done.stderr
    target = svc.next_database_name()
    url = svc.recreate_database(target)
    try:
        restored = run_cli("restore", str(path), env={"OWNSTREAM_DATABASE_URL": url})
        assert restored.returncode == 0, restored.stderr
        copy = settings.model_copy(update={"database_url": url})
        assert reading_count(copy, dataset.id) == 500
        assert scalar(copy, "select name from datasets where id = %s", (dataset.id,)) == "Weather"
        again = run_cli("restore", str(path), env={"OWNSTREAM_DATABASE_URL": url})
        assert again.returncode == 1 and "--clean" in again.stderr
        assert run_cli("restore", str(path), "--clean", env={"OWNSTREAM_DATABASE_URL": url}).returncode == 0
        assert reading_count(copy, dataset.id) == 500
    finally:
        svc.drop_database(target)
    assert run_cli("restore", str(tmp_path / "missing.dump")).returncode == 1
