"""report.html in a real browser: headless Chromium driven over the DevTools protocol.

Chromium is started with ``--remote-debugging-pipe`` (commands on fd 3, replies on fd 4,
NUL-separated JSON), so the client needs only the standard library and no port. The test opens
the report of a run whose item wording, title and labels carry ``<script>``, HTML, quotes and
Japanese, and checks that the page loads with no console error (nor a security, network or
script warning), no
JavaScript exception, no request beyond the file itself, no script element, and the hostile
text shown as text; it saves a full-page screenshot and a PDF print into the test's folder.

A second test runs axe-core (npm, pinned in tests/browser/package.json; ``npm ci --prefix
tests/browser``) at 1400 and 390 px wide and requires no violation of WCAG 2.2 A/AA and axe's
best practices, and no table wider than the phone's screen; a third prints the report to PDF
(Chromium's printToPDF with the report's own @page rules) and requires a page number on every
page and no page left mostly empty before the last (pdftotext, from poppler-utils).

Skipped, with the reason, when Chromium is not installed (CI installs Debian's ``chromium``),
and the axe test when axe-core cannot be installed (no npm).
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from devtools import CHROMIUM, DevTools, Page, ensure_axe
from test_report import ITEM_TEXT, TITLE, _hostile_study  # noqa: F401  (same hostile study)

from pipeline.cli import main

pytestmark = pytest.mark.skipif(CHROMIUM is None,
                                reason="Chromium is not installed (apt-get install chromium, "
                                       "or set SOCAP_CHROMIUM to a Chrome/Chromium binary)")

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


def test_no_accessibility_violation_and_no_overflow_at_1400_and_390_px(report, tmp_path):
    axe = ensure_axe()
    if axe is None:
        pytest.skip("axe-core is not installed and npm is not available to install it")
    url = report.resolve().as_uri()
    dt = DevTools(CHROMIUM, tmp_path / "profile")
    found = {}
    try:
        page = Page(dt)
        for width in (1400, 390):
            page.open(url, width)
            overflow = json.loads(page.evaluate(
                "JSON.stringify(Array.from(document.querySelectorAll('table')).filter(t => "
                "t.getBoundingClientRect().right > window.innerWidth + 0.5 || "
                "t.parentElement.scrollWidth > t.parentElement.clientWidth + 1).map(t => t.id))"))
            n_tables = page.evaluate("document.querySelectorAll('table').length")
            doc_width = page.evaluate("document.documentElement.scrollWidth")
            violations = page.axe(axe)
            errors = [e for e in dt.events if e.get("method") in (
                "Runtime.exceptionThrown", "Network.loadingFailed")]
            requests = [e["params"]["request"]["url"] for e in dt.events
                        if e.get("method") == "Network.requestWillBeSent"]
            found[width] = (overflow, n_tables, doc_width, violations, errors, requests)
    finally:
        dt.close()
    for width, (overflow, n_tables, doc_width, violations, errors, requests) in found.items():
        assert n_tables >= 30
        assert overflow == [], f"{width} px: tables wider than the screen: {overflow}"
        assert doc_width <= width, f"{width} px: the page scrolls sideways ({doc_width} px)"
        assert violations == [], f"{width} px: " + json.dumps(violations, indent=1)[:4000]
        assert errors == [] and requests == [url], (errors, requests)


def test_pdf_print_numbers_every_page_and_fills_them(report, tmp_path):
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    dt = DevTools(CHROMIUM, tmp_path / "profile")
    try:
        page = Page(dt)
        page.open(report.resolve().as_uri(), 1280)
        pdf = page.send("Page.printToPDF", {"printBackground": True,
                                            "preferCSSPageSize": True})
    finally:
        dt.close()
    path = tmp_path / "report.pdf"
    path.write_bytes(base64.b64decode(pdf["data"]))
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True,
                          text=True, check=True).stdout
    pages = text.split("\f")
    pages = [p for p in pages if p.strip()]
    n = len(pages)
    assert n >= 8
    for i, p in enumerate(pages, start=1):
        assert re.search(rf"Page {i} of {n}\b", p), f"page {i} has no page number"
    # no half-empty page: every page before the last is filled to at least 60% of its
    # height (the lowest text above the footer, from pdftotext's word boxes)
    boxes = subprocess.run(["pdftotext", "-bbox", str(path), "-"], capture_output=True,
                           text=True, check=True).stdout
    fills = []
    for height, body in re.findall(r'<page width="[\d.]+" height="([\d.]+)">(.*?)</page>',
                                   boxes, re.S):
        h = float(height)
        ys = [float(y) for y in re.findall(r'yMax="([\d.]+)"', body) if float(y) < h - 45]
        fills.append(max(ys) / h if ys else 0.0)
    assert len(fills) == n
    assert min(fills[:-1]) >= 0.6, [round(f, 2) for f in fills]
