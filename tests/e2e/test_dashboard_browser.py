"""A real browser (headless Chromium, when installed) renders a dataset page with its uPlot charts."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.support.factories import make_dataset
from tests.support.processes import served
from tests.support.worker import drain

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
VENDOR = Path(__file__).resolve().parents[2] / "services/api/static/vendor/uPlot.iife.min.js"


def chromium(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1280,1700",
            "--virtual-time-budget=10000",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium here (apt-get install chromium to run it)")
@pytest.mark.skipif(not VENDOR.exists(), reason="uPlot is not in services/api/static/vendor: run `make assets`")
def test_dataset_page_draws_uplot_charts(settings, tmp_path):
    dataset = make_dataset(settings, name="Greenhouse", variables=("temperature", "humidity"), public=True)
    with served("all", "/healthz") as base:
        now = datetime.now(UTC)
        readings = [
            {
                "time": (now - timedelta(minutes=5 * i)).isoformat(),
                "values": {"temperature": 20 + (i % 12) / 2, "humidity": 60 - (i % 20)},
            }
            for i in range(280)
        ]
        response = httpx.post(
            f"{base}/api/v1/datasets/{dataset.id}/readings",
            headers={"X-Write-Key": dataset.write_key},
            json={"readings": readings},
        )
        assert response.status_code == 202, response.text
        drain(settings)

        page = f"{base}/dashboard/datasets/{dataset.id}?range=day"
        dom = chromium("--dump-dom", page)
        assert dom.returncode == 0, dom.stderr
        assert dom.stdout.count('class="uplot') == 2, dom.stdout[-2000:]  # one chart per numeric variable
        assert dom.stdout.count("<canvas") >= 2
        assert "Could not load the charts" not in dom.stdout and dataset.read_key not in dom.stdout

        shot = tmp_path / "dataset.png"
        taken = chromium(f"--screenshot={shot}", page)
        assert taken.returncode == 0 and shot.stat().st_size > 10_000, taken.stderr
        print(f"screenshot: {shot}")
