"""Static checks of deploy/: what can be checked without a container engine or a systemd host.

The compose file parses and wires PostgreSQL, Redis, two app nodes and the schedulers with
healthchecks and ordered start-up; the Dockerfile's base, user, healthcheck and commands are what
docs/operations.md says; every command a deploy file runs exists in this program; the systemd
units pass ``systemd-analyze verify`` (with their paths pointed at this virtualenv) and always
parse; every IOC_* variable named in a deploy file or in docs/operations.md is a real setting.
"""

from __future__ import annotations

import configparser
import importlib.util
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from ioc import settings
from ioc.cli import COMMANDS, build_parser

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNITS = DEPLOY / "systemd"
BIN = Path(sys.executable).parent
KNOWN_ENV = {s.env for s in settings.SETTINGS}
GUNICORN_APP = ["gunicorn", "-c", "python:ioc.gunicorn_conf", "ioc.wsgi:application"]


def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict) and isinstance(loaded.get("services"), dict)
    return loaded


def check_command(argv: list[str], where: str) -> None:
    """``argv`` is a command this program provides: gunicorn on ioc.wsgi with ioc.gunicorn_conf,
    or ``ioc SUBCOMMAND [options]`` that the ioc parser accepts."""
    program = Path(argv[0]).name
    if program == "gunicorn":
        assert argv[1:] == GUNICORN_APP[1:], f"{where}: unexpected gunicorn command {argv}"
        assert importlib.util.find_spec("ioc.gunicorn_conf") is not None, f"{where}: no ioc/gunicorn_conf.py"
        assert importlib.util.find_spec("ioc.wsgi") is not None, f"{where}: no ioc/wsgi.py"
        assert (BIN / "gunicorn").exists(), "gunicorn is not installed in the virtualenv"
        return
    assert program == "ioc", f"{where}: runs {argv[0]!r}, neither ioc nor gunicorn"
    assert argv[1] in COMMANDS, f"{where}: `ioc {argv[1]}` is not a command of ioc/cli.py"
    try:
        build_parser(argv[1]).parse_args(argv[1:])
    except SystemExit as error:
        raise AssertionError(f"{where}: `{' '.join(argv)}` is refused by the ioc parser") from error


# -- compose ----------------------------------------------------------------------------------------


def check_compose(doc: dict[str, Any]) -> None:
    services = doc["services"]
    assert services["postgres"]["image"] == "postgres:15"
    assert any(str(v).endswith(":/var/lib/postgresql/data") for v in services["postgres"]["volumes"])
    assert services["redis"]["image"].startswith("redis:7")

    apps = [name for name, s in services.items() if s.get("command") == GUNICORN_APP]
    assert len(apps) >= 2, f"two app nodes (gunicorn) expected, found {apps}"
    schedulers = [name for name, s in services.items() if s.get("command") == ["ioc", "scheduler"]]
    assert schedulers == ["scheduler"]
    assert services["scheduler"]["deploy"]["replicas"] >= 2  # one active, one standby

    for name in ("postgres", "redis", *apps, "scheduler"):
        check = services[name].get("healthcheck")
        assert check and not check.get("disable") and check.get("test"), f"{name}: no healthcheck"
    for name in (*apps, "scheduler"):
        deps = services[name]["depends_on"]
        assert deps["postgres"]["condition"] == "service_healthy", name
        assert deps["redis"]["condition"] == "service_healthy", name
        assert deps["migrate"]["condition"] == "service_completed_successfully", name
    # the app nodes answer /readyz; each is published on its own port of 127.0.0.1 (a proxy in front)
    for name in apps:
        assert "/readyz" in " ".join(services[name]["healthcheck"]["test"])
        assert all(str(p).startswith("127.0.0.1:") for p in services[name]["ports"])


def test_compose_has_the_services_with_healthchecks_and_ordered_start() -> None:
    check_compose(compose())


