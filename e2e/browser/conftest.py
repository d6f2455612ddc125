"""The browser tests' harness: the real app on the real `spin up`, Debian's Chromium via Playwright.

It follows the Rust e2e harness (e2e/src/lib.rs): each test starts its own `spin up` on a free
loopback port, in its own temporary working directory (a developer's `.env` never leaks in) and
state directory (a fresh SQLite key-value store), with only the variables the test sets. Spin is
`SPIN_BIN`, then `spin` on PATH; Chromium is `CHROMIUM_BIN`, then /usr/bin/chromium, then
`chromium` on PATH (a Playwright browser download cannot work on machines that reach only the
package registries). Without one of them, or without the `playwright` wheel, the tests SKIP
loudly, unless REQUIRE_SPIN=1 (set by .ci/run), where that is a failure.

Deliveries are signed the way the providers sign them, as e2e/src/signing.rs does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "out" / "console"

# Test secrets, as in e2e/src/signing.rs. Obviously fake.
GITHUB_SECRET = "e2e-github-secret"
STRIPE_SECRET = "whsec_e2e_stripe_secret"
STANDARD_SECRET = "whsec_ZTJlLXN0YW5kYXJkLXdlYmhvb2tzLWtleQ=="
API_TOKEN = "e2e-api-token"

# The launch the brief prescribes: the system browser, headless, nothing phoning home.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
START_TIMEOUT = 60.0


def required() -> bool:
    return os.environ.get("REQUIRE_SPIN") == "1"


def missing(what: str, hint: str):
    """Fails under REQUIRE_SPIN=1, else skips with a message nobody can miss."""
    message = f"{what} not found ({hint})"
    if required():
        pytest.fail(f"REQUIRE_SPIN=1 but {message}", pytrace=False)
    banner = "*" * 72
    print(f"\n{banner}\nSKIPPED browser tests: {message}.\nSet REQUIRE_SPIN=1 to make this a failure.\n{banner}")
    pytest.skip(message)


def find_program(override: str, names: list[str]) -> str | None:
    value = os.environ.get(override)
    if value:
        return value if Path(value).is_file() else None
    for name in names:
        if name.startswith("/"):
            if Path(name).is_file():
                return name
        elif (found := shutil.which(name)) is not None:
            return found
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- HTTP --------------------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def http(base: str, method: str, path: str, headers: dict[str, str] | None = None, body: bytes | None = None) -> Reply:
    request = urllib.request.Request(base + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return Reply(response.status, {k.lower(): v for k, v in response.headers.items()}, response.read())
    except urllib.error.HTTPError as error:
        return Reply(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())


def sign_github(body: bytes) -> str:
    return "sha256=" + hmac.new(GITHUB_SECRET.encode(), body, hashlib.sha256).hexdigest()


def sign_stripe(body: bytes, timestamp: int) -> str:
    mac = hmac.new(STRIPE_SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def sign_standard(message_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(STANDARD_SECRET.removeprefix("whsec_"))
    mac = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


# --- the app ------------------------------------------------------------------------------------


@dataclass
class SpinApp:
    """A running `spin up` of the checkout's spin.toml; `stop()` ends it (SIGTERM, then kill)."""

    spin: str
    variables: dict[str, str]
    work: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="console-e2e-")))
    port: int = 0
    process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, port: int | None = None) -> SpinApp:
        self.port = port or free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("SPIN_VARIABLE_")}
        env.update({f"SPIN_VARIABLE_{name.upper()}": value for name, value in self.variables.items()})
        logs = self.work / "logs"
        logs.mkdir(exist_ok=True)
        self.process = subprocess.Popen(
            [
                self.spin, "up", "--from", str(REPO / "spin.toml"),
                "--listen", f"127.0.0.1:{self.port}",
                "--state-dir", str(self.work / "state"),
                "--log-dir", str(logs / "components"),
            ],
            cwd=self.work,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=open(logs / "spin-stdout.log", "ab"),  # noqa: SIM115 (closed with the process)
            stderr=open(logs / "spin-stderr.log", "ab"),  # noqa: SIM115
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"spin up exited with {self.process.returncode}:\n{self.logs()}")
            try:
                if http(self.base_url, "GET", "/console/healthz").status == 200:
                    # What the kubelet does on Kubernetes (and scripts/dev's ticker): the webhook
                    # component's readiness records which providers are configured, which the
                    # console's provider filter and stats read from /api/providers.
                    ready = http(self.base_url, "GET", "/webhooks/readyz")
                    if ready.status != 200:
                        raise RuntimeError(f"/webhooks/readyz answered {ready.status}:\n{self.logs()}")
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"/console/healthz did not answer within {START_TIMEOUT}s:\n{self.logs()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        # SIGTERM: `spin up` stops its `spin trigger http` child; SIGKILL would orphan it.
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def restart(self, **variables: str) -> None:
        """Stops and starts again on the same port and store, with some variables changed."""
        self.stop()
        self.variables.update(variables)
        for attempt in range(50):
            try:
                self.start(self.port)
                return
            except RuntimeError:
                if attempt == 49:
                    raise
                time.sleep(0.2)

    def logs(self) -> str:
        text = []
        for path in sorted((self.work / "logs").rglob("*.log")):
            text.append(f"--- {path.name}\n{path.read_text(errors='replace')}")
        return "\n".join(text)

    # The API and the webhooks, spoken directly (the "someone else" of the concurrency tests).

    def api(self, method: str, path: str, body: dict | None = None, headers: dict[str, str] | None = None) -> Reply:
        all_headers = {"authorization": f"Bearer {API_TOKEN}", **(headers or {})}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            all_headers.setdefault("content-type", "application/merge-patch+json")
        return http(self.base_url, method, path, all_headers, data)

    def github(self, delivery: str, event: str, payload: dict | str) -> str:
        body = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        reply = http(self.base_url, "POST", "/webhooks/github", {
            "content-type": "application/json",
            "user-agent": "GitHub-Hookshot/e2e",
            "x-github-delivery": delivery,
            "x-github-event": event,
            "x-hub-signature-256": sign_github(body),
        }, body)
        assert reply.status == 202, reply.body
        return reply.json()["id"]

    def stripe(self, event_id: str, kind: str) -> str:
        body = json.dumps({"id": event_id, "object": "event", "type": kind, "data": {"object": {}}}).encode()
        reply = http(self.base_url, "POST", "/webhooks/stripe", {
            "content-type": "application/json",
            "stripe-signature": sign_stripe(body, int(time.time())),
        }, body)
        assert reply.status == 202, reply.body
        return reply.json()["id"]

    def standard(self, message_id: str, kind: str) -> str:
        body = json.dumps({"type": kind, "timestamp": "2026-01-01T00:00:00Z", "data": {}}).encode()
        now = int(time.time())
        reply = http(self.base_url, "POST", "/webhooks/standard", {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(now),
            "webhook-signature": sign_standard(message_id, now, body),
        }, body)
        assert reply.status == 202, reply.body
        return reply.json()["id"]


