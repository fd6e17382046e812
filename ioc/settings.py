"""Every setting of the product, declared once.

A value is read as: explicit argument > ``IOC_<NAME>`` environment variable > default.
``docs/settings.md`` documents each one; a test fails when a setting is undocumented.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str
    parse: Callable[[str], Any] = str

    @property
    def env(self) -> str:
        return "IOC_" + self.name.upper()


# settings whose value is a secret: `ioc settings` never prints them
SECRET_SETTINGS = frozenset({"s3_secret_access_key", "oidc_client_secret", "metrics_token", "smtp_password"})


def shown(name: str, value: Any) -> str:
    """``value`` of setting ``name`` as it may be printed: secrets as ***, URLs without password."""
    text = str(value)
    if name in SECRET_SETTINGS and text:
        return "***"
    if "://" in text:
        parts = urlsplit(text)
        if parts.password is not None:
            netloc = f"{parts.username or ''}:***@{parts.hostname or ''}" + (
                f":{parts.port}" if parts.port else ""
            )
            return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return text


def _bool(text: str) -> bool:
    return text.strip().lower() in {"1", "true", "yes", "on"}


def _seconds(text: str) -> float:
    """A number of seconds, 0 or more."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number of seconds") from None
    if not value >= 0:  # also NaN
        raise ValueError(f"{text!r}: give 0 seconds or more")
    return value


def _path_or_none(text: str) -> Path | None:
    return Path(text) if text.strip() else None


