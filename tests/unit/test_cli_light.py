"""``ioc <command> --help`` and a wrong argument answer without loading the app: no Dash, Plotly,
Flask, pandas or NumPy (``ioc report --help`` once imported 1,107 modules and took seconds)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ioc.cli import COMMANDS

HEAVY = ("dash", "plotly", "flask", "pandas", "pyarrow", "numpy")

PROBE = """
import sys
from ioc.cli import main
for argv in ([{name!r}, "--help"], [{name!r}, "--no-such-option"]):
    try:
        main(argv)
    except SystemExit as end:
        assert end.code in (0, 2), (argv, end.code)
    else:
        raise AssertionError(f"{{argv}} ran the command")
print(" ".join(sorted({{m.split(".")[0] for m in sys.modules}})))
"""


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_and_usage_errors_stay_light(name: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(name=name)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    loaded = set(done.stdout.split())
    assert "ioc" in loaded and not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
