"""The built book in a real browser, with no network: headless Chromium through Selenium.

The site built once per run by the ``book_site`` fixture is served from 127.0.0.1 and every page
of ``_toc.yml`` is opened. Chromium gets no network besides that server (every other host name
resolves to nothing), so a page that still needed a CDN would show raw TeX or console errors here.
On each page: MathJax typeset every formula (``mjx-container`` in every math element, no TeX
error, no raw ``$$`` left in the prose), every image loaded, every resource came from the local
server, exercise solutions are folded, and the console shows no error. In the theme's dark mode
no image is inverted. Screenshots go to ``_build/screenshots/``.

Chromium is Debian's ``chromium`` + ``chromium-driver`` (``.ci/run`` installs them). Without them
the test fails under CI (``CI=true``) and is skipped, loudly, elsewhere.
"""

from __future__ import annotations

import base64
import functools
import os
import shutil
import tempfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "_build" / "screenshots"
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf8"))
PAGE_TIMEOUT_S = 60
MAX_SCREENSHOT_HEIGHT = 20_000  # px: whole pages, but bounded


def _toc_files(entries: list[dict]) -> list[str]:
    files = []
    for entry in entries:
        files += [entry["file"]] if "file" in entry else []
        files += _toc_files(entry.get("sections", []))
    return files


DOCNAMES = [TOC["root"]] + [f for part in TOC["parts"] for f in _toc_files(part["chapters"])]

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,1000",
    # No network but the local server: any other host name fails to resolve.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]


def _find(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name) or (name if Path(name).is_file() else None)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def site_url(book_site):
    """Serve the built site from 127.0.0.1 on a free port for the tests of this module."""
    if not (book_site.html / "index.html").is_file():
        pytest.fail(f"the book build produced no site; its log ends:\n{book_site.log[-3000:]}")

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):  # keep the test output clean
            pass

    handler = functools.partial(Quiet, directory=str(book_site.html))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium with a fresh profile, its console log kept."""
    chromium = _find("/usr/bin/chromium", "chromium", "chromium-browser")
    driver_path = _find("/usr/bin/chromedriver", "chromedriver")
    if not chromium or not driver_path:
        message = (
            "CHROMIUM NOT FOUND: the browser test of the built book did not run. Install "
            "Debian's `chromium` and `chromium-driver` (apt-get install chromium chromium-driver) "
            "to check the site in a real browser."
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(PAGE_TIMEOUT_S)
    driver.set_script_timeout(PAGE_TIMEOUT_S)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


# Waits for the page's load event (ChromeDriver can hand the page over while it is still being
# parsed: seen with Chromium 156, `document.readyState` "loading" and no body yet), then for
# MathJax (when the page loads it) and for every image, then reports what the page shows. Runs
# in the page; `done` is Selenium's callback for asynchronous scripts.
PAGE_REPORT_JS = """
const done = arguments[arguments.length - 1];
const loaded = new Promise(resolve => {
  if (document.readyState === "complete") resolve();
  else window.addEventListener("load", () => resolve(), {once: true});
});
loaded.then(() => window.MathJax && MathJax.startup ? MathJax.startup.promise : null).then(async () => {
  const images = Array.from(document.images);
  images.forEach(img => { img.loading = "eager"; });
  await Promise.all(images.map(img => img.decode().catch(() => null)));
  const prose = document.querySelector("main, article, body").cloneNode(true);
  prose.querySelectorAll("pre, code, script, style, mjx-container, .MathJax").forEach(e => e.remove());
  const origin = location.origin;
  done({
    mathElements: document.querySelectorAll(".math").length,
    untypeset: Array.from(document.querySelectorAll(".math"))
      .filter(e => !e.querySelector("mjx-container")).map(e => e.textContent.slice(0, 80)),
    typeset: document.querySelectorAll("mjx-container").length,
    texErrors: Array.from(document.querySelectorAll("mjx-merror"))
      .map(e => e.getAttribute("data-mjx-error") || e.textContent),
    rawDollars: (prose.innerText.match(/\\$\\$/g) || []).length,
    images: images.map(img => ({src: img.currentSrc || img.src, ok: img.complete && img.naturalWidth > 0})),
    remote: performance.getEntriesByType("resource").map(r => r.name)
      .filter(u => !u.startsWith(origin) && !u.startsWith("data:")),
    solutions: Array.from(document.querySelectorAll(".solution.dropdown")).map(s => {
      const body = s.querySelector("section, .admonition-title ~ *");
      return {id: s.id, folded: !body || body.offsetHeight === 0};
    }),
    title: document.title,
  });
}).catch(err => done({error: String(err)}));
"""

DARK_FILTERS_JS = """
document.documentElement.dataset.theme = "dark";
document.documentElement.dataset.mode = "dark";
return Array.from(document.images).map(img => ({src: img.src, filter: getComputedStyle(img).filter}));
"""


def save_full_page(driver, path: Path) -> None:
    """Screenshot the whole page, not only the window (Chromium's DevTools protocol)."""
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "scale": 1,
            "height": min(size["height"], MAX_SCREENSHOT_HEIGHT)}  # fmt: skip
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
    )
    path.write_bytes(base64.b64decode(shot["data"]))


@pytest.mark.parametrize("doc", DOCNAMES)
def test_page_renders_offline(browser, site_url, doc):
    browser.get_log("browser")  # drop what earlier pages logged
    browser.get(f"{site_url}/{doc}.html")
    report = browser.execute_async_script(PAGE_REPORT_JS)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / f"{doc.replace('/', '__')}.png"
    save_full_page(browser, shot)
    errors = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]

    assert "error" not in report, f"{doc}: the page script failed: {report['error']}"
    assert not report["remote"], f"{doc} fetched from the network: {report['remote']}"
    assert report["typeset"] >= report["mathElements"], f"{doc}: MathJax did not typeset"
    assert not report["untypeset"], f"{doc}: raw TeX left: {report['untypeset']}"
    assert not report["texErrors"], f"{doc}: TeX errors: {report['texErrors']}"
    assert report["rawDollars"] == 0, f"{doc}: `$$` left in the text (math not parsed)"
    broken = [img["src"] for img in report["images"] if not img["ok"]]
    assert not broken, f"{doc}: images that did not load: {broken}"
    unfolded = [s["id"] for s in report["solutions"] if not s["folded"]]
    assert not unfolded, f"{doc}: solutions shown unfolded: {unfolded}"
    assert not errors, f"{doc}: console errors:\n" + "\n".join(errors)

    if report["images"]:  # dark mode: dimmed at most, never inverted
        filters = browser.execute_script(DARK_FILTERS_JS)
        save_full_page(browser, shot.with_name(shot.stem + "-dark.png"))
        inverted = [f"{f['src']}: {f['filter']}" for f in filters if "invert" in f["filter"]]
        assert not inverted, f"{doc}: images inverted in dark mode: {inverted}"