@pytest.fixture(scope="session")
def spin_bin() -> str:
    spin = find_program("SPIN_BIN", ["spin"])
    if spin is None:
        missing("spin", "set SPIN_BIN or put spin on PATH; https://spinframework.dev/install")
    started = time.monotonic()
    print("\nbrowser: spin build (once per session) ...")
    env = dict(os.environ)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True)
    if commit.returncode == 0 and commit.stdout.strip():
        env["GIT_COMMIT"] = commit.stdout.strip()
    build = subprocess.run([spin, "build", "--from", str(REPO / "spin.toml")], cwd=REPO, env=env,
                           capture_output=True, text=True)
    if build.returncode != 0:
        pytest.fail(f"spin build failed:\n{build.stdout}\n{build.stderr}", pytrace=False)
    print(f"browser: spin build done in {time.monotonic() - started:.1f}s")
    return spin


@pytest.fixture
def app(spin_bin):
    """A fresh app with every provider and the API configured."""
    instance = SpinApp(spin_bin, {
        "webhook_github_secret": GITHUB_SECRET,
        "webhook_stripe_secret": STRIPE_SECRET,
        "webhook_standard_secret": STANDARD_SECRET,
        "api_token": API_TOKEN,
        # What the webhook presents when it asks the forwarder for an event's first attempts.
        "forward_dispatch_token": "browser-dispatch-token",
    })
    try:
        instance.start()
    except RuntimeError as error:
        pytest.fail(str(error), pytrace=False)
    yield instance
    instance.stop()
    shutil.rmtree(instance.work, ignore_errors=True)


