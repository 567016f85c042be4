"""The built site renders in a real browser (issue 28, item 5).

Debian's Chromium, headless, driven through the DevTools protocol (``websockets``, a docs
requirement), opens four pages of ``docs/_build/html`` — the index, an API page, the CLI
page and a tutorial — and checks what the browser rendered, not the HTML source: the math
is typeset by the bundled MathJax (no raw ``$…$``, ``\\(`` or ``\\[`` left in the text
outside code), every image loaded (natural width > 0), no console error or uncaught
exception, and no request leaves the machine (only ``file:``, ``data:``, ``blob:`` and
``about:`` URLs). A screenshot of each page is saved under ``docs/_build/screenshots/``.

Runs only where ``chromium`` is installed and the site is built (``-m docs_browser`` or a
plain run; skipped with the reason otherwise).
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).parents[2]
HTML = ROOT / "docs" / "_build" / "html"
SCREENSHOTS = ROOT / "docs" / "_build" / "screenshots"
PAGES = {
    "index": "index.html",
    "api": "api/generated/madsbi.inference.RateModel.html",
    "cli": "cli.html",
    "tutorial": "tutorials/lhe-to-limits.html",
}
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [
    pytest.mark.docs_browser,
    pytest.mark.skipif(CHROMIUM is None, reason="needs chromium: apt-get install chromium"),
    pytest.mark.skipif(
        not all((HTML / p).is_file() for p in PAGES.values()),
        reason="the built site is absent: sphinx-build -W -n -b html docs docs/_build/html",
    ),
]
websockets_sync = pytest.importorskip("websockets.sync.client", reason="needs websockets")

# The page's rendered text outside code, MathJax's state and the images, as the browser has them.
INSPECT = """
(async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  const body = document.querySelector("main") || document.body;
  const copy = body.cloneNode(true);
  copy.querySelectorAll("pre, code, mjx-container, script, style").forEach(e => e.remove());
  return JSON.stringify({
    text: copy.textContent,
    mathjax: !!window.MathJax,
    typeset: document.querySelectorAll("mjx-container").length,
    math_sources: document.querySelectorAll(".math, span.math, div.math").length,
    images: Array.from(document.images).map(i => [i.src, i.complete, i.naturalWidth]),
  });
})()
"""


class Page:
    """One DevTools connection to a page target: commands and the events they raise."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, timeout: float = 60.0, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, event: str, timeout: float = 60.0) -> None:
        if any(e.get("method") == event for e in self.events):
            return
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            self.events.append(message)
            if message.get("method") == event:
                return


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A headless Chromium with its DevTools port; no network beyond the machine is used."""
    assert CHROMIUM is not None
    profile = tmp_path_factory.mktemp("chromium-profile")
    process = subprocess.Popen(
        [
            CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
            "--disable-dev-shm-usage", "--no-first-run", "--allow-file-access-from-files",
            "--remote-debugging-port=0", f"--user-data-dir={profile}",
            "--window-size=1280,1000", "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        port = None
        deadline = time.monotonic() + 60
        while port is None and time.monotonic() < deadline:
            line = process.stderr.readline()
            found = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
            if found:
                port = int(found.group(1))
            elif not line and process.poll() is not None:
                break
        if port is None:
            pytest.fail("chromium did not start its DevTools endpoint")
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        if process.stderr is not None:
            process.stderr.close()


def _target(port: int) -> str:
    """A new page target's DevTools URL."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/json/new?about:blank", method="PUT")
    with urllib.request.urlopen(request, timeout=30) as response:
        target = json.load(response)
    return str(target["webSocketDebuggerUrl"])


@pytest.mark.parametrize("name", list(PAGES))
def test_page_renders(browser: int, name: str) -> None:
    with websockets_sync.connect(_target(browser), max_size=2**26, open_timeout=30) as ws:
        page = Page(ws)
        for domain in ("Page", "Runtime", "Network", "Log"):
            page.send(f"{domain}.enable")
        page.send("Page.navigate", url=(HTML / PAGES[name]).as_uri())
        page.wait_for("Page.loadEventFired")
        result = page.send("Runtime.evaluate", expression=INSPECT, awaitPromise=True)
        state = json.loads(result["result"]["value"])
        time.sleep(0.5)  # late console messages and image loads
        page.send("Runtime.evaluate", expression="1")
        shot = page.send("Page.captureScreenshot", format="png", captureBeyondViewport=False)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / f"{name}.png").write_bytes(base64.b64decode(shot["data"]))

    requests = [
        e["params"]["request"]["url"]
        for e in page.events
        if e.get("method") == "Network.requestWillBeSent"
    ]
    outside = [u for u in requests if not u.startswith(("file:", "data:", "blob:", "about:"))]
    assert not outside, f"{name}: requests leaving the machine: {outside}"
    errors = [
        json.dumps(e["params"])[:300]
        for e in page.events
        if e.get("method") == "Runtime.exceptionThrown"
        or (e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] == "error")
        or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")
    ]
    assert not errors, f"{name}: console errors: {errors}"

    text = state["text"]
    assert text.strip(), f"{name}: the page rendered no text"
    raw = re.findall(r"\\\(|\\\[|\$\$|\$[^$\s][^$\n]{0,80}\$", text)
    assert not raw, f"{name}: raw math left in the rendered text: {raw[:5]}"
    if state["math_sources"]:
        assert state["mathjax"], f"{name}: the page has math but MathJax did not load"
        assert state["typeset"] > 0, f"{name}: the page has math but none was typeset"
    broken = [src for src, complete, width in state["images"] if not (complete and width > 0)]
    assert not broken, f"{name}: images not loaded: {broken}"
    if name == "tutorial":
        assert state["images"], "the tutorial shows no figure"
