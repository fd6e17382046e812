"""Lighthouse on the running app: performance, accessibility, layout shift, blocking time.

    .venv/bin/python -m benchmarks.lighthouse_bench --url http://127.0.0.1:8050 [--district 760]
        [--school 79001336] [--lighthouse PATH] [--runs 1] [--only explore] [--reports DIR]

Runs Google Lighthouse (npm package ``lighthouse``; ``--lighthouse`` or $LIGHTHOUSE, else
``npx lighthouse``) with Debian's Chromium ($CHROME_PATH, default /usr/bin/chromium) against a
server you started (``make demo`` or ``ioc serve`` on the full demo, sign-in off or a session
cookie in $LIGHTHOUSE_COOKIE), on desktop for ``/``, ``/explore``, a district page and a school
page and on mobile for the district page, and prints one line per page with the median of the
runs. Each page is opened once first so its answers are computed (a warm first visit).
``--only`` measures some of the pages (``wall``, ``explore``, ``district``, ``school``,
``mobile``); ``--reports DIR`` keeps each run's JSON report there, with a summary of its long
tasks by script (``*.long-tasks.txt``: where the blocking time comes from).

Goals (issue 14): desktop performance >= 0.90, accessibility >= 0.95, cumulative layout shift
< 0.1, total blocking time < 200 ms; mobile performance on a district page >= 0.70.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

GOALS = {"performance": 0.90, "accessibility": 0.95, "cls": 0.1, "tbt": 200.0}
MOBILE_PERFORMANCE = 0.70


def lighthouse_command(explicit: str | None) -> list[str]:
    if explicit or os.environ.get("LIGHTHOUSE"):
        return shlex.split(explicit or os.environ["LIGHTHOUSE"])
    return ["npx", "--yes", "lighthouse"]


def audit(command: list[str], url: str, mobile: bool, keep: Path | None = None) -> dict[str, float]:
    """One Lighthouse run of ``url``: the four figures of the goals (its report kept as ``keep``)."""
    with tempfile.TemporaryDirectory() as folder:
        out = keep or Path(folder) / "report.json"
        args = [
            *command,
            url,
            "--quiet",
            "--output=json",
            f"--output-path={out}",
            "--only-categories=performance,accessibility",
            "--chrome-flags=--headless=new --no-sandbox --disable-dev-shm-usage",
        ]
        if not mobile:
            args.append("--preset=desktop")
        if os.environ.get("LIGHTHOUSE_COOKIE"):
            args.append("--extra-headers=" + json.dumps({"Cookie": os.environ["LIGHTHOUSE_COOKIE"]}))
        env = dict(os.environ, CHROME_PATH=os.environ.get("CHROME_PATH", "/usr/bin/chromium"))
        for attempt in range(3):
            # Lighthouse sometimes loses the page's trace on a busy machine (NO_NAVSTART): run it again
            done = subprocess.run(args, env=env, stdout=subprocess.DEVNULL, timeout=600)
            if done.returncode == 0:
                break
            print(
                f"{url}: Lighthouse failed (exit {done.returncode}), attempt {attempt + 1} of 3",
                file=sys.stderr,
            )
        done.check_returncode()
        report = json.loads(out.read_text(encoding="utf-8"))
    audits = report["audits"]
    if keep is not None:
        keep.with_suffix(".long-tasks.txt").write_text(long_tasks(report), encoding="utf-8")
    return {
        "performance": report["categories"]["performance"]["score"],
        "accessibility": report["categories"]["accessibility"]["score"],
        "cls": audits["cumulative-layout-shift"]["numericValue"],
        "tbt": audits["total-blocking-time"]["numericValue"],
        "fcp": audits["first-contentful-paint"]["numericValue"],
        "lcp": audits["largest-contentful-paint"]["numericValue"],
        "bytes": audits["total-byte-weight"]["numericValue"],
    }


def long_tasks(report: dict[str, Any]) -> str:
    """The run's long tasks (start, duration, script) and the main thread's time by script."""
    lines = ["long tasks (ms): start  duration  script"]
    for task in report["audits"]["long-tasks"].get("details", {}).get("items", []):
        lines.append(f"{task['startTime']:8.0f} {task['duration']:8.0f}  {task['url']}")
    lines.append("main thread by script (ms): total  scripting  parse/compile")
    for item in report["audits"]["bootup-time"].get("details", {}).get("items", []):
        lines.append(
            f"{item['total']:8.0f} {item['scripting']:8.0f} {item['scriptParseCompile']:8.0f}  {item['url']}"
        )
    return "\n".join(lines) + "\n"


PAGES = ("wall", "explore", "district", "school", "mobile")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8050")
    parser.add_argument("--district", default="760")
    parser.add_argument("--school", default="79001336")
    parser.add_argument("--lighthouse", default=None)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--only", action="append", choices=PAGES, help="measure this page only (repeatable)")
    parser.add_argument(
        "--reports", type=Path, default=None, help="keep each run's JSON report in this folder"
    )
    args = parser.parse_args()
    command = lighthouse_command(args.lighthouse)
    every = dict(
        zip(
            PAGES,
            [
                ("desktop", "/"),
                ("desktop", "/explore"),
                ("desktop", f"/district/{args.district}"),
                ("desktop", f"/school/{args.school}"),
                ("mobile", f"/district/{args.district}"),
            ],
            strict=True,
        )
    )
    chosen = [name for name in PAGES if not args.only or name in args.only]
    if args.reports is not None:
        args.reports.mkdir(parents=True, exist_ok=True)
    print(
        f"{'page':34} {'perf':>5} {'a11y':>5} {'CLS':>6} {'TBT ms':>7} {'FCP ms':>7} {'LCP ms':>7} {'kB':>6}"
    )
    misses = 0
    for name in chosen:
        form, path = every[name]
        url = args.url.rstrip("/") + path
        urllib.request.urlopen(url, timeout=120).read()  # noqa: S310 - the URL is the operator's own server
        runs = [
            audit(
                command,
                url,
                form == "mobile",
                args.reports / f"{name}-{run + 1}.json" if args.reports else None,
            )
            for run in range(args.runs)
        ]
        fig = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        print(
            f"{form + ' ' + path:34} {fig['performance']:5.2f} {fig['accessibility']:5.2f} {fig['cls']:6.3f}"
            f" {fig['tbt']:7.0f} {fig['fcp']:7.0f} {fig['lcp']:7.0f} {fig['bytes'] / 1024:6.0f}",
            flush=True,
        )
        if form == "mobile":
            misses += fig["performance"] < MOBILE_PERFORMANCE
        else:
            misses += (
                fig["performance"] < GOALS["performance"]
                or fig["accessibility"] < GOALS["accessibility"]
                or fig["cls"] >= GOALS["cls"]
                or fig["tbt"] >= GOALS["tbt"]
            )
    print(
        f"goals: desktop perf >= {GOALS['performance']}, a11y >= {GOALS['accessibility']}, CLS < {GOALS['cls']},"
        f" TBT < {GOALS['tbt']:.0f} ms; mobile perf >= {MOBILE_PERFORMANCE}; pages missing a goal: {misses}"
    )
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
