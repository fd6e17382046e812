"""Screenshots of the screens, for docs/screenshots/ and for looking at every screen (look at each).

    .venv/bin/python -m benchmarks.screenshots --url http://127.0.0.1:8050 [--district 760]
        [--ward 26740] [--school 79001336] [--out docs/screenshots] [--all]

Against a server you started on the full demo (``make demo``). Each page is opened in headless
Chromium at its device's size, waited for until every graph is drawn, and saved whole (a
scrolling page at its full height; the wall at the screen's size, as the wall shows it).

Without ``--all``: the set kept in docs/screenshots/, in Vietnamese (the wall at 1920x1080 and
3840x2160 in kiosk mode, a district on a desk and on a 390 px phone, a school page, explore, the
alerts page). With ``--all``: every wall screen (from the server's screens folder, the
``screens_dir`` setting) at both sizes, a district, a ward and a school on a 1920x1080 desk and
a 390x844 phone, the alerts list and one alert, the KPI index and one KPI, each in Vietnamese and
English, named ``<page>_<device>_<lang>.png``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import NamedTuple

DRAWN = """
// on a phone a graph is drawn when scrolled near (assets/lazy_graph.js): as a reader would
const waiting = document.querySelector('.dash-graph--pending');
if (waiting) waiting.scrollIntoView({block: 'center'});
const graphs = [...document.querySelectorAll('.dash-graph')];
return !!document.querySelector(arguments[0]) && !document.querySelector('[data-dash-is-loading="true"]')
    && graphs.every(g => g.querySelector('.main-svg'));
"""

WALL = ".wall .panel[data-panel]"
UNIT = ".unit-page .units-table"
PHONE_UNIT = ".unit-page .unit-list"
SCHOOL = ".school-page .profile"
ALERTS = ".alerts-page"
DEVICES = {"desk": (1920, 1080), "phone": (390, 844)}


class Shot(NamedTuple):
    name: str
    path: str
    marker: str
    width: int
    height: int
    whole: bool  # the whole scrolling page, not just the viewport


def docs_shots(district: str, school: str) -> list[Shot]:
    """The screenshots kept in docs/screenshots/ (Vietnamese)."""
    return [
        Shot("control_room_1920x1080", "/?kiosk=1", WALL, 1920, 1080, False),
        Shot("control_room_3840x2160", "/?kiosk=1", WALL, 3840, 2160, False),
        Shot("district_desk", f"/district/{district}", UNIT, 1440, 900, True),
        Shot("district_phone", f"/district/{district}", PHONE_UNIT, 390, 844, True),
        Shot("school", f"/school/{school}", SCHOOL, 1440, 900, True),
        Shot("explore", "/explore?kpi=attendance_rate&by=ward", ".explore-page .export-bar", 1440, 900, True),
        Shot("alerts", "/alerts", ALERTS, 1440, 900, True),
    ]


def every_shot(screens: list[str], district: str, ward: str, school: str, alert: str | None) -> list[Shot]:
    """Every screen at every size in both languages (for looking, not for the docs)."""
    shots: list[Shot] = []
    for lang in ("vi", "en"):
        for screen in screens:
            path = "/" if screen == "control_room" else f"/screen/{screen}"
            for width, height in ((1920, 1080), (3840, 2160)):
                shots.append(
                    Shot(
                        f"wall_{screen}_{width}_{lang}",
                        f"{path}?kiosk=1&lang={lang}",
                        WALL,
                        width,
                        height,
                        False,
                    )
                )
        for device, (width, height) in DEVICES.items():
            unit_marker = PHONE_UNIT if device == "phone" else UNIT
            shots += [
                Shot(
                    f"district_{device}_{lang}",
                    f"/district/{district}?lang={lang}",
                    unit_marker,
                    width,
                    height,
                    True,
                ),
                Shot(f"ward_{device}_{lang}", f"/ward/{ward}?lang={lang}", unit_marker, width, height, True),
                Shot(f"school_{device}_{lang}", f"/school/{school}?lang={lang}", SCHOOL, width, height, True),
                Shot(f"alerts_{device}_{lang}", f"/alerts?lang={lang}", ALERTS, width, height, True),
                Shot(f"kpi_index_{device}_{lang}", f"/kpi?lang={lang}", ".kpi-index", width, height, True),
            ]
            if alert:
                shots.append(
                    Shot(
                        f"alert_{device}_{lang}",
                        f"/alerts/{alert}?lang={lang}",
                        ".alert-page",
                        width,
                        height,
                        True,
                    )
                )
        shots.append(Shot(f"kpi_{lang}", f"/kpi/attendance_rate?lang={lang}", ".kpi-page", 1920, 1080, True))
    return shots


def main() -> int:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.support.ui import WebDriverWait

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8050")
    parser.add_argument("--district", default="760")
    parser.add_argument("--ward", default="26734")
    parser.add_argument("--school", default="79001336")
    parser.add_argument("--alert", default=None, help="an alert id for --all (default: none)")
    parser.add_argument("--screens", default="control_room,connectivity", help="wall screens for --all")
    parser.add_argument("--out", default="docs/screenshots")
    parser.add_argument("--all", action="store_true", help="every screen, device and language")
    parser.add_argument("--only", default="", help="only the shots whose name contains this")
    args = parser.parse_args()
    if args.all:
        shots = every_shot(args.screens.split(","), args.district, args.ward, args.school, args.alert)
    else:
        shots = docs_shots(args.district, args.school)
    shots = [s for s in shots if args.only in s.name]
    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--hide-scrollbars"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        for shot in shots:
            metrics = {
                "width": shot.width,
                "height": shot.height,
                "deviceScaleFactor": 1,
                "mobile": shot.width < 600,
            }
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
            driver.get(args.url.rstrip("/") + shot.path)
            WebDriverWait(driver, 120).until(lambda d, m=shot.marker: d.execute_script(DRAWN, m))
            driver.execute_script("window.scrollTo(0, 0)")
            time.sleep(1.5)  # Plotly's resize and fit.js settle
            if shot.whole:
                full = int(driver.execute_script("return document.documentElement.scrollHeight"))
                driver.execute_cdp_cmd(
                    "Emulation.setDeviceMetricsOverride", {**metrics, "height": min(full, 8000)}
                )
                time.sleep(1.0)
            driver.save_screenshot(str(out / f"{shot.name}.png"))
            print(
                f"{out / shot.name}.png  {shot.width}x{shot.height}{' (whole page)' if shot.whole else ''}",
                flush=True,
            )
    finally:
        driver.quit()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
