"""Every setting is documented: docs/settings.md is the generated reference, kept up to date."""

from __future__ import annotations

from pathlib import Path

from ioc import settings
from ioc.admin import settings_markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "settings.md"


def test_every_setting_is_in_the_docs() -> None:
    text = DOC.read_text(encoding="utf-8")
    missing = [s.env for s in settings.SETTINGS if f"`{s.env}`" not in text]
    assert not missing, (
        f"undocumented settings {missing}: run `ioc settings --format markdown > docs/settings.md`"
    )


def test_settings_doc_is_the_generated_reference() -> None:
    assert DOC.read_text(encoding="utf-8") == settings_markdown()


def test_environment_overrides_default_and_argument_overrides_both(monkeypatch) -> None:
    monkeypatch.delenv("IOC_PORT", raising=False)
    assert settings.get("port") == 8050
    monkeypatch.setenv("IOC_PORT", "9000")
    assert settings.get("port") == 9000
    assert settings.get("port", 9100) == 9100


def test_every_setting_has_help_and_a_unique_name() -> None:
    names = [s.name for s in settings.SETTINGS]
    assert len(names) == len(set(names))
    assert all(s.help.strip() for s in settings.SETTINGS)


def test_ioc_settings_never_prints_a_secret(monkeypatch, capsys) -> None:
    from ioc.cli import main

    monkeypatch.setenv("IOC_CATALOG_URL", "postgresql://ioc:pg-Secret-1@db.city:5432/ioc")
    monkeypatch.setenv("IOC_CACHE_REDIS_URL", "redis://:redis-Secret-2@cache:6379/0")
    monkeypatch.setenv("IOC_S3_SECRET_ACCESS_KEY", "s3-Secret-3")
    monkeypatch.setenv("IOC_OIDC_CLIENT_SECRET", "oidc-Secret-4")
    monkeypatch.setenv("IOC_METRICS_TOKEN", "metrics-Secret-5")
    for fmt in ("text", "json"):
        assert main(["settings", "--format", fmt]) == 0
        out = capsys.readouterr().out
        assert "Secret-" not in out
        assert "postgresql://ioc:***@db.city:5432/ioc" in out and "redis://:***@cache:6379/0" in out