# --- the browser --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import sync_playwright  # noqa: PLC0415 (optional: a clear message without it)
    except ImportError:
        missing("the playwright wheel", "pip install -r requirements-dev.txt (./scripts/test.sh python)")
    chromium = find_program("CHROMIUM_BIN", ["/usr/bin/chromium", "chromium"])
    if chromium is None:
        missing("chromium", "apt-get install chromium (scripts/ci/e2e-deps.sh), or set CHROMIUM_BIN")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        print(f"\nbrowser: {chromium} {instance.version}")
        yield instance
        instance.close()


@dataclass
class Watched:
    """What a page did that a person would notice or a test must account for."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)

    def take_failed(self) -> list[tuple[int, str]]:
        """The HTTP errors seen so far (status, path), cleared: each test claims the ones it caused."""
        taken, self.failed = self.failed, []
        return taken


# Runs in every page before its own scripts (injected by the browser, so the CSP allows it):
# records CSP violations in detail, which the console messages only summarize.
WATCH_CSP = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(
    `${e.violatedDirective} blocked ${e.blockedURI || 'inline'} at ${e.sourceFile}:${e.lineNumber}`);
});
"""


def open_page(browser, watched: Watched, width: int, height: int):
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.add_init_script(WATCH_CSP)
    page.on("console", lambda m: m.type == "error" and watched.console_errors.append(m.text))
    page.on("pageerror", lambda e: watched.page_errors.append(str(e)))

    def on_dialog(dialog):
        watched.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)

    def on_response(response):
        if response.status >= 400:
            path = response.url.split("://", 1)[-1]
            watched.failed.append((response.status, path[path.find("/"):]))

    page.on("response", on_response)
    return context, page


@pytest.fixture
def watched() -> Watched:
    return Watched()


@pytest.fixture
def page(browser, watched, request):
    """A desktop-sized page in a fresh context (its own sessionStorage), checked when the test ends:
    no script error, no dialog, no CSP violation, and every failed request accounted for."""
    context, page = open_page(browser, watched, 1280, 860)
    yield page
    check_page(page, watched, request)
    context.close()


def check_page(page, watched: Watched, request) -> None:
    failed_test = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    if failed_test:
        OUT.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(OUT / f"failure-{request.node.name}.png"), full_page=True)
        return
    violations = page.evaluate("window.__cspViolations || []")
    assert violations == [], f"CSP violations: {violations}"
    assert watched.page_errors == [], f"script errors: {watched.page_errors}"
    assert watched.dialogs == [], f"dialogs: {watched.dialogs}"
    # Chromium reports each failed request as a console error too; those are the test's to claim.
    loads = [m for m in watched.console_errors if m.startswith("Failed to load resource")]
    others = [m for m in watched.console_errors if not m.startswith("Failed to load resource")]
    assert others == [], f"console errors: {others}"
    assert watched.failed == [], f"unexpected failed requests: {watched.failed}"
    assert len(loads) <= request.node.stash.get(CLAIMED, 0), f"failed loads nobody claimed: {loads}"


CLAIMED = pytest.StashKey[int]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.rep_call = report
