"""A page of the app printed to PDF by headless Chromium (driven over the DevTools protocol by
choreographer, the browser controller kaleido already brings).

The page is loaded as a user sees it, at a wall's 1920 px width (A4 landscape pages), signed in with a session cookie of
the account the report is rendered as; the PDF is printed once Dash has drawn every panel (no
component loading and the document unchanged for a moment).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ioc import settings

log = logging.getLogger("ioc.reports")

WIDTH = 1920  # CSS px: the page is laid out as on a wall screen
PAPER_INCHES = (11.69, 8.27)  # A4 landscape
MARGINS_INCHES = (0.55, 0.2, 0.35, 0.2)  # top (the header line), right, bottom (page numbers), left
SCALE = (PAPER_INCHES[0] - MARGINS_INCHES[1] - MARGINS_INCHES[3]) * 96 / WIDTH
# the window is one printed page tall, so panels sized to the window keep their size on paper
HEIGHT = round((PAPER_INCHES[1] - MARGINS_INCHES[0] - MARGINS_INCHES[2]) * 96 / SCALE)
# done: the app's content exists, no Dash component is loading, every graph has been drawn
READY_JS = """(() => {
  const root = document.getElementById('_pages_content') || document.getElementById('react-entry-point');
  if (!root || !root.textContent.trim()) return '';
  if (document.querySelector('[data-dash-is-loading="true"], ._dash-loading-callback')) return '';
  for (const g of document.querySelectorAll('.dash-graph')) {
    if (!g.querySelector('.main-svg')) return '';
  }
  return String(document.body.innerHTML.length);
})()"""


class RenderError(RuntimeError):
    """The page could not be printed (no browser, unreachable app, signed out, too slow)."""


@dataclass(frozen=True)
class Cookie:
    name: str
    value: str


def browser_path() -> str:
    configured = str(settings.get("report_browser") or "").strip()
    found = configured or next(
        (p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p), ""
    )
    if not found:
        raise RenderError(
            "no Chromium to print the report with: install Debian's chromium (make browser-deps) "
            "or set IOC_REPORT_BROWSER to its path"
        )
    return found


def print_pdf(
    url: str,
    out: Path,
    *,
    cookies: tuple[Cookie, ...] = (),
    header: str = "",
    timeout: float = 90.0,
) -> Path:
    """Print ``url`` to ``out`` (PDF); raises :class:`RenderError`."""
    try:
        data = asyncio.run(_print(url, cookies, header, timeout))
    except RenderError:
        raise
    except Exception as error:  # the browser died, the protocol failed: say which page
        raise RenderError(f"printing {url}: {type(error).__name__}: {error}") from error
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(".part")
    partial.write_bytes(data)
    partial.replace(out)
    return out


def _check(response: Mapping[str, Any], what: str) -> dict[str, Any]:
    if "error" in response:
        raise RenderError(f"{what}: {response['error'].get('message', response['error'])}")
    return dict(response.get("result") or {})


async def _print(url: str, cookies: tuple[Cookie, ...], header: str, timeout: float) -> bytes:
    import choreographer  # imported here: only the report job needs a browser

    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}/"
    async with choreographer.Browser(path=browser_path(), headless=True, enable_gpu=True) as browser:
        tab = browser.get_tab()  # the browser's first tab (the viewport is set below)
        if tab is None:
            raise RenderError("the browser opened without a tab")
        _check(await tab.send_command("Network.enable"), "Network.enable")
        for cookie in cookies:
            _check(
                await tab.send_command(
                    "Network.setCookie",
                    params={"name": cookie.name, "value": cookie.value, "url": origin, "httpOnly": True},
                ),
                "setting the session cookie",
            )
        _check(
            await tab.send_command(
                "Emulation.setDeviceMetricsOverride",
                params={"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False},
            ),
            "viewport",
        )
        _check(await tab.send_command("Emulation.setEmulatedMedia", params={"media": "screen"}), "media")
        _check(await tab.send_command("Page.enable"), "Page.enable")
        statuses: list[int] = []

        async def seen(event: Mapping[str, Any]) -> None:
            params = event.get("params") or {}
            if params.get("type") == "Document":
                statuses.append(int((params.get("response") or {}).get("status") or 0))

        tab.subscribe("Network.responseReceived", seen)
        loaded = tab.subscribe_once("Page.loadEventFired")
        navigated = _check(await tab.send_command("Page.navigate", params={"url": url}), f"opening {url}")
        if navigated.get("errorText"):
            raise RenderError(f"opening {url}: {navigated['errorText']}")
        await asyncio.wait_for(loaded, timeout)
        if statuses and statuses[-1] >= 400:
            # e.g. 403: the account may not see this page; never print the refusal as a report
            raise RenderError(f"opening {url}: the app answered HTTP {statuses[-1]}")
        await _wait_drawn(tab, url, timeout)
        where = await _evaluate(tab, "location.pathname")
        if where.startswith("/login") or where.startswith("/auth"):
            raise RenderError(f"opening {url}: the app asked to sign in (is the report's account valid?)")
        result = _check(
            await tab.send_command(
                "Page.printToPDF",
                params={
                    "landscape": False,
                    "paperWidth": PAPER_INCHES[0],
                    "paperHeight": PAPER_INCHES[1],
                    "marginTop": MARGINS_INCHES[0],
                    "marginRight": MARGINS_INCHES[1],
                    "marginBottom": MARGINS_INCHES[2],
                    "marginLeft": MARGINS_INCHES[3],
                    "scale": SCALE,
                    "printBackground": True,
                    "displayHeaderFooter": bool(header),
                    "headerTemplate": header or "<span></span>",
                    "footerTemplate": (
                        '<div style="font-size:8px;width:100%;text-align:right;padding-right:20px">'
                        '<span class="pageNumber"></span>/<span class="totalPages"></span></div>'
                    ),
                },
            ),
            "printing to PDF",
        )
    return base64.b64decode(result["data"])


async def _evaluate(tab: Any, expression: str) -> str:
    response = _check(
        await tab.send_command("Runtime.evaluate", params={"expression": expression, "returnByValue": True}),
        "reading the page",
    )
    return str((response.get("result") or {}).get("value") or "")


async def _wait_drawn(tab: Any, url: str, timeout: float) -> None:
    """Until the page is drawn and its document has not changed for a second."""
    deadline = time.monotonic() + timeout
    last, steady = "", 0
    while time.monotonic() < deadline:
        state = await _evaluate(tab, READY_JS)
        steady = steady + 1 if state and state == last else 0
        if steady >= 4:
            return
        last = state
        await asyncio.sleep(0.25)
    raise RenderError(f"opening {url}: the page was not drawn within {timeout:.0f} s")
