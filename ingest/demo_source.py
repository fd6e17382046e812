"""A local HTTP JSON source for demos: the city's "sector database" answering connectivity probes.

``python -m ingest.demo_source --data-dir DATA_DIR`` serves, on 127.0.0.1:8765, a probe every 5
minutes for every school of the store, up to the current time:

    GET /api/connectivity?since=<ISO time>   Authorization: Bearer $IOC_SECTOR_API_TOKEN
    -> {"records": [...], "next": "<url of the next page>" | null, "cursor": "<ISO time>"}

It answers exactly what the sample scheduler configuration (config/scheduler.example.toml)
expects, so ``ioc scheduler --config config/scheduler.example.toml`` keeps a demo store live.
Values are deterministic per school and time slot, so a re-sent probe is identical.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import urllib.parse
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from zoneinfo import ZoneInfo

from ioc import clock
from ioc.store import Store

SLOT = timedelta(minutes=5)
TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def _slot_floor(moment: datetime) -> datetime:
    moment = moment.astimezone(TZ).replace(second=0, microsecond=0)
    return moment - timedelta(minutes=moment.minute % 5)


def probe(school_id: str, at: datetime) -> dict[str, Any]:
    """One deterministic probe of a school at a slot."""
    digest = hashlib.blake2b(f"{school_id}|{at.isoformat()}".encode(), digest_size=8).digest()
    a, b, c = digest[0], digest[1], digest[2]
    base = 8 + (int.from_bytes(hashlib.blake2b(school_id.encode(), digest_size=2).digest(), "big") % 90)
    online = a > 6  # about 97 % of probes reach the internet
    return {
        "measured_at": at.isoformat(),
        "school_id": school_id,
        "download_mbps": round(base * (0.7 + b / 425), 2) if online else None,
        "upload_mbps": round(base * (0.3 + c / 850), 2) if online else None,
        "latency_ms": round(8 + (a % 40) * 1.5, 1) if online else None,
        "online": online,
    }


class DemoSource:
    def __init__(
        self, school_ids: list[str], *, token: str | None, page_size: int, backfill: timedelta
    ) -> None:
        self.school_ids = school_ids
        self.token = token
        self.page_size = page_size
        self.backfill = backfill

    def answer(self, query: dict[str, str], now: datetime | None = None) -> dict[str, Any]:
        until = (
            datetime.fromisoformat(query["until"])
            if "until" in query
            else _slot_floor(now or clock.now().astimezone(TZ))
        )
        since = datetime.fromisoformat(query["since"]) if query.get("since") else until - self.backfill
        offset = int(query.get("offset", "0"))
        slots = []
        slot = _slot_floor(since) + SLOT
        while slot <= until:
            slots.append(slot)
            slot += SLOT
        total = len(slots) * len(self.school_ids)
        end = min(total, offset + self.page_size)
        records = [
            probe(self.school_ids[i % len(self.school_ids)], slots[i // len(self.school_ids)])
            for i in range(offset, end)
        ]
        next_url = None
        if end < total:
            params = {"since": since.isoformat(), "until": until.isoformat(), "offset": str(end)}
            next_url = "/api/connectivity?" + urllib.parse.urlencode(params)
        return {"records": records, "next": next_url, "cursor": until.isoformat()}


def make_server(source: DemoSource, host: str, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            parts = urllib.parse.urlsplit(self.path)
            if parts.path != "/api/connectivity":
                self.send_error(404, "only /api/connectivity is served")
                return
            if source.token and self.headers.get("Authorization") != f"Bearer {source.token}":
                self.send_error(401, "missing or wrong bearer token")
                return
            try:
                body = source.answer(dict(urllib.parse.parse_qsl(parts.query)))
            except ValueError as error:
                self.send_error(400, str(error))
                return
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            sys.stderr.write("demo source: " + format % args + "\n")

    return ThreadingHTTPServer((host, port), Handler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ingest.demo_source", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir", help="store whose schools are probed (default: $IOC_DATA_DIR or ./data)"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--token-env", default="IOC_SECTOR_API_TOKEN", help="environment variable holding the token"
    )
    parser.add_argument("--page-size", type=int, default=5000)
    parser.add_argument("--backfill-minutes", type=int, default=60, help="history served to a first pull")
    args = parser.parse_args(argv)
    store = Store(args.data_dir, read_only=True)
    ids = [row[0] for row in store.execute("SELECT DISTINCT school_id FROM schools ORDER BY 1").rows]
    store.close()
    if not ids:
        parser.exit(1, "the store has no schools: run `ioc demo` or load a schools file first\n")
    token = os.environ.get(args.token_env) or None
    source = DemoSource(
        ids, token=token, page_size=args.page_size, backfill=timedelta(minutes=args.backfill_minutes)
    )
    server = make_server(source, args.host, args.port)
    print(
        f"demo source: {len(ids)} schools on http://{args.host}:{server.server_address[1]}/api/connectivity"
        + (f" (token from ${args.token_env})" if token else " (no token required)"),
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
