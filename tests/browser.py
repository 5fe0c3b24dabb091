"""Headless Chromium for the report tests (Debian's ``chromium`` and ``chromium-driver``, driven
with Selenium; nothing is downloaded). Absent, the tests skip with the reason, except under
``CI=true``, where they fail: CI installs the packages (``.ci/run``)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
DRIVER = ("/usr/bin/chromedriver",)


def _first(paths: tuple[str, ...], name: str) -> str | None:
    for p in paths:
        if os.access(p, os.X_OK):
            return p
    return shutil.which(name)


def require_browser() -> tuple[str, str]:
    """The browser and driver paths, or skip (fail under CI) saying what is missing."""
    browser = _first(CHROMIUM, "chromium")
    driver = _first(DRIVER, "chromedriver")
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing = "the selenium package (pip install -e '.[test]')"
    else:
        missing = ", ".join(
            n for n, p in (("chromium", browser), ("chromium-driver", driver)) if p is None
        )
    if missing:
        message = f"no headless browser: {missing} not installed (apt-get install chromium chromium-driver)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    assert browser is not None and driver is not None
    return browser, driver


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium WebDriver."""
    browser, driver = require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        "--blink-settings=imagesEnabled=true",
    ):
        options.add_argument(arg)
    web = webdriver.Chrome(service=Service(driver), options=options)
    try:
        yield web
    finally:
        web.quit()


#: Elements whose right edge passes the viewport, except those inside a horizontally scrolling
#: container that itself fits (a wide table scrolls inside its box on a phone).
OVERFLOW_JS = """
const width = document.documentElement.clientWidth;
function scrolls(el) {
  for (let p = el.parentElement; p; p = p.parentElement) {
    const s = getComputedStyle(p).overflowX;
    if (s === 'auto' || s === 'scroll' || s === 'hidden') return true;
  }
  return false;
}
const out = [];
for (const el of document.body.querySelectorAll('*')) {
  const r = el.getBoundingClientRect();
  if (r.width === 0 && r.height === 0) continue;
  if ((r.right > width + 0.5 || r.left < -0.5) && !scrolls(el)) {
    out.push(el.tagName + (el.id ? '#' + el.id : '') + ' ' + Math.round(r.left) + '..' +
             Math.round(r.right) + ' ' + (el.textContent || '').slice(0, 60));
  }
}
return {width: width, scrollWidth: document.documentElement.scrollWidth, overflowing: out};
"""


def layout(web: Any, url: str, width: int) -> dict[str, Any]:
    """Load ``url`` at ``width`` CSS pixels and measure it."""
    web.set_window_size(width, 900)
    web.get(url)
    inner = web.execute_script("return window.innerWidth")
    if inner != width:  # the window has borders: size the viewport itself
        web.set_window_size(width + (width - inner), 900)
        web.get(url)
    measured: dict[str, Any] = web.execute_script(OVERFLOW_JS)
    measured["text"] = web.execute_script("return document.body.innerText")
    measured["scripts"] = web.execute_script("return document.scripts.length")
    return measured