def test_compose_nodes_share_the_catalog_cache_and_data_volume() -> None:
    doc = compose()
    services = doc["services"]
    nodes = [n for n, s in services.items() if s.get("image", "").startswith("education-ioc")]
    assert set(nodes) >= {"migrate", "app1", "app2", "scheduler"}
    for name in nodes:
        env = services[name]["environment"]
        assert (
            env["IOC_CATALOG_URL"].startswith("postgresql://ioc:")
            and "@postgres:5432/ioc" in env["IOC_CATALOG_URL"]
        )
        assert env["IOC_CACHE_REDIS_URL"] == "redis://redis:6379/0"
        assert "ioc-data:/var/lib/ioc" in services[name]["volumes"]
        assert services[name]["env_file"] == ["ioc.env"]
        assert services[name]["build"]["dockerfile"] == "deploy/Dockerfile"
    assert set(doc["volumes"]) == {"pg-data", "ioc-data"}
    # the password is never written in the file: compose asks for it
    assert "${POSTGRES_PASSWORD:?" in (DEPLOY / "compose.yaml").read_text(encoding="utf-8")


def test_compose_commands_exist() -> None:
    for name, service in compose()["services"].items():
        command = service.get("command")
        if isinstance(command, list) and command[0] in ("ioc", "gunicorn"):
            check_command(command, f"compose service {name}")
        test = (service.get("healthcheck") or {}).get("test") or []
        if test[:2] == ["CMD", "ioc"]:
            check_command(test[1:], f"compose healthcheck of {name}")


@pytest.mark.parametrize(
    "breakage",
    ["no scheduler healthcheck", "one app node", "app starts before postgres is healthy", "one scheduler"],
)
def test_compose_checks_refuse_a_broken_file(breakage: str) -> None:
    doc = compose()
    services = doc["services"]
    if breakage == "no scheduler healthcheck":
        del services["scheduler"]["healthcheck"]
    elif breakage == "one app node":
        del services["app2"]
    elif breakage == "app starts before postgres is healthy":
        services["app1"]["depends_on"] = {
            **services["app1"]["depends_on"],
            "postgres": {"condition": "service_started"},
        }
    else:
        services["scheduler"]["deploy"]["replicas"] = 1
    with pytest.raises(AssertionError):
        check_compose(doc)


def test_command_checks_refuse_unknown_commands() -> None:
    with pytest.raises(AssertionError):
        check_command(["ioc", "no-such-command"], "test")
    with pytest.raises(AssertionError):
        check_command(["ioc", "scheduler", "--no-such-option"], "test")


# -- Dockerfile -------------------------------------------------------------------------------------


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    joined = re.sub(
        r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    )
    result = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            result.append((word.upper(), rest.strip()))
    return result


def test_dockerfile() -> None:
    steps = dockerfile()
    assert steps[0] == ("FROM", "python:3.11-slim")
    users = [args for word, args in steps if word == "USER"]
    assert users and users[-1] not in ("root", "0"), "the image must run as a non-root user"
    health = [args for word, args in steps if word == "HEALTHCHECK"]
    assert len(health) == 1 and "/healthz" in health[0]
    # every file copied into the image exists and is not excluded by the build's ignore file
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
    for word, args in steps:
        if word == "COPY":
            *sources, _target = args.split()
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: no such file in the project"
                assert f"!{source.rstrip('/')}/" in ignore or f"!{source}" in ignore, f"{source} is ignored"
    assert ("RUN", "pip install . && rm -rf /opt/ioc/build") in steps
    cmd = [args for word, args in steps if word == "CMD"]
    assert len(cmd) == 1
    import json

    check_command(json.loads(cmd[0]), "Dockerfile CMD")
    # the healthcheck's port follows IOC_PORT, which the image sets with EXPOSE
    env = " ".join(args for word, args in steps if word == "ENV")
    assert "IOC_PORT=8050" in env and ("EXPOSE", "8050") in steps


# -- systemd ----------------------------------------------------------------------------------------


def unit_files() -> list[Path]:
    files = sorted(UNITS.glob("ioc-*"))
    assert {f.name for f in files} == {
        "ioc-app.service",
        "ioc-scheduler.service",
        "ioc-maintain.service",
        "ioc-maintain.timer",
    }
    return files


def parse_unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(path.read_text(encoding="utf-8"), source=str(path))
    return parser