SETTINGS: tuple[Setting, ...] = (
    Setting("data_dir", "./data", "Folder holding the store (catalog, Parquet files, archive, logs).", str),
    Setting("timezone", "Asia/Ho_Chi_Minh", "Local time zone for dates and timestamps without an offset."),
    Setting("host", "127.0.0.1", "Address `ioc serve` listens on."),
    Setting("port", 8050, "Port `ioc serve` listens on.", int),
    Setting("debug", False, "Run the app in Dash debug mode (development only).", _bool),
    Setting(
        "write_retries", 8, "How often a write retries when the catalog is locked by another writer.", int
    ),
    Setting(
        "snapshot_retention_days",
        30,
        "Store snapshots (time travel, 'as of') older than this many days are expired by maintenance.",
        int,
    ),
    Setting(
        "kpi_config",
        "",
        "TOML file overriding KPI targets and thresholds ([kpi_id] target/green/amber); empty = the defaults.",
    ),
    Setting(
        "bandwidth_threshold_mbps",
        20.0,
        "Download speed (Mbps) at or above which a probe counts as fast.",
        float,
    ),
    Setting(
        "kpi_cache_seconds",
        300,
        "How long a computed KPI result stays in the cache (it is also keyed by data version).",
        int,
    ),
    Setting(
        "kpi_cache_entries",
        40_000,
        "Answers each worker keeps in its in-process KPI cache (least recently used dropped first); "
        "one warm-up round of the full city stores about 12,500, and the previous data version's "
        "answers are served while the warmer draws the next, so keep room for three rounds.",
        int,
    ),
    Setting(
        "kpi_cache_type",
        "ioc.metrics.cache.ObjectCache",
        "cachelib backend (a dotted class path or a cachelib class name) of the KPI cache's first level in each worker (default: in-process, "
        "unpickled); to share answers between workers and nodes set cache_redis_url.",
    ),
    Setting(
        "hot_table_rows",
        5_000_000,
        "KPI queries read the small tables (schools, attendance, digital, the connectivity rollup) "
        "from an in-memory copy per app process, made at each new version of the table; a table "
        "with more rows than this is read from the lake. 0 turns the copies off.",
        int,
    ),
    Setting("demo_schools", 3500, "Number of schools `ioc demo` generates.", int),
    Setting("demo_seed", 2026, "Random seed of `ioc demo`.", int),
    Setting(
        "demo_probe_days",
        14,
        "Days of 5-minute connectivity probes `ioc demo` generates (ending today).",
        int,
    ),
    Setting(
        "scheduler_config",
        "",
        "Job configuration of `ioc scheduler` (TOML or JSON); empty = DATA_DIR/scheduler.toml if it "
        "exists, else the built-in drop folder + maintenance jobs.",
    ),
    Setting(
        "archive_retention_days",
        180,
        "Raw archived files and inbox done/ files older than this many days are pruned by the "
        "scheduler's maintenance job (rejected/ files are kept twice as long).",
        int,
    ),
    Setting(
        "source_plugins",
        "",
        "Comma-separated Python modules registering extra job kinds (sources) for `ioc scheduler` "
        "(ingest/kinds.py; docs/ingestion.md).",
    ),
    # input limits (ingest/limits.py; docs/ingestion.md): a file over one is rejected whole
    Setting(
        "max_cell_chars",
        1000,
        "Longest text a cell of an input file may hold, in characters; a longer cell rejects the file.",
        int,
    ),
    Setting("max_columns", 1000, "Most columns an input file may have (its header included).", int),
    Setting("max_rows", 10_000_000, "Most data rows one input file (or one batch of records) may hold.", int),
    Setting(
        "max_xlsx_inflated_mb",
        100,
        "Largest size (MB) an XLSX workbook may inflate to, checked in its zip directory before it is "
        "read (a zip bomb is refused unopened); send bigger data as CSV or Parquet.",
        int,
    ),
    Setting("max_xlsx_entries", 1000, "Most files an XLSX workbook (a zip archive) may contain.", int),
    Setting(
        "stale_after",
        "",
        "Override how old a dataset may get before it is flagged stale, e.g. "
        "'connectivity=30m,digital=45d,schools=200d' (attendance is due by attendance_due_hour on school days).",
    ),
    Setting(
        "attendance_due_hour",
        10,
        "Local hour by which a school day's attendance is expected; before it, the previous school day counts.",
        int,
    ),
    # -- the school calendar and alerts (ioc/calendar.py, ioc/alerts; docs/alerts.md)
    Setting(
        "calendar_file",
        "",
        "TOML school calendar (school weekdays and hours, holidays, Tết, days off, district closures); "
        "empty = the built-in Viet Nam calendar ioc/calendar.toml.",
    ),
    Setting(
        "alert_rules",
        "",
        "TOML file of alert rules replacing the built-in ioc/alerts/rules.toml; empty = the built-in rules.",
    ),
    # -- app (ioc/app.py, ioc/pages, ioc/panels; docs/app.md, docs/screens.md)
    Setting(
        "screens_dir", "", "Folder of control-room screen files (*.json); empty = the built-in ioc/screens."
    ),
    Setting(
        "screen_playlist",
        "",
        "Comma-separated screen names kiosk mode rotates through; empty = every screen, control_room first.",
    ),
    Setting(
        "rotate_seconds", 60, "Seconds each screen stays on the wall in kiosk mode before the next one.", int
    ),
    Setting(
        "refresh_seconds", 60, "Seconds between data refreshes of control-room panels (no page reload).", int
    ),
    Setting(
        "boundaries_file",
        "",
        "GeoJSON of district boundaries (features with properties.district_code) for the map panels; "
        "empty = schools drawn as points.",
    ),
    Setting(
        "panel_plugins", "", "Comma-separated Python modules registering extra control-room panel kinds."
    ),
    # -- access control (ioc/auth; docs/security.md)
    Setting(
        "auth_required",
        True,
        "Require sign-in for every page, callback, API call and export. Only a demo on one's own "
        "machine may set it false (the app then logs a warning on every start).",
        _bool,
    ),
    Setting("session_hours", 8.0, "Hours a signed-in session lasts before signing in again.", float),
    Setting(
        "cookie_secure",
        "auto",
        "Secure flag of the session cookie: auto (on, except plain http to 127.0.0.1/localhost), true or false.",
    ),
    Setting(
        "login_max_attempts",
        5,
        "Failed sign-ins per user name and address within login_window_seconds before a pause "
        "(4x that per user name from addresses it never signed in from, and per address).",
        int,
    ),
    Setting("login_window_seconds", 900, "Window (seconds) over which failed sign-ins are counted.", int),
    Setting(
        "trusted_proxies",
        "",
        "Reverse proxies whose X-Forwarded-For gives the client's address: a number of proxies in "
        "front of the app (e.g. 1), or their addresses/networks (e.g. 10.0.0.5, 10.1.0.0/16); empty = "
        "the connection's address is the client's.",
    ),
    Setting(
        "max_upload_mb", 20, "Largest request body the web app accepts (MAX_CONTENT_LENGTH), in MB.", int
    ),
    Setting(
        "kiosk_days",
        365,
        "Default lifetime in days of a kiosk device token (`ioc tokens add --kind kiosk`).",
        int,
    ),
    Setting(
        "oidc_issuer",
        "",
        "OpenID Connect issuer URL of the city's identity provider; empty = no OIDC sign-in.",
    ),
    Setting("oidc_client_id", "", "OpenID Connect client id of this app."),
    Setting(
        "oidc_client_secret",
        "",
        "OpenID Connect client secret (confidential client); empty for a public client.",
    ),
    Setting(
        "oidc_redirect_uri",
        "",
        "Redirect URI registered at the provider; empty = <this server>/auth/oidc/callback.",
    ),
    Setting("oidc_scopes", "openid profile email", "Scopes asked of the OpenID Connect provider."),
    Setting(
        "oidc_keys_seconds",
        3600,
        "Seconds the provider's discovery document and signing keys are kept before they are read "
        "again (an unknown key id reads them again at once).",
        int,
    ),
    Setting(
        "oidc_username_claim",
        "preferred_username",
        "Claim (ID token or UserInfo) naming the local account at a person's first OIDC sign-in; the "
        "account must exist (`ioc users add --no-password`); later sign-ins go by the provider's sub.",
    ),
    # -- beyond one machine: store (ioc/store.py; docs/store.md, docs/operations.md)
    Setting(
        "catalog_url",
        "",
        "Where the DuckLake catalog lives: empty = the embedded SQLite catalog in DATA_DIR/lake; "
        "postgresql://user:password@host:port/database = a PostgreSQL catalog shared by every node.",
    ),
    Setting(
        "data_path",
        "",
        "Where the Parquet data files live: empty = DATA_DIR/lake/files (with an existing PostgreSQL "
        "catalog: the path stored in it); a shared folder (NFS) or s3://bucket/prefix/ on "
        "S3-compatible storage (see the s3_* settings). Fixed once the lake exists (see docs/store.md).",
    ),
    Setting("s3_endpoint", "", "host:port of S3-compatible storage (MinIO, Ceph, ...); empty = AWS S3."),
    Setting("s3_region", "us-east-1", "Region of the S3 bucket."),
    Setting("s3_access_key_id", "", "Access key id for the S3 bucket."),
    Setting("s3_secret_access_key", "", "Secret access key for the S3 bucket."),
    Setting("s3_url_style", "path", "S3 URL style: path (MinIO, most local stores) or vhost (AWS)."),
    Setting("s3_use_ssl", True, "Reach the S3 endpoint over HTTPS.", _bool),
    # -- beyond one machine: app nodes (ioc/metrics/cache.py, ioc/observability.py; docs/operations.md)
    Setting(
        "cache_redis_url",
        "",
        "redis://host:6379/0 = the KPI cache lives in Redis and is shared by every app node and "
        "worker (a KPI is computed once for all); empty = each worker keeps its own in-process cache.",
    ),
    Setting(
        "workers",
        2,
        "Worker processes of `ioc serve --workers` / `gunicorn -c python:ioc.gunicorn_conf` "
        "(gunicorn's -w overrides it).",
        int,
    ),
    Setting(
        "worker_timeout",
        120,
        "Seconds a gunicorn worker may spend on one request before it is killed and replaced.",
        int,
    ),
    Setting(
        "keepalive_seconds",
        75,
        "Seconds a gunicorn worker keeps an idle connection open for the client's next request. "
        "Longer than the idle timeout of every client that reuses connections (a reverse proxy's "
        "upstream keep-alive, nginx: 60 s), so the client always closes first: a server that closes "
        "first races the client's next request on that connection ('connection reset by peer').",
        int,
    ),
    Setting(
        "cache_warm",
        True,
        "After every new data version, draw in the background the wall screens, every district and "
        "ward page, and the school pages opened in the last half hour, so their answers are cached "
        "(with Redis: one worker of all nodes does it per data version).",
        _bool,
    ),
    Setting(
        "cache_warm_yield_seconds",
        15.0,
        "The most the cache warmer waits, per new data version, for this worker's requests: it "
        "draws its next page only when no request is being answered and none ended in the last "
        "second (the browser is still drawing), but for at most this many seconds in all, so a busy "
        "worker still gets warmed; 0 = never wait.",
        _seconds,
    ),
    Setting(
        "cache_stale_seconds",
        0,
        "Stale-while-revalidate: for at most this many seconds after a new data version, until the "
        "warmer has drawn it, an answer not yet computed for it is served from the previous version "
        "(its own as-of time says so) instead of making the officer wait; 0 = always wait for the "
        "new answer.",
        int,
    ),
    Setting(
        "metrics_token",
        "",
        "Bearer token /metrics asks for (Authorization: Bearer <token>); empty = /metrics is open "
        "(restrict it at the proxy).",
    ),
    # -- beyond one machine: one scheduler (ingest/scheduler.py, ioc/leader.py; docs/scheduler.md)
    Setting(
        "scheduler_standby_seconds",
        10,
        "How often a standby `ioc scheduler` tries to take over the PostgreSQL lock held by the active one.",
        int,
    ),
    # -- beyond one machine: accounts (ioc/auth; docs/security.md)
    Setting(
        "auth_database_url",
        "",
        "Where accounts, sessions and the audit log live: empty = the PostgreSQL catalog database "
        "(schema ioc_auth) when catalog_url is a postgresql:// URL, else DATA_DIR/auth/auth.sqlite; "
        "a postgresql:// URL of its own; or 'sqlite' for the file even beside a PostgreSQL catalog.",
    ),
    # -- notifications and reports (ioc/notify, ioc/reports; docs/notifications.md)
    Setting(
        "base_url",
        "",
        "Public address of the app (e.g. https://ioc.sgddt.hochiminhcity.gov.vn) used in the links of "
        "notifications and reports; empty = http://<host>:<port>.",
    ),
    Setting(
        "notify_config",
        "",
        "Contact points and report subscriptions (TOML); empty = DATA_DIR/notify.toml if it exists, "
        "else nothing is sent (events wait in the outbox).",
    ),
    Setting("smtp_host", "", "SMTP server that sends notification and report emails; empty = no email."),
    Setting("smtp_port", 587, "Port of the SMTP server.", int),
    Setting(
        "smtp_security",
        "starttls",
        "How the SMTP connection is protected: starttls (port 587), tls (implicit TLS, port 465) or "
        "none (a relay on the local network only).",
    ),
    Setting("smtp_username", "", "SMTP user name; empty = no authentication."),
    Setting("smtp_password", "", "SMTP password (a secret: `ioc settings` never prints it)."),
    Setting("smtp_from", "", "From address of notification and report emails, e.g. IOC <ioc@example.vn>."),
    Setting("smtp_timeout", 10.0, "Seconds to wait for the SMTP server or a webhook before a retry.", float),
    Setting(
        "notify_retention_days",
        90,
        "Sent and failed notifications, the events they told and the record of sent reports are "
        "forgotten after this many days (the report PDFs in DATA_DIR/reports are kept).",
        int,
    ),
    Setting(
        "report_browser",
        "",
        "Chromium that prints the weekly reports to PDF; empty = chromium (or chromium-browser, "
        "google-chrome) from PATH.",
    ),
    Setting(
        "notify_retry_seconds",
        30.0,
        "First wait before a failed notification is sent again; it doubles after each failure.",
        float,
    ),
    Setting(
        "notify_retry_max_seconds",
        300.0,
        "Longest wait between two attempts of a notification (the cap of the doubling).",
        float,
    ),
    Setting(
        "notify_give_up_hours",
        48.0,
        "A notification still not delivered this many hours after it was made is marked failed "
        "(`ioc notify status` lists it; `ioc notify retry` sends it again).",
        float,
    ),
)

_BY_NAME = {s.name: s for s in SETTINGS}


def get(name: str, override: Any = None) -> Any:
    """The value of setting ``name``: ``override`` if given, else the environment, else the default."""
    setting = _BY_NAME[name]
    if override is not None:
        return override
    raw = os.environ.get(setting.env)
    if raw is not None and raw != "":
        try:
            return setting.parse(raw)
        except ValueError as error:  # say which variable
            raise ValueError(f"{setting.env}: {error}") from None
    return setting.default


def data_dir(override: str | os.PathLike[str] | None = None) -> Path:
    return Path(get("data_dir", override)).expanduser().resolve()


__all__ = ["SETTINGS", "SECRET_SETTINGS", "Setting", "get", "data_dir", "shown", "_path_or_none"]
