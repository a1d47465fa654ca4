"""The dashboard in a real browser (Playwright driving Debian's chromium), from setup to sharing and logout."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.support.http import wait_for
from tests.support.processes import served
from tests.support.worker import drain

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
VENDOR = ROOT / "services/api/static/vendor/uPlot.iife.min.js"
ARTIFACTS = ROOT / "test-artifacts"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "correct horse battery"
XSS_NAME = "<script>alert(1)</script>"
XSS_VARIABLE = '"><img src=x onerror=alert(1)>'

needs_browser = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium here (apt-get install chromium)"),
    pytest.mark.skipif(not VENDOR.exists(), reason="uPlot is not in services/api/static/vendor: run `make assets`"),
]


class Watch:
    """What a page did that a test must see: dialogs, script errors, CSP violations, chart data requests."""

    def __init__(self) -> None:
        self.dialogs: list[tuple[str, str]] = []
        self.errors: list[str] = []
        self.chart_requests: list[str] = []

    def attach(self, page) -> None:
        def dialog(d) -> None:
            self.dialogs.append((d.type, d.message))
            d.accept() if d.type == "confirm" else d.dismiss()

        page.on("dialog", dialog)
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("request", lambda r: self.chart_requests.append(r.url) if "format=columns" in r.url else None)

    @property
    def alerts(self) -> list[str]:
        return [message for kind, message in self.dialogs if kind != "confirm"]


def charts_loaded(page, count: int) -> None:
    """Wait until `count` charts have drawn data from the query API.

    Waits use selectors, not wait_for_function: the pages' policy forbids eval, which Playwright's polling uses.
    """
    page.locator("figure.chart[data-loaded] .uplot canvas").nth(count - 1).wait_for()


def shoot(page, name: str) -> None:
    """Screenshots at 1440 and 360 px wide, light and dark, into test-artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        for width in (1440, 360):
            page.set_viewport_size({"width": width, "height": 900})
            page.wait_for_timeout(250)  # the charts' resize handler is debounced
            page.screenshot(path=ARTIFACTS / f"{name}-{width}-{scheme}.png", full_page=True)
            if width == 360:  # the first screen, at a size worth looking at
                page.screenshot(path=ARTIFACTS / f"{name}-{width}-{scheme}-screen.png")
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{name} at {width}px is {overflow}px wider than the window"
    page.emulate_media(color_scheme="light")
    page.set_viewport_size({"width": 1440, "height": 900})


