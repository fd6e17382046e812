"""Screenshots of the screens in Vietnamese, for docs/screenshots/ (look at each one).

    .venv/bin/python -m benchmarks.screenshots --url http://127.0.0.1:8050 [--district 760]
        [--school 79001336] [--out docs/screenshots]

Against a server you started on the full demo (``make demo``). Each page is opened in headless
Chromium at its device's size (the wall at 1920x1080 and 3840x2160 in kiosk mode, a district on a
desk and on a 390 px phone, a school page, explore), waited for until every graph is drawn, and
saved whole (a scrolling page at its full height).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

DRAWN = """
const graphs = [...document.querySelectorAll('.dash-graph')];
return !!document.querySelector(arguments[0]) && !document.querySelector('[data-dash-is-loading="true"]')
    && graphs.every(g => g.querySelector('.main-svg'));
"""


def main() -> int:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.support.ui import WebDriverWait

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8050")
    parser.add_argument("--district", default="760")
    parser.add_argument("--school", default="79001336")
    parser.add_argument("--out", default="docs/screenshots")
    args = parser.parse_args()
    shots = [
        ("control_room_1920x1080", "/?kiosk=1", ".wall .panel", 1920, 1080, False),
        ("control_room_3840x2160", "/?kiosk=1", ".wall .panel", 3840, 2160, False),
        ("district_desk", f"/district/{args.district}", ".unit-page .units-table", 1440, 900, True),
        ("district_phone", f"/district/{args.district}", ".unit-page .unit-list", 390, 844, True),
        ("school", f"/school/{args.school}", ".school-page .profile", 1440, 900, True),
        ("explore", "/explore?kpi=attendance_rate&by=ward", ".explore-page .export-bar", 1440, 900, True),
    ]
    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--hide-scrollbars"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        for name, path, marker, width, height, whole in shots:
            metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600}
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
            driver.get(args.url.rstrip("/") + path)
            WebDriverWait(driver, 120).until(lambda d, m=marker: d.execute_script(DRAWN, m))
            time.sleep(1.5)  # Plotly's resize and fit.js settle
            if whole:
                full = int(driver.execute_script("return document.documentElement.scrollHeight"))
                driver.execute_cdp_cmd(
                    "Emulation.setDeviceMetricsOverride", {**metrics, "height": min(full, 8000)}
                )
                time.sleep(1.0)
            driver.save_screenshot(str(out / f"{name}.png"))
            print(f"{out / name}.png  {width}x{height}{' (whole page)' if whole else ''}", flush=True)
    finally:
        driver.quit()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
