"""The console in a real browser (Debian's Chromium via Playwright) against the real `spin up`.

`./scripts/test.sh browser` runs this file; screenshots (desktop and 375 px wide) go to out/console/.
See conftest.py for how the app and the browser are found and started.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
import uuid
from http.client import HTTPConnection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from conftest import API_TOKEN, CLAIMED, OUT, check_page, http, open_page
from playwright.sync_api import expect

TIMEOUT_MS = 15_000  # auto-refresh runs every 5 s


def expect_failures(request, watched, *expected: tuple[int, str]) -> None:
    """The failed requests since the last call are exactly these (status, path without query)."""
    got = [(status, path.split("?", 1)[0]) for status, path in watched.take_failed()]
    assert got == list(expected)
    request.node.stash[CLAIMED] = request.node.stash.get(CLAIMED, 0) + len(got)


def sign_in(page, app, token: str = API_TOKEN) -> None:
    page.goto(f"{app.base_url}/console/")
    field = page.get_by_label("API token")
    field.fill(token)
    field.press("Enter")


def rows(page):
    return page.locator("#events-body tr")


def row_of(page, delivery: str):
    return page.locator("#events-body tr", has=page.get_by_role("link", name=delivery, exact=True))


def overflow(page, width: int) -> list[str]:
    """The elements reaching past the right edge of a `width` px viewport (none, if it fits)."""
    return page.evaluate("""(width) => [...document.querySelectorAll('body, body *')]
        .filter((e) => e.getBoundingClientRect().right > width + 0.5
          || (e.scrollWidth > width + 0.5 && getComputedStyle(e).overflowX === 'visible'))
        .map((e) => `${e.tagName.toLowerCase()}#${e.id}.${e.className.baseVal ?? e.className}`)""", width)


def screenshot(page, name: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)


# --- headers ------------------------------------------------------------------------------------


def test_every_answer_carries_a_strict_policy_and_the_files_their_types(app, page):
    wanted = {
        "/console/": "text/html; charset=utf-8",
        "/console/app.js": "text/javascript; charset=utf-8",
        "/console/logic.js": "text/javascript; charset=utf-8",
        "/console/console.css": "text/css; charset=utf-8",
        "/console/icon.svg": "image/svg+xml",
    }
    for path, content_type in wanted.items():
        reply = http(app.base_url, "GET", path)
        assert reply.status == 200, path
        assert reply.header("content-type") == content_type, path
        assert reply.header("cache-control") == "no-cache", path
        etag = reply.header("etag")
        assert re.fullmatch(r'"[0-9a-f]{16}"', etag), etag
        again = http(app.base_url, "GET", path, {"if-none-match": etag})
        assert (again.status, again.body) == (304, b""), path

    for path in ["/console/", "/console", "/console/app.js", "/console/nope", "/console/healthz"]:
        reply = http(app.base_url, "GET", path)
        csp = reply.header("content-security-policy") or ""
        directives = {d.split(" ", 1)[0]: d for d in csp.split("; ")}
        assert directives.get("default-src") == "default-src 'self'", (path, csp)
        assert directives.get("script-src") == "script-src 'self'", (path, csp)
        assert directives.get("style-src") == "style-src 'self'", (path, csp)
        assert directives.get("frame-ancestors") == "frame-ancestors 'none'", (path, csp)
        assert directives.get("base-uri") == "base-uri 'none'", (path, csp)
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, (path, csp)
        assert reply.header("x-content-type-options") == "nosniff", path
        assert reply.header("referrer-policy") == "no-referrer", path
        assert reply.header("x-frame-options") == "DENY", path

    assert http(app.base_url, "GET", "/console/nope").status == 404
    assert http(app.base_url, "POST", "/console/").status == 405
    assert http(app.base_url, "GET", "/console/readyz").json()["status"] == "ready"

    # /console is a permanent redirect to /console/ (read without following it).
    origin = urlsplit(app.base_url)
    conn = HTTPConnection(origin.hostname, origin.port, timeout=10)
    conn.request("GET", "/console")
    moved = conn.getresponse()
    assert (moved.status, moved.getheader("location")) == (308, "/console/")
    conn.close()

    # /console leads to /console/, and the page loads under its own policy (checked at teardown).
    page.goto(f"{app.base_url}/console")
    page.wait_for_url(f"{app.base_url}/console/")
    page.get_by_label("API token").wait_for()
    assert page.title() == "Sign in · webhook-inbox console"


# --- sign-in ------------------------------------------------------------------------------------


def test_sign_in_shows_a_wrong_tokens_problem_keeps_the_token_in_the_tab_and_signs_out(app, page, watched, request):
    sign_in(page, app, "not a token")
    problem = page.locator("#signin-problem")
    problem.get_by_text("An API token is printable ASCII without spaces.").wait_for()
    assert watched.failed == [], "refused before asking the API"

    page.get_by_label("API token").fill("not-the-token")
    page.get_by_label("API token").press("Enter")
    problem.get_by_text("Authentication is required").wait_for()
    assert "the bearer token is not valid" in problem.text_content()
    assert re.search(r"Request id [0-9a-f]{32}", problem.text_content())
    assert page.get_by_label("API token").is_visible()
    assert page.evaluate("document.activeElement.id") == "token"
    expect_failures(request, watched, (401, "/api/stats"))

    page.get_by_label("API token").fill(API_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Inbox").wait_for()
    assert problem.is_hidden()
    stored = page.evaluate("Object.fromEntries(Object.entries(sessionStorage))")
    assert stored.get("webhook-inbox.console.token") == API_TOKEN
    assert page.evaluate("localStorage.length") == 0
    assert page.evaluate("document.cookie") == ""
    assert page.context.cookies() == []
    assert API_TOKEN not in page.url

    # A reload keeps the session (this tab's sessionStorage); a new tab does not share it.
    page.reload()
    page.get_by_role("heading", name="Inbox").wait_for()
    other = page.context.new_page()
    other.goto(f"{app.base_url}/console/")
    other.get_by_label("API token").wait_for()
    other.close()

    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("API token").wait_for()
    assert page.evaluate("sessionStorage.getItem('webhook-inbox.console.token')") is None


def test_a_rotated_token_returns_to_sign_in_with_the_problem(app, page, watched, request):
    sign_in(page, app)
    page.get_by_role("heading", name="Inbox").wait_for()
    # The operator rotates the token: same port, same store, another api_token.
    app.restart(api_token="the-new-token")
    # The next auto-refresh is refused and the page goes back to sign-in, saying why.
    page.locator("#signin-problem").get_by_text("Authentication is required").wait_for(timeout=TIMEOUT_MS)
    assert page.evaluate("sessionStorage.getItem('webhook-inbox.console.token')") is None
    failed = watched.take_failed()
    got = {(status, path.split("?", 1)[0]) for status, path in failed}
    assert got <= {(401, "/api/events"), (401, "/api/stats")} and got, got
    # A refresh may also have found the app down while it restarted.
    refused = [m for m in watched.console_errors if "ERR_CONNECTION_REFUSED" in m]
    request.node.stash[CLAIMED] = len(failed) + len(refused)
    sign_in(page, app, "the-new-token")
    page.get_by_role("heading", name="Inbox").wait_for()


# --- the inbox ----------------------------------------------------------------------------------


def test_list_filter_open_mark_processed_handle_412_and_delete(app, page, watched, request):
    run = uuid.uuid4().hex[:8]
    app.github(f"gh-{run}-1", "push", {"ref": "refs/heads/main", "n": 1})
    app.github(f"gh-{run}-2", "push", {"ref": "refs/heads/main", "n": 2})
    issue_body = '{"action":"opened","issue":{"number":7,"title":"Flaky test"},"id":12345678901234567890}'
    issue_id = app.github(f"gh-{run}-3", "issues", issue_body)
    stripe_id = app.stripe(f"evt_{run}", "invoice.paid")
    app.standard(f"msg_{run}", "user.created")

    sign_in(page, app)
    rows(page).nth(4).wait_for()
    assert rows(page).count() == 5
    headers = page.locator("#events-head th").all_text_contents()
    assert headers == ["Received", "Provider", "Type", "Delivery", "Status"]
    newest = rows(page).first.text_content()
    assert "standard" in newest and "user.created" in newest and f"msg_{run}" in newest
    assert "pending" in newest

    stats = page.locator("#stats-body")
    assert stats.locator("tr", has_text="github").locator("td").all_text_contents() == ["3", "0", "3"]
    assert stats.locator("tr", has_text="All").locator("td").all_text_contents() == ["5", "0", "5"]

    # The provider filter and the stats' names come from the API's catalogue: every provider by
    # name, the configured ones first; the stats name the providers the same way.
    catalogue = app.api("GET", "/api/providers").json()["providers"]
    select = page.get_by_label("Provider")
    expect(select.locator("option")).to_have_count(len(catalogue) + 1)
    configured = {p["name"] for p in catalogue if p["configured"]}
    assert configured and len(configured) < len(catalogue)
    assert set(select.locator("optgroup[label='Configured'] option").all_text_contents()) == configured
    github = next(p["name"] for p in catalogue if p["slug"] == "github")
    expect(stats.locator("tr[data-provider='github'] th")).to_have_text(github)
    assert page.locator("#chart rect").count() >= 12
    assert "the 5 listed events" in page.locator("#chart-caption").text_content()

    # Filters: a select applies at once; a typed type applies with Enter.
    page.get_by_label("Provider").select_option("stripe")
    expect(rows(page)).to_have_count(1)
    assert "invoice.paid" in rows(page).first.text_content()
    page.get_by_role("button", name="Clear").click()
    rows(page).nth(4).wait_for()
    page.get_by_label("Type").fill("push")
    page.get_by_label("Type").press("Enter")
    expect(rows(page)).to_have_count(2)
    assert all("push" in text for text in rows(page).all_text_contents())
    page.get_by_role("button", name="Clear").click()
    page.get_by_label("Received").select_option("custom")
    page.get_by_label("From").fill("2099-01-01T00:00")
    page.get_by_role("button", name="Apply filters").click()
    page.get_by_text("No event matches these filters.").wait_for()
    page.get_by_label("Received").select_option("15m")
    rows(page).nth(4).wait_for()
    page.get_by_role("button", name="Clear").click()
    rows(page).nth(4).wait_for()

    # Open the issue by clicking its row (not the link): everything that was delivered.
    row_of(page, f"gh-{run}-3").locator("td").first.click()
    page.wait_for_url(f"**/console/#/events/{issue_id}")
    fields = page.locator("#detail-fields")
    fields.get_by_text(issue_id).wait_for()
    for text in ["github", "issues", f"gh-{run}-3", "pending"]:
        assert text in fields.text_content()
    header_rows = dict(zip(page.locator("#detail-headers td:first-child").all_text_contents(),
                           page.locator("#detail-headers td:last-child").all_text_contents(), strict=True))
    assert header_rows["x-github-event"] == "issues"
    assert header_rows["x-github-delivery"] == f"gh-{run}-3"
    assert header_rows["x-hub-signature-256"].startswith("sha256=")
    pretty = page.locator("#payload-json").text_content()
    assert '"action": "opened"' in pretty
    assert '"id": 12345678901234567890' in pretty, "big integers are shown as sent"
    assert page.locator("#payload-raw").text_content() == issue_body

    # Mark processed: If-Match from the ETag; the page shows the new state.
    page.get_by_role("button", name="Mark processed").click()
    page.locator("#detail-status").get_by_text("Marked processed.").wait_for()
    assert "processed" in fields.text_content()
    assert page.get_by_role("button", name="Processed").is_disabled()
    assert app.api("GET", f"/api/events/{issue_id}").json()["status"] == "processed"
    screenshot(page, "desktop-detail")

    # Back to the list (the browser's back button), filtered by status.
    page.go_back()
    expect(rows(page).filter(has_text="processed")).to_have_count(1)
    screenshot(page, "desktop-list")
    page.get_by_label("Status").select_option("processed")
    expect(rows(page)).to_have_count(1)
    assert f"gh-{run}-3" in rows(page).first.text_content()
    page.get_by_role("button", name="Clear").click()
    rows(page).nth(4).wait_for()

    # A concurrent change: someone marks the push processed while this page shows it pending.
    push_id = row_of(page, f"gh-{run}-1").get_by_role("link").get_attribute("data-id")
    row_of(page, f"gh-{run}-1").get_by_role("link").click()
    fields.get_by_text(push_id).wait_for()
    assert app.api("PATCH", f"/api/events/{push_id}", {"status": "processed"}).status == 200
    page.get_by_role("button", name="Mark processed").click()
    problem = page.locator("#detail-problem")
    problem.get_by_text("Changed meanwhile, reload").wait_for()
    assert "changed meanwhile" in problem.text_content()
    expect_failures(request, watched, (412, f"/api/events/{push_id}"))
    problem.get_by_role("button", name="Reload").click()
    page.get_by_role("button", name="Processed").wait_for()
    assert problem.is_hidden()

    # Delete, with a confirmation that can be cancelled.
    page.get_by_role("link", name="Back to events").click()
    row_of(page, f"evt_{run}").get_by_role("link").click()
    fields.get_by_text(stripe_id).wait_for()
    page.get_by_role("button", name="Delete").click()
    dialog = page.get_by_role("dialog", name="Delete this event?")
    assert stripe_id in dialog.text_content()
    dialog.get_by_role("button", name="Cancel").click()
    assert dialog.is_hidden()
    assert app.api("GET", f"/api/events/{stripe_id}").status == 200
    page.get_by_role("button", name="Delete").click()
    dialog.get_by_role("button", name="Delete").click()
    page.locator("#list-status").get_by_text(f"Deleted {stripe_id}.").wait_for()
    assert rows(page).count() == 4
    assert row_of(page, f"evt_{run}").count() == 0
    assert app.api("GET", f"/api/events/{stripe_id}").status == 404
    stats.locator("tr", has_text="stripe").get_by_text("0").first.wait_for(timeout=TIMEOUT_MS)


class Receiver:
    """A forwarding destination on a loopback port. It answers `status`, which a test may change,
    or a function of the request's number (1 for the first). It records each request's
    `webhook-id`, `webhook-inbox-attempt` and the status it answered."""

    def __init__(self, status) -> None:
        self.status = status
        self.got: list[tuple[str, str, int]] = []
        lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                with lock:
                    answer = owner.status
                    status = answer(len(owner.got) + 1) if callable(answer) else answer
                    owner.got.append((self.headers.get("webhook-id") or "?",
                                      self.headers.get("webhook-inbox-attempt") or "?", status))
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"

    def ids(self) -> list[str]:
        """The `webhook-id` of each request, in order."""
        return [webhook_id for webhook_id, _, _ in self.got]

    def attempts(self) -> list[str]:
        """The attempt number of each request, in order."""
        return [attempt for _, attempt, _ in self.got]

    def statuses(self, webhook_id: str) -> list[int]:
        """What it answered to each request for this event, in order."""
        return [status for got_id, _, status in self.got if got_id == webhook_id]

    def wait_for(self, count: int, timeout: float = 15.0) -> list[str]:
        """The attempt numbers, once there are `count` requests (or the deadline passed)."""
        deadline = time.monotonic() + timeout
        while len(self.got) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.attempts()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_deliveries_show_each_attempt_and_replay_sends_again(app, page):
    # Gone (410) at the first attempt, then takes everything.
    destination = Receiver(lambda n: 410 if n == 1 else 200)
    try:
        secret = "whsec_ZTJlLWNvbnNvbGUtZGVzdGluYXRpb24="  # obviously fake
        app.restart(forward_destinations=json.dumps(
            [{"name": "downstream", "url": destination.url, "secret": secret}]))
        event_id = app.github("forwarded-1", "push", {"n": 1})
        assert destination.wait_for(1) == ["1"], "the first attempt follows the commit"
        sign_in(page, app)
        row_of(page, "forwarded-1").get_by_role("link").click()
        deliveries = page.locator("#deliveries-body tr")
        expect(deliveries).to_have_count(1)
        expect(deliveries.first).to_contain_text("downstream")
        expect(deliveries.first).to_contain_text("Dead letter")
        expect(deliveries.first).to_contain_text("HTTP 410")
        screenshot(page, "deliveries-dead")

        page.get_by_role("button", name="Replay to downstream").click()
        expect(page.locator("#deliveries-status")).to_contain_text("Replay to downstream queued")
        assert destination.wait_for(2) == ["1", "2"], "the replay is sent at once"
        expect(deliveries.first).to_contain_text("Delivered", timeout=TIMEOUT_MS)
        expect(deliveries.first.locator("summary")).to_contain_text("2 attempts, replayed 1")
        reply = app.api("GET", f"/api/events/{event_id}/deliveries")
        assert reply.json()["deliveries"][0]["state"] == "delivered"
    finally:
        destination.close()


def wait_until(what: str, check, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.1)
    return result


def test_replay_dead_letters_in_batches_continues_and_never_sends_one_twice(app, page):
    destination = Receiver(410)  # gone until it recovers
    try:
        secret = "whsec_ZTJlLWNvbnNvbGUtZGVzdGluYXRpb24="  # obviously fake
        app.restart(forward_destinations=json.dumps(
            [{"name": "downstream", "url": destination.url, "secret": secret}]))
        pushes = [app.github(f"outage-{n}", "push", {"n": n}) for n in range(3)]
        issue = app.github("outage-issue", "issues", {"action": "opened"})
        wait_until("four dead letters", lambda: len(
            app.api("GET", "/api/dead-letters?destination=downstream").json()["items"]) == 4)
        destination.status = 200

        sign_in(page, app)
        choice = page.get_by_label("Destination", exact=True)
        expect(choice.locator("option", has_text="downstream (4 dead)")).to_have_count(1, timeout=TIMEOUT_MS)
        choice.select_option("downstream")
        page.get_by_label("Filter", exact=True).fill("github:push")
        page.get_by_label("Batch size").fill("2")
        page.get_by_role("button", name="Replay dead letters").click()
        status = page.locator("#dead-status")
        expect(status).to_contain_text("Replayed 2 dead letters.")
        expect(status).to_contain_text("Passed over: 1 not selected")
        expect(status).to_contain_text("More remain")
        screenshot(page, "dead-letters-continue")
        page.get_by_role("button", name="Continue").click()
        expect(status).to_contain_text("Replayed 1 dead letter (3 in 2 batches).")
        expect(status).to_contain_text("Done")
        expect(page.get_by_role("button", name="Replay dead letters")).to_be_visible()

        # Each push lands once more (sent at once, no tick here); the issue is left dead.
        wait_until("three replays", lambda: all(destination.statuses(i) == [410, 200] for i in pushes))
        expect(choice.locator("option", has_text="downstream (1 dead)")).to_have_count(1, timeout=TIMEOUT_MS)
        assert destination.statuses(issue) == [410]
        letters = app.api("GET", "/api/dead-letters").json()["items"]
        assert [(d["event_id"], d["destination"]) for d in letters] == [(issue, "downstream")]

        # A pass from the top now replays nothing of those: they are no longer dead.
        page.get_by_role("button", name="Replay dead letters").click()
        expect(status).to_contain_text("Replayed 0 dead letters.")
        expect(status).to_contain_text("3 no longer dead")
        assert all(destination.statuses(i) == [410, 200] for i in pushes)
    finally:
        destination.close()


def test_destinations_show_settings_and_a_disabled_one_is_re_enabled(app, page, watched, request):
    flaky = Receiver(500)
    steady = Receiver(200)
    try:
        secrets = ["whsec_ZTJlLWNvbnNvbGUtbmV3LXNlY3JldA==", "whsec_ZTJlLWNvbnNvbGUtb2xkLXNlY3JldA=="]  # obviously fake
        app.restart(forward_destinations=json.dumps([
            {"name": "flaky", "url": flaky.url, "secret": secrets, "max_per_second": 20, "max_in_flight": 5,
             "disable_after_failures": 2, "disable_after_seconds": 600},
            {"name": "steady", "url": steady.url, "secret": secrets[0], "ordered": True},
        ]))
        # Two events, each sent at once after ingestion: flaky answers 500 to both, two failed
        # attempts in a row, and is disabled.
        events = [app.github(f"circuit-{n}", "push", {"n": n}) for n in range(2)]
        def flaky_state() -> dict:
            return app.api("GET", "/api/stats").json()["forwarding"]["flaky"]

        disabled = wait_until("flaky disabled", lambda: flaky_state().get("disabled"))
        assert disabled["reason"] == "2 failed attempts in a row"
        assert sorted(flaky.ids()) == sorted(events)

        # The ordered one may hold the second event until the first is delivered: tick as the
        # ticker does (flaky, disabled, is not attempted: its deliveries wait).
        def steady_got_both() -> bool:
            assert app.api("POST", "/api/dispatch").status == 200
            return sorted(steady.ids()) == sorted(events)

        wait_until("steady got both", steady_got_both)
        assert sorted(flaky.ids()) == sorted(events)

        sign_in(page, app)
        table = page.locator("#destinations-body")
        flaky_row = table.locator("tr[data-destination='flaky']")
        steady_row = table.locator("tr[data-destination='steady']")
        expect(flaky_row.locator(".badge.disabled")).to_have_text("disabled", timeout=TIMEOUT_MS)
        expect(flaky_row).to_contain_text("2 failed attempts in a row")
        # Nothing parked yet: both wait for their first retry, in the queue as usual.
        expect(flaky_row).to_contain_text("; 0 waiting")
        assert flaky_row.locator("time").get_attribute("datetime") == disabled["since"]
        assert flaky_row.locator(".badge.setting").all_text_contents() == [
            "\u2264 20/s", "\u2264 5 in flight", "rotating: 2 secrets",
            "disabled after 2 failed attempts in a row or 10 min failing"]
        # Both deliveries wait (the first retry is not due yet), nothing delivered or dead.
        expect(flaky_row.locator("td.num")).to_have_text(["2", "0", "0"], timeout=TIMEOUT_MS)
        expect(steady_row.locator(".badge.enabled")).to_have_text("enabled")
        expect(steady_row.locator(".badge.unknown")).to_have_text("ordered")
        expect(steady_row.locator("td.num")).to_have_text(["0", "2", "0"], timeout=TIMEOUT_MS)
        expect(steady_row.locator("td", has_text="no limits or thresholds")).to_have_count(1)
        expect(steady_row.get_by_role("button")).to_have_count(0)
        screenshot(page, "destinations-disabled")

        # A refused re-enable shows the API's problem and leaves the row as it was: the real
        # API's answer for a name never configured, given to this click.
        unknown = app.api("POST", "/api/destinations/nope/enable")
        assert unknown.status == 404
        page.route("**/api/destinations/flaky/enable", lambda route: route.fulfill(
            status=unknown.status, headers={"content-type": unknown.header("content-type")}, body=unknown.body))
        page.get_by_role("button", name="Re-enable flaky").click()
        problem = page.locator("#destinations-problem")
        expect(problem).to_contain_text("no destination nope has been configured")
        expect(problem).to_contain_text("HTTP 404")
        expect(page.get_by_role("button", name="Re-enable flaky")).to_be_enabled()
        expect_failures(request, watched, (404, "/api/destinations/flaky/enable"))
        page.unroute("**/api/destinations/flaky/enable")
        assert "disabled" in flaky_state()

        # Fixed: re-enable it. The page says what it was disabled for and shows it enabled.
        flaky.status = 200
        page.get_by_role("button", name="Re-enable flaky").click()
        status = page.locator("#destinations-status")
        expect(status).to_contain_text("Re-enabled flaky (it was disabled since")
        expect(status).to_contain_text(": 2 failed attempts in a row).")
        expect(problem).to_be_hidden()
        expect(flaky_row.locator(".badge.enabled")).to_have_text("enabled")
        expect(flaky_row.locator(".badge.disabled")).to_have_count(0)
        expect(flaky_row.get_by_role("button")).to_have_count(0)
        expect(page.get_by_role("heading", name="Destinations")).to_be_focused()
        assert "disabled" not in flaky_state()
        screenshot(page, "destinations-enabled")

        # It fits a phone: one card per destination.
        page.set_viewport_size({"width": 375, "height": 812})
        assert page.evaluate("document.documentElement.scrollWidth") <= 375, overflow(page, 375)
        screenshot(page, "mobile-destinations")
    finally:
        flaky.close()
        steady.close()


def test_html_in_stored_data_renders_as_text(app, page):
    event_type = '"><img/src=x/onerror=window.__xss=1>'
    delivery = "<script>window.__xss=2</script>"
    payload = {
        "title": "<script>window.__xss=3</script>",
        "html": '"><img src=x onerror="window.__xss=4;alert(4)">',
        "svg": "<svg onload=alert(5)></svg>",
    }
    event_id = app.github(delivery, event_type, payload)
    sign_in(page, app)
    row = rows(page).first
    row.wait_for()
    assert event_type in row.text_content()
    assert row.get_by_role("link").text_content() == delivery
    row.get_by_role("link").click()
    page.locator("#detail-fields").get_by_text(event_id).wait_for()
    pretty = page.locator("#payload-json").text_content()
    for value in payload.values():
        assert json.dumps(value) in pretty
    assert page.locator("#payload-raw").text_content() == json.dumps(payload)
    assert event_type in page.locator("#detail-headers").text_content()
    assert delivery in page.locator("#curl-command").input_value()
    page.wait_for_timeout(500)  # give an injected handler the time it would need
    # Nothing was parsed as markup: no element, no handler, nothing ran (dialogs, errors and CSP
    # violations are checked when the test ends).
    assert page.evaluate("window.__xss") is None
    assert page.locator("img").count() == 1, "only the header's logo"
    assert page.locator("main img, main svg[onload], [onerror], [onload], main script").count() == 0
    assert page.locator("script").count() == 1, "only app.js"


# --- copy as curl -------------------------------------------------------------------------------


def test_copy_as_curl_resends_the_stored_delivery_to_a_local_spin_up(app, page):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=app.base_url)
    body = "{\"zen\": \"it's <b>fine</b> $HOME `id`\",\n \"n\": 1}\n"
    event_id = app.github("resend-1", "ping", body)
    sign_in(page, app)
    rows(page).first.get_by_role("link").click()
    page.locator("#detail-fields").get_by_text(event_id).wait_for()
    page.get_by_label("Re-send to").fill(app.base_url)
    page.get_by_role("button", name="Copy as curl").click()
    page.locator("#detail-status").get_by_text("Copied the curl command to the clipboard.").wait_for()
    command = page.evaluate("navigator.clipboard.readText()")
    assert command == page.locator("#curl-command").input_value()
    assert command.startswith(f"curl -sS -X POST '{app.base_url}/webhooks/github'")
    # Sent to the same store, the byte-exact copy verifies and is recognized as the same delivery.
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"id": event_id, "duplicate": True}


# --- paging, refresh, keyboard, small screens ------------------------------------------------------


def test_load_more_and_a_refresh_that_keeps_the_scroll_position(app, browser, watched, request):
    for n in range(55):
        app.github(f"page-{n:02}", "push", {"n": n})
    context, page = open_page(browser, watched, 1280, 700)
    try:
        sign_in(page, app)
        rows(page).nth(49).wait_for()
        assert rows(page).count() == 50
        assert "more to load" in page.locator("#list-status").text_content()
        page.get_by_role("button", name="Load more").click()
        rows(page).nth(54).wait_for()
        assert rows(page).count() == 55
        assert page.get_by_role("button", name="Load more").is_hidden()
        assert rows(page).last.get_by_role("link").text_content() == "page-00"

        # Read in the middle of the list; a new delivery arrives; the row stays where it was.
        anchor = row_of(page, "page-30")
        anchor.scroll_into_view_if_needed()
        page.evaluate("window.scrollBy(0, 200)")
        before_top = anchor.bounding_box()["y"]
        before_scroll = page.evaluate("window.scrollY")
        app.github("page-new", "push", {"n": "new"})
        row_of(page, "page-new").wait_for(timeout=TIMEOUT_MS)
        assert rows(page).count() == 56, "the page loaded with Load more is kept"
        assert abs(anchor.bounding_box()["y"] - before_top) <= 1
        assert page.evaluate("window.scrollY") > before_scroll
        assert "1 new event" in page.locator("#list-status").text_content()
        check_page(page, watched, request)
    finally:
        context.close()


def test_keyboard_only_and_375_px_wide(app, browser, watched, request):
    app.github("kbd-1", "push", {"n": 1})
    app.github("kbd-2", "issues", '{"action":"closed","n":2}')
    context, page = open_page(browser, watched, 375, 812)
    try:
        page.goto(f"{app.base_url}/console/")
        # Every control has an accessible name: sign-in first.
        page.keyboard.press("Tab")  # the skip link
        assert page.evaluate("document.activeElement.textContent") == "Skip to content"
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "token"
        page.keyboard.type(API_TOKEN)
        page.keyboard.press("Enter")
        rows(page).nth(1).wait_for()
        unnamed = page.evaluate("""() => [...document.querySelectorAll('input, select, textarea')]
            .filter((e) => e.offsetParent !== null && !e.labels.length && !e.getAttribute('aria-label'))
            .map((e) => e.id)""")
        assert unnamed == []
        assert page.evaluate("document.documentElement.scrollWidth") <= 375, overflow(page, 375)
        screenshot(page, "mobile-list")

        # The rows' links are reachable, the arrow keys move between them, Enter opens one.
        page.locator("#events-body a").first.focus()
        page.keyboard.press("ArrowDown")
        focused = page.evaluate("document.activeElement.textContent")
        assert focused == "kbd-1"
        outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline != "none", "focus is visible"
        page.keyboard.press("ArrowUp")
        page.keyboard.press("Enter")
        page.locator("#detail-fields").get_by_text("kbd-2").wait_for()
        assert page.evaluate("document.activeElement.id") == "detail-title"
        assert page.evaluate("document.documentElement.scrollWidth") <= 375, overflow(page, 375)
        screenshot(page, "mobile-detail")
        page.get_by_role("link", name="Back to events").focus()
        page.keyboard.press("Enter")
        expect(page.get_by_role("link", name="kbd-2", exact=True)).to_be_focused()
        check_page(page, watched, request)
    finally:
        context.close()


def test_empty_inbox_and_a_stopped_app_say_what_to_do(app, page, watched, request):
    sign_in(page, app)
    empty = page.locator("#list-empty")
    empty.get_by_text("No events yet.").wait_for()
    assert "/webhooks/github" in empty.text_content()
    app.stop()
    page.get_by_role("button", name="Refresh").click()
    problem = page.locator("#list-problem")
    problem.get_by_text("The API could not be reached").wait_for()
    assert "Is the app running?" in problem.text_content()
    # A fetch that cannot connect is logged by Chromium as a console error (net::ERR_...): claimed.
    assert watched.take_failed() == []
    errors = [m for m in watched.console_errors if "ERR_CONNECTION_REFUSED" in m]
    watched.console_errors = [m for m in watched.console_errors if m not in errors]
    request.node.stash[CLAIMED] = 0
