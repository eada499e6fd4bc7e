"""report.html in a real browser: headless Chromium driven over the DevTools protocol.

Chromium is started with ``--remote-debugging-pipe`` (commands on fd 3, replies on fd 4,
NUL-separated JSON), so the client needs only the standard library and no port. The test opens
the report of a run whose item wording, title and labels carry ``<script>``, HTML, quotes and
Japanese, and checks that the page loads with no console error (nor a security, network or
script warning), no
JavaScript exception, no request beyond the file itself, no script element, and the hostile
text shown as text; it saves a full-page screenshot and a PDF print into the test's folder.

Skipped, with the reason, when Chromium is not installed (CI installs Debian's ``chromium``).
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_report import ITEM_TEXT, TITLE, _hostile_study  # noqa: F401  (same hostile study)

from pipeline.cli import main

CHROMIUM = next((p for p in (os.environ.get("SOCAP_CHROMIUM"), "/usr/bin/chromium",
                             shutil.which("chromium"), shutil.which("chromium-browser"),
                             shutil.which("google-chrome")) if p and Path(p).exists()), None)

pytestmark = pytest.mark.skipif(CHROMIUM is None,
                                reason="Chromium is not installed (apt-get install chromium, "
                                       "or set SOCAP_CHROMIUM to a Chrome/Chromium binary)")

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--mute-audio",
         "--hide-scrollbars", "--remote-debugging-pipe"]


TRAMPOLINE = (
    "import os, sys\n"
    "r, w = os.dup(int(sys.argv[1])), os.dup(int(sys.argv[2]))\n"
    "os.dup2(r, 3)\n"
    "os.dup2(w, 4)\n"
    "os.set_inheritable(3, True)\n"  # dup2 onto itself leaves the flag of os.dup (not inherited)
    "os.set_inheritable(4, True)\n"
    "os.execv(sys.argv[3], sys.argv[3:])\n")


class DevTools:
    """A minimal Chrome DevTools Protocol client over --remote-debugging-pipe."""

    def __init__(self, binary: str, profile: Path, timeout: float = 60.0) -> None:
        cmd_r, self._cmd_w = os.pipe()  # we write commands, Chromium reads fd 3
        self._out_r, out_w = os.pipe()  # Chromium writes replies on fd 4, we read
        self.timeout = timeout
        # a Python trampoline puts the pipes on fds 3 and 4 and execs Chromium (a shell
        # redirection cannot: dash accepts single-digit descriptors only)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", TRAMPOLINE, str(cmd_r), str(out_w), binary, *FLAGS,
             f"--user-data-dir={profile}"],
            pass_fds=(cmd_r, out_w), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        os.close(cmd_r)
        os.close(out_w)
        self._buf = b""
        self._id = 0
        self.events: list[dict] = []

    def _read_message(self, deadline: float) -> dict | None:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self._out_r], [], [], left)
            if not ready:
                return None
            chunk = os.read(self._out_r, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read_message(deadline)
            if reply is None:
                raise TimeoutError(f"no reply to {method}")
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, seconds: float) -> dict | None:
        deadline = time.monotonic() + seconds
        for i, e in enumerate(self.events):
            if e.get("method") == method:
                return e
        while True:
            e = self._read_message(deadline)
            if e is None:
                return None
            self.events.append(e)
            if e.get("method") == method:
                return e

    def drain(self, quiet: float = 0.5) -> None:
        """Collect events until none arrives for ``quiet`` seconds."""
        while True:
            e = self._read_message(time.monotonic() + quiet)
            if e is None:
                return
            self.events.append(e)

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except Exception:  # noqa: BLE001 - the browser may already be gone
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        os.close(self._cmd_w)
        os.close(self._out_r)


@pytest.fixture(scope="module")
def report(tmp_path_factory, example_study) -> Path:
    folder = tmp_path_factory.mktemp("browser") / "study"
    shutil.copytree(example_study, folder)
    _hostile_study(folder)
    assert main(["run", str(folder), "--quiet"]) == 0
    return folder / "reports" / "report.html"


def test_report_in_headless_chromium(report, tmp_path):
    url = report.resolve().as_uri()
    dt = DevTools(CHROMIUM, tmp_path / "profile")
    try:
        target = dt.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = dt.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            dt.send(f"{domain}.enable", session=session)
        dt.send("Emulation.setDeviceMetricsOverride",
                {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False},
                session=session)
        dt.events.clear()
        dt.send("Page.navigate", {"url": url}, session=session)
        assert dt.wait_for("Page.loadEventFired", 30) is not None, "the page did not load"
        dt.drain(1.0)

        def evaluate(expr):
            return dt.send("Runtime.evaluate", {"expression": expr, "returnByValue": True},
                           session=session)["result"].get("value")

        title = evaluate("document.title")
        n_scripts = evaluate("document.scripts.length")
        n_imgs = evaluate("document.images.length")
        n_svgs = evaluate("document.querySelectorAll('figure svg').length")
        item_texts = evaluate("JSON.stringify(Array.from(document.querySelectorAll("
                              "'#t-items tbody tr')).map(r => [r.cells[0].textContent, "
                              "r.cells[2].textContent]))")
        h1 = evaluate("document.querySelector('h1').textContent")
        metrics = dt.send("Page.getLayoutMetrics", session=session)
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        shot = dt.send("Page.captureScreenshot",
                       {"format": "png", "captureBeyondViewport": True,
                        "clip": {"x": 0, "y": 0, "width": 1280,
                                 "height": min(size["height"], 16000), "scale": 1}},
                       session=session)
        (tmp_path / "report.png").write_bytes(base64.b64decode(shot["data"]))
        pdf = dt.send("Page.printToPDF", {"printBackground": True, "paperWidth": 8.27,
                                          "paperHeight": 11.69}, session=session)
        (tmp_path / "report.pdf").write_bytes(base64.b64decode(pdf["data"]))
        dt.drain(0.5)
    finally:
        dt.close()

    events = dt.events
    requests = [e["params"]["request"]["url"] for e in events
                if e.get("method") == "Network.requestWillBeSent"]
    console = [e["params"] for e in events if e.get("method") == "Runtime.consoleAPICalled"]
    logs = [e["params"]["entry"] for e in events if e.get("method") == "Log.entryAdded"]
    exceptions = [e["params"] for e in events if e.get("method") == "Runtime.exceptionThrown"]
    failed = [e["params"] for e in events if e.get("method") == "Network.loadingFailed"]

    assert requests == [url], f"requests beyond the report file: {requests}"
    assert not failed, failed
    assert not exceptions, exceptions
    assert not [c for c in console if c.get("type") in ("error", "warning", "assert")], console
    # errors of any kind, and CSP violations or blocked loads even as warnings
    assert not [e for e in logs if e.get("level") == "error"
                or (e.get("level") == "warning" and e.get("source") in ("security", "network",
                                                                      "javascript"))], logs
    assert n_scripts == 0 and n_imgs == 0
    assert title.startswith(TITLE) and h1 == TITLE  # the hostile title is text, not markup
    shown = dict(json.loads(item_texts))
    for item, text in ITEM_TEXT.items():
        assert shown[item] == text
    assert n_svgs >= 4
    assert (tmp_path / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "report.pdf").read_bytes()[:5] == b"%PDF-"
    assert (tmp_path / "report.pdf").stat().st_size > 50_000
