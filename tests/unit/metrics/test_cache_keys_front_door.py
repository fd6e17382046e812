"""Cache keys come from the metrics front door only (issue 12, item 2): no module outside
ioc.metrics builds one, and the metrics scrape (ioc/observability.py) asks the front door."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from ioc.metrics.front import Metrics

ROOT = Path(__file__).resolve().parents[3]
# what makes or reads a cache entry under a key (ioc.metrics.cache)
KEY_MAKERS = {"cache_key", "keyed", "_cached", "cached_view", "cached_compute", "cached_summarize"}


def test_no_module_outside_the_metrics_layer_makes_a_cache_key() -> None:
    found = []
    for path in sorted([*(ROOT / "ioc").rglob("*.py"), *(ROOT / "ingest").rglob("*.py")]):
        if (ROOT / "ioc" / "metrics") in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "ioc.metrics.cache":
                names = {a.name for a in node.names} & KEY_MAKERS
                found += [f"{path.relative_to(ROOT)}:{node.lineno} imports {n}" for n in names]
            if isinstance(node, ast.Attribute) and node.attr in KEY_MAKERS:
                base = node.value
                if isinstance(base, ast.Name) and base.id == "cache":
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} calls cache.{node.attr}")
    assert not found, found


def test_the_metrics_scrape_asks_the_front_door(seed: Any, monkeypatch: Any) -> None:
    from ioc.observability import StoreCollector

    asked: list[tuple[str, bool]] = []
    health = Metrics.health

    def spy(self: Metrics, name: str, *args: Any, **kwargs: Any) -> Any:
        asked.append((name, self.access.restricted))
        return health(self, name, *args, **kwargs)

    monkeypatch.setattr(Metrics, "health", spy)
    registry = CollectorRegistry()
    registry.register(StoreCollector(lambda: seed))
    text = generate_latest(registry).decode()
    assert sorted(asked) == [("freshness", False), ("run_counts", False)]
    assert "ioc_store_up 1.0" in text
    runs = [line for line in text.splitlines() if line.startswith("ioc_ingest_runs_total{")]
    expected = Metrics(seed, cached=False).health("run_counts")
    assert expected and len(runs) == len(expected)
    for dataset, status, count in expected:
        assert f'ioc_ingest_runs_total{{dataset="{dataset}",status="{status}"}} {float(count)}' in runs
    # a restricted caller gets no city-wide run log through the same door
    from ioc.access import AccessScope

    assert Metrics(seed, AccessScope.limited(["760"]), cached=False).health("run_counts") == []
