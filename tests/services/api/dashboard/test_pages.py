"""Dashboard pages as a whole: security headers, framing, no inline script, chart views, embeds, overview badges."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from redis import Redis
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from services.worker.partitions import ensure_partitions, existing_partitions, period_start
from shared.db import connect_raw
from shared.queue import ingest_queue, make_message
from tests.support.dashboard import form_login
from tests.support.factories import make_dataset

INLINE = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|\sstyle=|\son[a-z]+=", re.I)


def owner_pages(dataset_id: int) -> list[str]:
    return [
        "/dashboard",
        "/dashboard/datasets/new",
        f"/dashboard/datasets/{dataset_id}",
        f"/dashboard/datasets/{dataset_id}/edit",
        f"/dashboard/datasets/{dataset_id}/delete",
        "/settings",
    ]


def test_every_page_has_a_strict_policy_and_no_inline_script_or_style(client, settings):
    dataset = make_dataset(settings, owner="alice", public=True)
    pages = ["/login", f"/dashboard/datasets/{dataset.id}", f"/embed/datasets/{dataset.id}"]
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "style-src 'self'" in policy and "unsafe" not in policy
        assert not INLINE.search(response.text), (path, INLINE.search(response.text).group(0))
        assert '<link rel="icon" href="/favicon.ico"' in response.text
    assert form_login(client, "alice").status_code == 303
    for path in owner_pages(dataset.id):
        response = client.get(path)
        assert response.status_code == 200, path
        assert not INLINE.search(response.text), (path, INLINE.search(response.text).group(0))
        assert response.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    api = client.get(f"/api/v1/datasets/{dataset.id}/data")
    assert api.headers["x-frame-options"] == "DENY"


def test_only_the_embed_path_may_be_framed(client, settings):
    dataset = make_dataset(settings, owner="alice", public=True)
    embed = client.get(f"/embed/datasets/{dataset.id}", params={"vars": "temperature", "range": "week"})
    assert embed.status_code == 200 and "x-frame-options" not in embed.headers
    assert "frame-ancestors *" in embed.headers["content-security-policy"]
    assert 'data-range="week"' in embed.text and embed.text.count('<figure class="chart"') == 1
    assert "Log in" not in embed.text and "csrf_token" not in embed.text
    page = client.get(f"/dashboard/datasets/{dataset.id}")
    assert page.headers["x-frame-options"] == "DENY"


def test_private_pages_send_strangers_to_log_in_whether_or_not_they_exist(client, settings):
    private = make_dataset(settings, owner="alice")
    for path in (
        f"/dashboard/datasets/{private.id}",
        f"/embed/datasets/{private.id}",
        "/dashboard/datasets/4242",
        "/embed/datasets/4242",
        f"/dashboard/datasets/{private.id}/edit",
    ):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == f"/login?next={path}", path


def test_favicon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200 and response.headers["content-type"].startswith("image/")
    assert len(response.content) > 100


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"range": "decade"}, "range must be one of"),
        ({"start": "2026-01-01T00:00"}, "needs both start and end"),
        ({"start": "yesterday", "end": "2026-01-01T00:00"}, "start:"),
        ({"start": "2026-01-02T00:00", "end": "2026-01-01T00:00"}, "end must be after start"),
    ],
)
def test_bad_chart_ranges_are_a_400_naming_them(client, settings, query, message):
    dataset = make_dataset(settings, owner="alice", public=True)
    response = client.get(f"/dashboard/datasets/{dataset.id}", params=query)
    assert response.status_code == 400 and message in response.text


def test_chart_view_from_the_query_string(client, settings):
    dataset = make_dataset(settings, owner="alice", public=True, variables=("temperature", "humidity", "door"))
    page = client.get(f"/dashboard/datasets/{dataset.id}").text
    assert re.findall(r'data-vars="([^"]*)"', page) == ["temperature", "humidity", "door"]
    assert 'data-range="day"' in page
    page = client.get(
        f"/dashboard/datasets/{dataset.id}",
        params=[("vars", "door"), ("vars", "temperature"), ("overlay", "1"), ("range", "year")],
    ).text
    assert re.findall(r'data-vars="([^"]*)"', page) == ["temperature,door"] and 'data-range="year"' in page
    page = client.get(
        f"/dashboard/datasets/{dataset.id}", params={"start": "2026-03-01T10:00", "end": "2026-03-02T10:00"}
    ).text
    start = int(datetime(2026, 3, 1, 10, tzinfo=UTC).timestamp())
    assert f'data-start="{start}"' in page and f'data-end="{start + 86_400}"' in page
    assert 'data-range="custom"' in page and 'value="2026-03-01T10:00"' in page


def test_many_variables_chart_the_first_few_until_more_are_chosen(client, settings):
    tags = tuple(f"v{i}" for i in range(12))
    dataset = make_dataset(settings, owner="alice", public=True, variables=tags)
    page = client.get(f"/dashboard/datasets/{dataset.id}").text
    assert re.findall(r'data-vars="([^"]*)"', page) == list(tags[:8])
    assert page.count('type="checkbox" name="vars"') == 12  # every variable can be chosen
    page = client.get(f"/dashboard/datasets/{dataset.id}", params={"vars": "v11,nope"}).text
    assert re.findall(r'data-vars="([^"]*)"', page) == ["v11"]


def test_overview_warns_of_recent_rejections_and_failed_jobs(client, settings):
    troubled = make_dataset(settings, owner="alice", name="Troubled")
    quiet = make_dataset(settings, owner="alice", name="Quiet")
    with connect_raw(settings) as conn:
        for age in (timedelta(minutes=5), timedelta(hours=2), timedelta(days=3)):
            conn.execute(
                "insert into rejected_records (dataset_id, received_at, source, format, reason, raw) "
                "values (%s, %s, 'http', 'native', 'bad', '{}')",
                (troubled.id, datetime.now(UTC) - age),
            )
            conn.execute(
                "insert into rejected_records (dataset_id, received_at, source, format, reason, raw) "
                "values (%s, %s, 'http', 'native', 'old', '{}')",
                (quiet.id, datetime.now(UTC) - timedelta(days=2) - age),
            )
    # a job carrying the troubled dataset's messages fails for good in a real worker
    redis = Redis.from_url(settings.redis_url)
    queue = ingest_queue(redis, settings)
    message = make_message("push", troubled.id, {"temperature": "1"}, source="http")
    queue.enqueue_call("services.worker.tasks.no_such_job", args=([message],), failure_ttl=3600)
    SimpleWorker([queue], connection=redis, serializer=JSONSerializer).work(burst=True, logging_level="ERROR")

    assert form_login(client, "alice").status_code == 303
    page = client.get("/dashboard").text
    cards = dict(re.findall(r'data-dataset-card="(\d+)">(.*?)</li>', page, re.S))
    assert "2 rejected records, 1 failed job in 24 h" in cards[str(troubled.id)]
    assert "data-warning" not in cards[str(quiet.id)]
    assert f'data-spark="{troubled.id}"' in cards[str(troubled.id)]


def test_range_all_starts_at_the_first_reading_hot_or_packed(client, settings):
    dataset = make_dataset(settings, owner="alice", public=True)
    assert "data-first" not in client.get(f"/dashboard/datasets/{dataset.id}").text
    hot, packed = datetime(2026, 3, 5, 12, tzinfo=UTC), datetime(2026, 2, 1, 8, tzinfo=UTC)
    with connect_raw(settings, autocommit=True) as conn:
        ensure_partitions(
            conn,
            {period_start(hot, settings.partition_interval)},
            settings.partition_interval,
            existing_partitions(conn),
        )
        series = conn.execute(
            "insert into series (dataset_id, variable) values (%s, 'temperature') returning id", (dataset.id,)
        ).fetchone()[0]
        conn.execute("insert into readings (series_id, time, v_num) values (%s, %s, 1.5)", (series, hot))
        page = client.get(f"/dashboard/datasets/{dataset.id}", params={"range": "all"}).text
        assert f'data-first="{int(hot.timestamp())}"' in page and 'data-range="all"' in page
        conn.execute(
            "insert into readings_packed (series_id, start, stop, n, times, v_num) "
            "values (%s, %s, %s, 1, array[%s]::timestamptz[], array[2.5])",
            (series, packed, packed, packed),
        )
    page = client.get(f"/dashboard/datasets/{dataset.id}", params={"range": "all"}).text
    assert f'data-first="{int(packed.timestamp())}"' in page