def until(page, condition, timeout: float, what: str) -> None:
    """Wait for `condition`, letting Playwright deliver the page's events meanwhile (a plain sleep would not)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        page.wait_for_timeout(100)


def push(base: str, dataset_id: int, key: str, readings: list[dict]) -> None:
    response = httpx.post(
        f"{base}/api/v1/datasets/{dataset_id}/readings", headers={"X-Write-Key": key}, json={"readings": readings}
    )
    assert response.status_code == 202, response.text


@pytest.mark.parametrize("_", [None], ids=["chromium"])
@needs_browser[0]
@needs_browser[1]
def test_dashboard_from_setup_to_sharing(settings, _):
    from playwright.sync_api import sync_playwright

    with served("all", "/healthz") as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        page = context.new_page()
        watch = Watch()
        watch.attach(page)

        # setup: the first visit creates the first user, who is logged in
        page.goto(base + "/")
        assert urlsplit(page.url).path == "/setup"
        page.fill("#username", "alice")
        page.fill("#password", PASSWORD)
        page.fill("#confirm", PASSWORD)
        page.click("button[type=submit]")
        assert urlsplit(page.url).path == "/dashboard"
        page.click("form[action='/logout'] button")
        page.goto(base + "/login")
        page.fill("#username", "alice")
        page.fill("#password", PASSWORD)
        page.click("main button[type=submit]")
        assert urlsplit(page.url).path == "/dashboard"

        # a dataset with two variables
        page.goto(base + "/dashboard/datasets/new")
        page.fill("#name", "Greenhouse")
        rows = page.locator("[data-variable-rows] tr")
        rows.nth(0).locator("input[name=var_tag]").fill("temperature")
        rows.nth(0).locator("input[name=var_name]").fill("Temperature")
        rows.nth(0).locator("input[name=var_unit]").fill("°C")
        page.click("[data-add-row]")
        rows.nth(1).locator("input[name=var_tag]").fill("humidity")
        rows.nth(1).locator("input[name=var_unit]").fill("%")
        page.click("form.wide button[type=submit]")
        write_key = page.text_content("[data-key=write]")
        read_key = page.text_content("[data-key=read]")
        dataset_id = int(page.text_content("main p strong"))
        assert write_key in page.text_content("#snip-curl-update")  # the snippets carry the real keys
        assert read_key in page.text_content("#snip-read")

        # readings over the last day
        now = datetime.now(UTC).replace(microsecond=0)
        push(
            base,
            dataset_id,
            write_key,
            [
                {
                    "time": (now - timedelta(minutes=5 * i)).isoformat(),
                    "values": {"temperature": 20 + (i % 12) / 2, "humidity": 60 - (i % 20)},
                }
                for i in range(280)
            ],
        )
        drain(settings)

        # the chart shows them
        watch.chart_requests.clear()
        page.goto(f"{base}/dashboard/datasets/{dataset_id}?range=day")
        charts_loaded(page, 2)
        assert page.locator("figure.chart").count() == 2
        # each chart grows to fill the box reserved for it, and no further
        until(
            page,
            lambda: page.evaluate(
                "Array.from(document.querySelectorAll('figure.chart .uplot'))"
                ".every(u => u.offsetHeight >= 280 && u.offsetHeight <= 300)"
            ),
            5,
            "charts filling their boxes",
        )
        first = parse_qs(urlsplit(watch.chart_requests[0]).query)
        assert first["format"] == ["columns"] and first["bucket"] == ["auto"] and first["agg"] == ["min,max,avg"]
        start, end = int(first["start"][0]), int(first["end"][0])
        assert abs((end - start) - 86_400) <= 2 and abs(end - now.timestamp()) < 120
        legend = page.text_content("figure.chart[data-vars=temperature] .u-legend")
        assert "Temperature" in legend
        shifts = page.evaluate("""() => new Promise(done => new PerformanceObserver((list, observer) => {
            done(list.getEntries().reduce((sum, e) => sum + e.value, 0)); observer.disconnect();
        }).observe({type: 'layout-shift', buffered: true}) || setTimeout(() => done(0), 500))""")
        assert shifts < 0.01, f"the page moved while charts loaded (layout shift {shifts})"

        # drag across 30%..60% of the temperature chart: a request for the visible part, downsampled
        over = page.locator("figure.chart[data-vars=temperature] .u-over").bounding_box()
        y = over["y"] + over["height"] / 2
        with page.expect_request(lambda r: "format=columns" in r.url and "vars=temperature" in r.url) as zoom:
            page.mouse.move(over["x"] + over["width"] * 0.3, y)
            page.mouse.down()
            page.mouse.move(over["x"] + over["width"] * 0.45, y, steps=5)
            page.mouse.move(over["x"] + over["width"] * 0.6, y, steps=5)
            page.mouse.up()
        zoomed = parse_qs(urlsplit(zoom.value.url).query)
        z_start, z_end = int(zoomed["start"][0]), int(zoomed["end"][0])
        assert zoomed["bucket"] == ["auto"] and zoomed["agg"] == ["min,max,avg"]
        assert start + 0.25 * 86_400 < z_start < start + 0.35 * 86_400, (start, z_start)
        assert start + 0.55 * 86_400 < z_end < start + 0.65 * 86_400, (start, z_end)
        assert int(zoomed["points"][0]) >= int(over["width"]) - 2
        page.wait_for_selector("[data-reset]:not([disabled])")
        csv = page.get_attribute("[data-csv]", "href")
        assert f"start={z_start}" in csv and f"end={z_end}" in csv and "format=csv" in csv
        csv_text = context.request.get(base + csv)
        assert csv_text.ok and "temperature" in csv_text.text()
        page.click("[data-reset]")
        page.wait_for_selector("[data-reset][disabled]")
        with page.expect_request(lambda r: "format=columns" in r.url and "vars=temperature" in r.url) as keyed:
            page.focus("[data-zoom-in]")
            page.keyboard.press("Enter")  # zooming from the keyboard: the middle half
        halved = parse_qs(urlsplit(keyed.value.url).query)
        assert abs(int(halved["end"][0]) - int(halved["start"][0]) - 43_200) <= 2
        page.click("[data-reset]")
        page.wait_for_selector("[data-reset][disabled]")
        shoot(page, "dataset")

        # live: a relative range polls (never more often than every 5 s), not while the tab is hidden
        polls: list[float] = []
        page.on("request", lambda r: polls.append(time.monotonic()) if "vars=temperature" in r.url else None)
        until(page, lambda: len(polls) >= 2, 15, "two live polls")
        assert polls[1] - polls[0] >= 4.8, polls  # 5 s apart, give or take event delivery
        page.evaluate("""() => { Object.defineProperty(document, 'hidden', {configurable: true, get: () => true});
                                 document.dispatchEvent(new Event('visibilitychange')); }""")
        hidden_at = len(polls)
        page.wait_for_timeout(6000)
        assert len(polls) == hidden_at, "polled while the tab was hidden"
        page.evaluate("""() => { Object.defineProperty(document, 'hidden', {configurable: true, get: () => false});
                                 document.dispatchEvent(new Event('visibilitychange')); }""")
        until(page, lambda: len(polls) > hidden_at, 2, "a poll when the tab is shown again")

        # keyboard: the first Tab reaches the skip link, drawn with a visible focus ring
        page.goto(f"{base}/dashboard/datasets/{dataset_id}")
        page.keyboard.press("Tab")
        focus = page.evaluate(
            "[document.activeElement.className, getComputedStyle(document.activeElement).outlineStyle]"
        )
        assert focus[0] == "skip" and focus[1] != "none"

        # a device: registered, token shown once with its snippets, seen once it sends
        page.fill("#device_id", "car-1")
        page.click("form.register button")
        token = page.text_content("[data-token]")
        assert token in page.text_content("#dev-mqtt-telemetry") and base in page.text_content("#dev-autopi")
        shoot(page, "device")
        push(base, dataset_id, token, [{"values": {"temperature": 19.5}}])
        drain(settings)
        page.goto(f"{base}/dashboard/datasets/{dataset_id}")
        assert "never" not in page.text_content("[data-device='car-1'] [data-last-seen]")
        assert token not in page.content()

        # a new write key: the old one is refused, the new one works
        page.click(f"form[action='/dashboard/datasets/{dataset_id}/keys/write'] button")
        new_key = page.text_content("[data-key=write]")
        assert (
            new_key != write_key
            and ("confirm", "Regenerate the write key? Devices using the old one will be refused.") in watch.dialogs
        )
        wait_for(
            lambda: httpx.get(f"{base}/update", params={"api_key": write_key, "temperature": 1}).status_code == 401,
            timeout=5,
            what="the old write key refused",
        )
        assert httpx.get(f"{base}/update", params={"api_key": new_key, "temperature": 1}).status_code == 200

        # a form posted without its CSRF token is refused and changes nothing
        refused = context.request.post(f"{base}/dashboard/datasets/{dataset_id}/keys/write", form={"x": "1"})
        assert refused.status == 403
        assert httpx.get(f"{base}/update", params={"api_key": new_key, "temperature": 2}).status_code == 200

        # names that look like markup are shown as text; nothing runs
        page.goto(base + "/dashboard/datasets/new")
        page.fill("#name", XSS_NAME)
        page.locator("input[name=var_tag]").first.fill("evil")
        page.locator("input[name=var_name]").first.fill(XSS_VARIABLE)
        page.click("form.wide button[type=submit]")
        evil_id = int(page.text_content("main p strong"))
        evil_key = page.text_content("[data-key=write]")
        push(
            base,
            evil_id,
            evil_key,
            [{"time": (now - timedelta(minutes=i)).isoformat(), "values": {"evil": i}} for i in range(30)],
        )
        drain(settings)
        page.goto(f"{base}/dashboard/datasets/{evil_id}")
        charts_loaded(page, 1)
        assert page.text_content("h1") == XSS_NAME
        assert page.text_content("figure.chart figcaption").startswith(XSS_VARIABLE)
        assert page.locator("img[src=x]").count() == 0
        page.goto(base + "/dashboard")
        assert XSS_NAME in page.text_content(f"[data-dataset-card='{evil_id}'] h2")
        page.locator("canvas.spark[data-drawn]").nth(1).wait_for()  # both sparklines drew their last day
        shoot(page, "overview")

        # make the first dataset public
        page.goto(f"{base}/dashboard/datasets/{dataset_id}/edit")
        page.check("input[name=public]")
        page.click("form.wide button[type=submit]")
        assert "Public" in page.text_content(".meta .badge")

        # a stranger (a fresh browser, not logged in) sees the public page and its embed, nothing of the owner's
        stranger = browser.new_context(viewport={"width": 1440, "height": 900})
        other = stranger.new_page()
        watch.attach(other)
        answer = other.goto(f"{base}/dashboard/datasets/{dataset_id}")
        assert answer.status == 200 and urlsplit(other.url).path == f"/dashboard/datasets/{dataset_id}"
        charts_loaded(other, 2)
        assert other.locator("text=Regenerate").count() == 0 and other.locator("#device_id").count() == 0
        assert answer.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
        embed_url = f"{base}/embed/datasets/{dataset_id}?vars=temperature&range=day"
        answer = other.goto(embed_url)
        assert "x-frame-options" not in answer.headers
        assert "frame-ancestors *" in answer.headers["content-security-policy"]
        charts_loaded(other, 1)
        shoot(other, "embed")
        other.set_content(f'<iframe src="{embed_url}" width="800" height="360"></iframe>')
        other.frame_locator("iframe").locator("figure.chart[data-loaded] canvas").first.wait_for()
        other.goto(f"{base}/dashboard/datasets/{evil_id}")
        assert urlsplit(other.url).path == "/login"  # private: log in first
        stranger.close()

        # logout: the private dataset's page now sends to the login page
        page.goto(base + "/dashboard")
        page.click("form[action='/logout'] button")
        page.goto(f"{base}/dashboard/datasets/{evil_id}")
        assert urlsplit(page.url).path == "/login" and parse_qs(urlsplit(page.url).query)["next"] == [
            f"/dashboard/datasets/{evil_id}"
        ]
        assert XSS_NAME not in page.content()
        shoot(page, "login")

        assert watch.alerts == [], f"a script ran: {watch.alerts}"
        csp = [e for e in watch.errors if re.search("Content.Security.Policy|Refused to", e)]
        assert csp == [], csp
        assert [e for e in watch.errors if e.startswith("page error")] == []
        browser.close()