def test_systemd_units_parse_and_run_real_commands() -> None:
    for path in unit_files():
        unit = parse_unit(path)
        assert unit.has_section("Unit") and unit["Unit"].get("Description"), path.name
        if path.suffix == ".timer":
            assert unit["Timer"].get("OnCalendar")
            assert (UNITS / (path.stem + ".service")).exists()
            assert unit["Install"]["WantedBy"] == "timers.target"
            continue
        service = unit["Service"]
        assert service["User"] == "ioc" and service["EnvironmentFile"] == "/etc/ioc/ioc.env", path.name
        argv = shlex.split(service["ExecStart"])
        assert argv[0].startswith("/opt/ioc/venv/bin/"), path.name
        check_command([Path(argv[0]).name, *argv[1:]], path.name)
        for line in service.get("Environment", "").splitlines():
            name = line.strip().split("=", 1)[0]
            assert not name.startswith("IOC_") or name in KNOWN_ENV, f"{path.name}: {name}"


def test_systemd_units_verify(tmp_path: Path) -> None:
    """``systemd-analyze verify`` with the binaries pointed at this virtualenv (when the tool is
    on this machine: the parse checks above run everywhere)."""
    analyze = shutil.which("systemd-analyze")
    copies = []
    for path in unit_files():
        text = path.read_text(encoding="utf-8").replace("/opt/ioc/venv/bin/", f"{BIN}/")
        (tmp_path / path.name).write_text(text, encoding="utf-8")
        copies.append(str(tmp_path / path.name))
        assert parse_unit(tmp_path / path.name).sections()
    if analyze is None:
        return
    done = subprocess.run(
        [analyze, "verify", "--man=no", *copies], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    problems = [
        line
        for line in (done.stdout + done.stderr).splitlines()
        # a container without systemd as PID 1 says so; that is about this machine, not the units
        if line.strip() and "System has not been booted with systemd" not in line
    ]
    assert done.returncode == 0 and not problems, "\n".join(problems)


def test_systemd_verify_catches_a_broken_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    broken = tmp_path / "ioc-broken.service"
    broken.write_text("[Service]\nExecStart=/no/such/program\nType=sometimes\n", encoding="utf-8")
    if analyze is None:
        unit = parse_unit(broken)
        assert not unit.has_section("Unit")  # the parse check above would refuse it
        return
    done = subprocess.run(
        [analyze, "verify", "--man=no", str(broken)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0 or "sometimes" in done.stderr


# -- settings named in deploy files and the operations guide ---------------------------------------


def test_every_ioc_variable_is_a_setting() -> None:
    paths = [p for p in DEPLOY.rglob("*") if p.is_file()] + [ROOT / "docs" / "operations.md"]
    seen: dict[str, list[str]] = {}
    for path in paths:
        for name in re.findall(r"\bIOC_[A-Z0-9_]+\*?", path.read_text(encoding="utf-8")):
            seen.setdefault(name, []).append(str(path.relative_to(ROOT)))

    def known(name: str) -> bool:  # IOC_S3_* names a family of settings
        if name.endswith("*"):
            return any(env.startswith(name[:-1]) for env in KNOWN_ENV)
        return name in KNOWN_ENV

    unknown = {name: files for name, files in seen.items() if not known(name)}
    assert not unknown, f"not settings of ioc/settings.py: {unknown}"
    assert {"IOC_CATALOG_URL", "IOC_DATA_PATH", "IOC_CACHE_REDIS_URL", "IOC_AUTH_DATABASE_URL"} <= set(seen)


def test_env_example_is_well_formed() -> None:
    for number, line in enumerate((DEPLOY / "ioc.env.example").read_text(encoding="utf-8").splitlines(), 1):
        text = line.strip()
        if not text:
            continue
        if text.startswith("#"):
            text = text.lstrip("# ")
            if not re.match(r"IOC_[A-Z0-9_]+=", text):
                continue  # a comment
        name, sep, _value = text.partition("=")
        assert sep and name in KNOWN_ENV, f"ioc.env.example:{number}: {line!r}"
