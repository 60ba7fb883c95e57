"""The web console in a real browser: Debian's Chromium driven by Playwright, against a real
``kafkascope serve`` on the session sandbox, with read and admin tokens configured.

One service and one browser serve the whole module (about a minute of wall time in all).
Screenshots of each page go to ``build/test-artifacts/console/`` (git-ignored).
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from kafkascope.api.console.web import vendor_dir
from kafkascope.sandbox import cluster, probe, procs
from kafkascope.sandbox.state import SandboxState
from tests.conftest import ClientFactory
from tests.e2e.conftest import ServiceProc, service_config
from tests.support import wait_until

ADMIN = "console-admin-token"
READER = "console-read-token"
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "build" / "test-artifacts" / "console"
CLIENT_INTERVAL = 2.0  # service_config's client_interval
PAGES = (
    "/c/sandbox",
    "/c/sandbox/brokers",
    "/c/sandbox/brokers/1",
    "/c/sandbox/topics",
    "/c/sandbox/topics/orders",
    "/c/sandbox/groups",
    "/c/sandbox/groups/orders-processor",
    "/c/sandbox/clients",
    "/c/sandbox/client?id=orders-producer",
    "/alerts",
)


@pytest.fixture(scope="module")
def console(sandbox: SandboxState, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A ``serve`` with an admin and a read token; yields its base URL."""
    tmp = tmp_path_factory.mktemp("console")
    port = procs.free_port()
    text = service_config(sandbox, tmp / "data", port)
    listen = f'listen = "127.0.0.1:{port}"'
    text = text.replace(
        listen, f'{listen}\nadmin_tokens = ["{ADMIN}"]\nread_tokens = ["{READER}"]', 1
    )
    cfg = tmp / "kafkascope.toml"
    cfg.write_text(text)
    svc = ServiceProc(cfg, port, tmp / "serve.log")
    svc.start()
    try:
        yield svc.url
    finally:
        svc.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing. Fix: run 'make setup' (apt-get install chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


class Watched:
    """A page whose console errors, failed requests and every URL it visited are kept."""

    def __init__(self, context: BrowserContext) -> None:
        self.context = context
        self.page: Page = context.new_page()
        self.errors: list[str] = []
        self.urls: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        # A poll in flight when the test navigates away is aborted: not a failure.
        self.page.on(
            "requestfailed",
            lambda r: (
                None
                if r.failure == "net::ERR_ABORTED"
                else self.errors.append(f"failed: {r.url} ({r.failure})")
            ),
        )
        self.page.on("request", lambda r: self.urls.append(r.url))


def signed_in(browser: Browser, base: str, token: str, **kw: Any) -> Watched:
    w = Watched(browser.new_context(viewport={"width": 1280, "height": 900}, **kw))
    w.page.goto(f"{base}/ui/c/sandbox")
    assert "/ui/signin" in w.page.url, "a page without a session goes to sign-in"
    w.page.fill("#token", token)
    w.page.click("form.signin button[type=submit]")
    w.page.wait_for_url(f"{base}/ui/c/sandbox")
    return w


def test_sign_in_read_token_and_sign_out(console: str, browser: Browser) -> None:
    w = Watched(browser.new_context())
    page = w.page
    page.goto(f"{console}/ui/c/sandbox/clients?liveness=ALIVE")
    assert page.url.startswith(f"{console}/ui/signin?next=")
    page.fill("#token", "not-a-token")
    page.click("form.signin button[type=submit]")
    assert "not one of the configured" in page.inner_text("main")
    page.fill("#token", READER)
    page.click("form.signin button[type=submit]")
    # Back where it was going, filters kept.
    page.wait_for_url(f"{console}/ui/c/sandbox/clients?liveness=ALIVE")
    cookie = next(c for c in w.context.cookies() if c["name"] == "ks_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/ui"
    assert "read-only" in page.inner_text("header")
    # A read token sees no admin buttons, and the server refuses the action anyway.
    page.goto(f"{console}/ui/alerts")
    for label in ("Acknowledge", "Expire", "Create silence"):
        assert page.get_by_role("button", name=label).count() == 0, label
    csrf = page.get_attribute("input[name=csrf]", "value")
    assert csrf
    refused = w.context.request.post(
        f"{console}/ui/silences",
        form={"csrf": csrf, "matchers": "rule=x", "hours": "1"},
        headers={"origin": console},
    )
    assert refused.status == 403
    # Never a token in a URL.
    assert not [u for u in w.urls if READER in u or "token=" in u]
    page.click("header button:has-text('Sign out')")
    page.wait_for_url(f"{console}/ui/signin")
    page.goto(f"{console}/ui/c/sandbox")
    assert "/ui/signin" in page.url, "signed out: the session is gone"
    w.context.close()


def test_admin_silence_create_and_expire_csrf_checked(console: str, browser: Browser) -> None:
    w = signed_in(browser, console, ADMIN)
    page = w.page
    page.goto(f"{console}/ui/alerts")
    comment = f"console-test-{uuid.uuid4().hex[:6]}"
    page.fill("#matchers", f"cluster=sandbox, rule={comment}")
    page.fill("#hours", "1")
    page.fill("#comment", comment)
    page.click("button:has-text('Create silence')")
    page.wait_for_url("**/ui/alerts?done=silenced")
    row = page.locator("table.silences tr", has_text=comment)
    assert row.count() == 1
    # A POST without the CSRF token is refused, even with the session cookie.
    sid = row.get_attribute("data-silence")
    forged = w.context.request.post(f"{console}/ui/silences/{sid}/expire", form={})
    assert forged.status == 403
    assert page.locator("table.silences tr", has_text=comment).count() == 1
    row.get_by_role("button", name="Expire").click()
    page.wait_for_url("**/ui/alerts?done=expired")
    assert page.locator("table.silences tr", has_text=comment).count() == 0
    assert not w.errors, w.errors
    w.context.close()


def test_group_list_permalinks(console: str, browser: Browser) -> None:
    w = signed_in(browser, console, READER)
    page = w.page
    url = f"{console}/ui/c/sandbox/groups?status=OK,WARN&sort=lag&order=desc"
    page.goto(url)
    assert page.is_checked("input[name=status][value=OK]")
    assert not page.is_checked("input[name=status][value=ERR]")
    header = page.locator("th[aria-sort]")
    assert header.inner_text().startswith("lag") and header.get_attribute("aria-sort") == (
        "descending"
    )

    def lags() -> list[float]:
        cells = page.locator("table.groups tbody tr td:nth-child(4)").all_inner_texts()
        return [float(c.replace(",", "")) for c in cells if c != "–"]

    shown = lags()
    assert shown == sorted(shown, reverse=True) and shown, shown
    statuses = page.locator("table.groups tbody tr td:nth-child(2)").all_inner_texts()
    assert all(s.split()[-1] in ("OK", "WARN") for s in statuses), statuses
    # Clicking the header flips the order, and the URL says so (a permalink).
    page.locator("th[aria-sort] a").click()
    page.wait_for_url("**order=asc**")
    assert "status=OK%2CWARN" in page.url and "sort=lag" in page.url
    again = lags()
    assert again == sorted(again), again
    w.context.close()


def test_a_killed_consumer_turns_dead_without_a_reload(
    console: str, browser: Browser, sandbox: SandboxState, start_client: ClientFactory
) -> None:
    topic = f"console-kill-{uuid.uuid4().hex[:6]}"
    group = f"{topic}-g"
    probe.create_topics(sandbox.bootstrap, {topic: 1}, 3, time.monotonic() + 60)
    start_client("producer", topic, rate=10)
    consumer = start_client("consumer", topic, group=group, client_id=f"{topic}-c")
    w = signed_in(browser, console, ADMIN)
    clients = w.page
    clients.goto(f"{console}/ui/c/sandbox/clients?q={topic}-c")
    group_page = w.context.new_page()
    row = f"tr[data-target='{consumer.jmx}'] td.verdict"
    member = f"table.members tr[data-client='{topic}-c'] td.verdict"

    def alive() -> bool:
        if group_page.url == "about:blank":
            # The group page exists once the group has committed.
            group_page.goto(f"{console}/ui/c/sandbox/groups/{group}")
            if group_page.locator("table.members").count() == 0:
                group_page.goto("about:blank")
                return False
        return bool(
            clients.locator(row).count()
            and "ALIVE" in clients.locator(row).inner_text()
            and group_page.locator(member).count()
            and "ALIVE" in group_page.locator(member).inner_text()
        )

    wait_until(alive, 120, "the new consumer ALIVE on the clients and group pages")
    # A marker in each page's JS state: gone if the page reloads.
    for p in (clients, group_page):
        p.evaluate("window.__noReload = true")
    cluster.client_signal(Path(sandbox.dir), consumer.name, "KILL")

    def api_dead() -> bool:
        r = w.context.request.get(
            f"{console}/api/v1/clusters/sandbox/clients",
            headers={"authorization": f"Bearer {READER}"},
        )
        rows = [c for c in r.json()["clients"] if c["target"] == consumer.jmx]
        return bool(rows) and all(c["liveness"] == "DEAD" for c in rows)

    wait_until(api_dead, 30, "the service to judge the killed consumer DEAD")
    # From then on, both pages show it within two client intervals, without a reload.
    budget = 2 * CLIENT_INTERVAL + 1.0

    def shown_dead() -> bool:
        return (
            "DEAD" in clients.locator(row).inner_text()
            and "DEAD" in group_page.locator(member).inner_text()
        )

    wait_until(shown_dead, budget, "DEAD on the clients and group pages", interval=0.1)
    for p in (clients, group_page):
        assert p.evaluate("window.__noReload") is True, "the page reloaded"
    # The alert it raises can be acknowledged with a note (admin).
    alerts = w.context.new_page()

    def dead_alert() -> bool:
        alerts.goto(f"{console}/ui/alerts?state=firing")
        return alerts.locator("tr", has_text=f"{topic}-c").count() > 0

    wait_until(dead_alert, 30, "a firing client_dead alert for the consumer")
    alert_row = alerts.locator("tr", has_text=f"{topic}-c").first
    alert_row.locator("input[name=note]").fill("looking into it")
    alert_row.get_by_role("button", name="Acknowledge").click()
    alerts.wait_for_url("**/ui/alerts?done=acked")
    alerts.goto(f"{console}/ui/alerts?state=firing")
    acked = alerts.locator("tr", has_text=f"{topic}-c").first.inner_text()
    assert "console: looking into it" in acked
    assert not w.errors, w.errors
    w.context.close()


def check_burrow_window(page: Page) -> None:
    """The group page draws the window its verdict was judged from: the series uPlot holds
    are the committed offsets and log-end offsets the page was given, on one time axis."""
    wait_until(
        lambda: page.locator("figure.window[data-commits]").count() == 1,
        20,
        "the Burrow window drawn",
    )
    # One evaluation: an htmx swap (every 2 s) cannot fall between the two reads.
    given, drawn = page.evaluate(
        "() => [JSON.parse(document.querySelector('figure.window').dataset.window),"
        " {x: ksWindow.x, commits: ksWindow.commits, ends: ksWindow.ends,"
        "  labels: ksWindow.plot.series.slice(1).map(s => s.label),"
        "  data: ksWindow.plot.data}]"
    )
    assert drawn["labels"] == ["committed offset", "log-end offset"]
    # What uPlot holds is what it was given: x, then the two series.
    assert drawn["data"] == [drawn["x"], drawn["commits"], drawn["ends"]]
    by_time = dict(zip(drawn["x"], zip(drawn["commits"], drawn["ends"], strict=True), strict=True))
    assert [[t, by_time[t][0]] for t, _ in given["commits"]] == given["commits"]
    assert [[t, by_time[t][1]] for t, _ in given["ends"]] == given["ends"]
    assert sum(v is not None for v in drawn["commits"]) == len(given["commits"]) >= 1
    assert drawn["x"] == sorted(drawn["x"])
    # A consumer never commits past the log end it was judged against.
    assert given["ends"][-1][1] >= given["commits"][-1][1]
    assert given["topic"] == "orders" and 0 <= given["partition"] < 6


def test_every_page_renders_with_charts_holding_data_and_no_serious_axe_violation(
    console: str, browser: Browser
) -> None:
    axe = vendor_dir() / "axe-core" / "axe.min.js"
    assert axe.is_file(), f"{axe} is missing. Fix: run 'make setup' (npm fetches axe-core)"
    # bypass_csp: axe is injected as an inline script, which the console's CSP forbids.
    w = signed_in(browser, console, ADMIN, bypass_csp=True)
    page = w.page
    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    ARTIFACTS.mkdir(parents=True)
    problems: dict[str, Any] = {}
    for path in PAGES:
        page.goto(f"{console}/ui{path}")
        charts = page.locator("figure.chart")
        if charts.count():
            # Charts hold data: the series drawn and their points, not just a canvas.
            n = charts.count()
            wait_until(
                lambda n=n: page.locator("figure.chart[data-points]").count() == n,  # type: ignore[misc]
                15,
                f"every chart on {path} drawn",
            )
            # Every chart: a series renamed in the store or the catalog would draw nothing.
            drawn = page.evaluate(
                "() => [...document.querySelectorAll('figure.chart')].map(f =>"
                " [f.dataset.name, +f.dataset.series, +f.dataset.points])"
            )
            empty = [name for name, series, points in drawn if not series or not points]
            if empty:
                problems[f"{path} empty charts"] = empty
        if path.startswith("/c/sandbox/groups/"):
            check_burrow_window(page)
        page.add_script_tag(path=str(axe))
        result = page.evaluate(
            "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
            ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
            ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.length}))"
        )
        if result:
            problems[path] = result
        name = path.strip("/").replace("/", "_").replace("?", "_").replace("=", "-")
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    # The system's dark setting turns the console dark (and it still passes axe); light
    # is the default. Status is never colour alone: every badge has its icon and word.
    page.goto(f"{console}/ui/c/sandbox/groups")
    light = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    page.emulate_media(color_scheme="dark")
    dark = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    assert (light, dark) == ("rgb(255, 255, 255)", "rgb(13, 17, 23)")
    page.add_script_tag(path=str(axe))
    result = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".filter(v => v.impact === 'serious' || v.impact === 'critical').map(v => v.id)"
    )
    if result:
        problems["groups, dark"] = result
    page.screenshot(path=str(ARTIFACTS / "c_sandbox_groups_dark.png"))
    badges = page.evaluate(
        "() => [...document.querySelectorAll('.badge')].map(b =>"
        " [b.querySelector('[aria-hidden=true]')?.textContent || '', b.textContent.trim()])"
    )
    assert badges and all(icon.strip() and len(text) > len(icon) + 1 for icon, text in badges)
    assert not problems, json.dumps(problems, indent=1)
    assert not w.errors, w.errors
    w.context.close()
