"""kustomize/base/ticker.sh, the forwarder's clock on Kubernetes, run with the system's POSIX sh
against a local stand-in for the forwarder's POST /api/dispatch.

It proves what the pod relies on: the token is read from the file before each call and sent in
the Authorization header (during a rotation the file holds two tokens and a 401 tries the next),
never on the command line; liveness and readiness follow the stamps the loop writes; a failing
dispatch shows as NotReady and is logged without the token; SIGTERM stops the loop at once.
"""

from __future__ import annotations

import http.server
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from conftest import REPO, require_or_skip

SCRIPT = REPO / "kustomize" / "base" / "ticker.sh"
GOOD = "tok_new_0123456789"


class Forwarder(http.server.BaseHTTPRequestHandler):
    calls: list[tuple[str, str | None]] = []
    status = 200

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        Forwarder.calls.append((self.path, self.headers.get("Authorization")))
        ok = self.headers.get("Authorization") == f"Bearer {GOOD}"
        code = Forwarder.status if ok else 401
        body = b'{"sent":0,"delivered":0}' if code == 200 else b'{"title":"nope"}'
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def forwarder():
    Forwarder.calls, Forwarder.status = [], 200
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Forwarder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


def start(tmp_path: Path, port: int, tokens: str) -> tuple[subprocess.Popen, dict[str, str]]:
    require_or_skip(shutil.which("curl") is not None, "curl not found: the ticker calls it")
    token_file = tmp_path / "api_token"
    token_file.write_text(tokens)
    env = dict(
        os.environ,
        DISPATCH_URL=f"http://127.0.0.1:{port}/api/dispatch",
        DISPATCH_EVERY="1",
        TOKEN_FILE=str(token_file),
        STATE_DIR=str(tmp_path / "state"),
        LIVE_WITHIN="30",
        READY_WITHIN="3",
    )
    proc = subprocess.Popen(["sh", str(SCRIPT)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return proc, env


def probe(env: dict[str, str], which: str) -> int:
    return subprocess.run(["sh", str(SCRIPT), which], env=env, timeout=10).returncode


def wait_for(condition, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=10)
    return out


def test_ticks_with_the_token_from_the_file_and_tries_the_next_on_401(tmp_path, forwarder) -> None:
    # A rotation in progress: the old token first, then the new one.
    proc, env = start(tmp_path, forwarder.server_port, f"tok_old_xyz {GOOD}\n")
    try:
        assert probe(env, "ready") != 0, "Ready before any round answered"
        assert wait_for(lambda: sum(1 for _, a in Forwarder.calls if a == f"Bearer {GOOD}") >= 2)
        assert probe(env, "ready") == 0 and probe(env, "live") == 0
        # Each round: the old token (401), then the new one; always POST /api/dispatch.
        assert {p for p, _ in Forwarder.calls} == {"/api/dispatch"}
        assert Forwarder.calls[:2] == [("/api/dispatch", "Bearer tok_old_xyz"), ("/api/dispatch", f"Bearer {GOOD}")]
        # Never on a command line (visible in the process list).
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            assert GOOD.encode() not in cmdline
    finally:
        out = stop(proc)
    assert proc.returncode == 0
    assert "stopping after" in out and GOOD not in out


def test_a_failing_dispatch_turns_not_ready_and_is_logged_without_the_token(tmp_path, forwarder) -> None:
    Forwarder.status = 503
    proc, env = start(tmp_path, forwarder.server_port, GOOD)
    try:
        assert wait_for(lambda: len(Forwarder.calls) >= 2)
        # Calls finish (liveness holds), none answered 200 (not Ready).
        assert probe(env, "live") == 0
        assert probe(env, "ready") != 0
        Forwarder.status = 200
        assert wait_for(lambda: probe(env, "ready") == 0)
        Forwarder.status = 503
        # READY_WITHIN=3: readiness drops once no round has answered 200 for 3 s.
        assert wait_for(lambda: probe(env, "ready") != 0, seconds=15)
    finally:
        out = stop(proc)
    assert "dispatch failed (HTTP 503" in out
    assert "dispatch answers again" in out
    assert GOOD not in out


def test_no_token_file(tmp_path, forwarder) -> None:
    proc, env = start(tmp_path, forwarder.server_port, "")
    (tmp_path / "api_token").unlink()
    try:
        assert wait_for(lambda: probe(env, "live") == 0)
        time.sleep(2.5)
        # Nothing to call with: no request, not Ready, still live (no restart loop).
        assert Forwarder.calls == [] and probe(env, "ready") != 0 and probe(env, "live") == 0
    finally:
        out = stop(proc)
    assert "no API token in" in out
