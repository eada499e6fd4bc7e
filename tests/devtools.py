"""A minimal Chrome DevTools Protocol client for the browser tests (standard library only).

Chromium is started with ``--remote-debugging-pipe`` (commands on fd 3, replies on fd 4,
NUL-separated JSON), so the client needs no port and no npm package. :func:`open_page` loads a
file at a viewport width; :func:`axe_violations` runs axe-core (from ``tests/browser``, installed
by ``npm ci --prefix tests/browser``) in the page.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

CHROMIUM = next((p for p in (os.environ.get("SOCAP_CHROMIUM"), "/usr/bin/chromium",
                             shutil.which("chromium"), shutil.which("chromium-browser"),
                             shutil.which("google-chrome")) if p and Path(p).exists()), None)

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



AXE = Path(__file__).parent / "browser" / "node_modules" / "axe-core" / "axe.min.js"


def ensure_axe() -> Path | None:
    """axe-core's axe.min.js, installed with ``npm ci`` into tests/browser when npm is there
    and it is missing; None when it cannot be had (the caller skips with the reason)."""
    if AXE.exists():
        return AXE
    npm = shutil.which("npm")
    if npm is None:
        return None
    subprocess.run([npm, "ci", "--prefix", str(AXE.parents[2]), "--no-audit", "--no-fund"],
                   capture_output=True, timeout=300, check=False)
    return AXE if AXE.exists() else None


class Page:
    """One tab of a DevTools session: navigate, evaluate, screenshot, print."""

    def __init__(self, dt: DevTools) -> None:
        self.dt = dt
        target = dt.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = dt.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            dt.send(f"{domain}.enable", session=self.session)

    def send(self, method: str, params: dict | None = None) -> dict:
        return self.dt.send(method, params, session=self.session)

    def open(self, url: str, width: int, height: int = 900) -> None:
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1,
                   "mobile": width < 600})
        self.dt.events.clear()
        self.send("Page.navigate", {"url": url})
        if self.dt.wait_for("Page.loadEventFired", 30) is None:
            raise TimeoutError(f"{url} did not load")
        self.dt.drain(0.5)

    def evaluate(self, expr: str, await_promise: bool = False):
        reply = self.send("Runtime.evaluate", {"expression": expr, "returnByValue": True,
                                               "awaitPromise": await_promise})
        if "exceptionDetails" in reply:
            raise RuntimeError(reply["exceptionDetails"])
        return reply["result"].get("value")

    def axe(self, axe_js: Path) -> list[dict]:
        """axe-core's violations (WCAG 2.x A/AA and best practices) of the loaded page.

        The script is evaluated over DevTools, which the page's Content-Security-Policy does
        not govern; the page itself still has no script."""
        self.evaluate(axe_js.read_text(encoding="utf-8"))
        out = self.evaluate(
            "axe.run(document, {resultTypes: ['violations'], runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']}}).then(r => JSON.stringify("
            "r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, "
            "nodes: v.nodes.slice(0, 5).map(n => ({target: n.target, summary: "
            "n.failureSummary})), count: v.nodes.length}))))", await_promise=True)
        return json.loads(out)
