"""The wall map's server time: drawing the district map panel and encoding it as Dash sends it,
with every KPI answer already cached (what each wall refresh costs once the data is in).

    IOC_BOUNDARIES_FILE=/path/to/districts.geojson \\
        .venv/bin/python -m benchmarks.map_bench --data-dir /path/to/demo/store [--rounds 30]

Prints the median and p90 of ``rounds`` draws, each timed from the panel's render to its JSON
(plotly's encoder, as Dash's to_json), for the map drawn afresh each time (the figure cache
emptied before every draw) and for the figure cache kept (a second render of the same data,
language and theme).
"""

from __future__ import annotations

import argparse
import statistics
import time

from flask import Flask
from plotly.io.json import to_json_plotly

from ioc.access import EVERYTHING
from ioc.metrics.cache import init_cache
from ioc.metrics.front import Metrics
from ioc.panels import maps
from ioc.panels.base import PanelContext
from ioc.panels.screens import load_screens
from ioc.store import open_store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--screen", default="control_room")
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    if maps.boundaries_file() is None:
        parser.error("set IOC_BOUNDARIES_FILE: without it the map is the school points, not the districts")
    store = open_store(args.data_dir, read_only=True)
    server = Flask(__name__)  # a request context and the KPI cache; nothing written to the data folder
    init_cache(server)
    panel = next(p for p in load_screens()[args.screen].panels if p.type == "map")
    kind = maps.DistrictMap()

    def draw(fresh: bool) -> tuple[float, int]:
        with server.test_request_context("/"):
            ctx = PanelContext(metrics=Metrics(store, EVERYTHING), lang="vi", theme="dark")
            kind.render(panel, ctx)  # the answers in the KPI cache, the boundaries loaded
            if fresh:
                maps.map_figure.cache_clear()
            started = time.perf_counter()
            sent = to_json_plotly(kind.render(panel, ctx).body.figure)
            return time.perf_counter() - started, len(sent)

    for label, fresh in (("drawn afresh", True), ("figure cached", False)):
        times, size = [], 0
        for _ in range(args.rounds):
            seconds, size = draw(fresh)
            times.append(seconds * 1000)
        times.sort()
        print(
            f"{label:14} median {statistics.median(times):6.1f} ms, "
            f"p90 {times[int(len(times) * 0.9) - 1]:6.1f} ms ({size:,} bytes of JSON, {args.rounds} draws)"
        )


if __name__ == "__main__":
    main()
