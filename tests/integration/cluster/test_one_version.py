"""Two nodes serve one data version (issue 13, Why 8): with the shipped stale-while-revalidate
(IOC_CACHE_STALE_SECONDS=60) and the warmer on, two gunicorn nodes of two workers each on one
shared folder and one Redis; officers keep asking both nodes while a load commits. Both nodes
answer the new data version within a few seconds of each other, and no node ever answers an older
version after it answered the new one."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from tests.integration.cluster.test_nodes import (
    _admin_and_token,
    _env,
    _gunicorn,
    _ioc,
    _load_metrics_seed_module,
    _start,
    _stop,
)
from tests.servers import free_port

QUESTIONS = (
    "/api/v1/kpis/uptime?by=district&from=2026-11-14&to=2026-11-20",
    "/api/v1/kpis/bandwidth_coverage?by=school&to=2026-11-20",
    "/api/v1/kpis/uptime?to=2026-11-20",
)


def test_two_nodes_answer_the_new_version_together_and_never_flip_back(
    redis_server: Any, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    _load_metrics_seed_module().build(data_dir).close()
    extra = {"IOC_CACHE_STALE_SECONDS": "60", "IOC_CACHE_WARM": "true"}
    env = _env(data_dir, redis_server.url, **extra)
    bearer = {"Authorization": f"Bearer {_admin_and_token(env)}"}
    nodes = []
    try:
        for name in ("node1", "node2"):
            port = free_port()
            nodes.append(_start(name, _gunicorn(port), env, tmp_path, port))
        seen: dict[str, list[tuple[float, str, int]]] = {n.name: [] for n in nodes}
        stop = threading.Event()
        errors: list[str] = []

        def ask(node: Any) -> None:
            while not stop.is_set():
                for question in QUESTIONS:
                    response = node.get(question, headers=bearer)
                    if response.status_code != 200:
                        errors.append(f"{node.name} {question}: {response.status_code} {response.text[:200]}")
                        continue
                    seen[node.name].append((time.monotonic(), question, response.json()["data_version"]))

        askers = [threading.Thread(target=ask, args=(n,), daemon=True) for n in nodes for _ in range(2)]
        for thread in askers:
            thread.start()
        time.sleep(3)  # both nodes have answered the current version (and keep it as the previous)
        before = max(v for answers in seen.values() for _, _, v in answers)

        probes = tmp_path / "connectivity_2026-11-20_late.csv"
        probes.write_text(
            "measured_at,school_id,download_mbps,upload_mbps,latency_ms,online\n"
            "2026-11-20T09:00:00+07:00,S2,5,1,90,false\n"
            "2026-11-20T09:05:00+07:00,S1,3,1,90,false\n",
            encoding="utf-8",
        )
        _ioc(env, "ingest", str(probes))
        loaded = time.monotonic()
        deadline = loaded + 90
        first_new: dict[str, float] = {}
        while time.monotonic() < deadline and len(first_new) < len(QUESTIONS) * 2:
            for name, answers in seen.items():
                for at, question, version in list(answers):
                    if version > before:
                        first_new.setdefault(f"{name} {question}", at)
            time.sleep(0.2)
        time.sleep(3)  # and a while longer: nobody goes back
        stop.set()
        for thread in askers:
            thread.join(60)
    finally:
        for node in nodes:
            _stop(node)

    assert not errors, errors[:5]
    assert len(first_new) == len(QUESTIONS) * 2, f"not every node answered the new version: {first_new}"
    for question in QUESTIONS:
        apart = abs(first_new[f"node1 {question}"] - first_new[f"node2 {question}"])
        assert apart < 5, f"{question}: the nodes answered the new version {apart:.1f} s apart"
    for name, answers in seen.items():
        for question in QUESTIONS:
            versions = [v for _, q, v in sorted(answers) if q == question]
            newest = 0
            for version in versions:
                assert version >= newest, f"{name} {question} went back from {newest} to {version}"
                newest = version
    print(
        "first answer of the new version after the load commit, per node and question (s): "
        + ", ".join(f"{k}: {v - loaded:.2f}" for k, v in sorted(first_new.items()))
    )
