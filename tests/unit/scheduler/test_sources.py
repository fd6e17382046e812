"""Drop-folder readiness and the HTTP source's parsing rules, without a network."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from ingest.jobs import DropFolderSpec, HttpSpec
from ingest.sources import SourceFailure, _headers, _later, _page, _with_params, public_url, ready_files


def _file(folder: Path, name: str, age: float = 60, text: str = "x\n") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    t = time.time() - age
    os.utime(path, (t, t))
    return path


def test_ready_files_skip_partial_hidden_recent_and_folders(tmp_path: Path) -> None:
    _file(tmp_path, "attendance_2026-11-23.csv")
    _file(tmp_path, "connectivity_1.csv")
    _file(tmp_path, "schools_2025-09-05.csv")
    _file(tmp_path, "attendance_2026-11-24.csv.part")
    _file(tmp_path, "digital.tmp")
    _file(tmp_path, ".hidden.csv")
    _file(tmp_path, "~$attendance.xlsx")
    _file(tmp_path, "attendance_2026-11-25.csv", age=0)  # just written
    (tmp_path / "done").mkdir()
    spec = DropFolderSpec(tmp_path, settle_seconds=2, stable_wait_seconds=0.01)
    names = [p.name for p in ready_files(spec)]
    # schools first (the other datasets refer to them), then by name
    assert names == ["schools_2025-09-05.csv", "attendance_2026-11-23.csv", "connectivity_1.csv"]


def test_a_file_growing_between_the_two_looks_waits(tmp_path: Path) -> None:
    growing = _file(tmp_path, "attendance_2026-11-23.csv")
    steady = _file(tmp_path, "attendance_2026-11-24.csv")

    def writer_appends(_seconds: float) -> None:  # the writer is still at work during the pause
        with growing.open("a") as handle:
            handle.write("more\n")
        t = time.time() - 60
        os.utime(growing, (t, t))  # even with an old mtime, the size changed

    spec = DropFolderSpec(tmp_path, settle_seconds=2, stable_wait_seconds=1)
    import ingest.sources as sources

    assert [p.name for p in sources.ready_files(spec, sleep=writer_appends)] == [steady.name]
    assert sorted(p.name for p in ready_files(DropFolderSpec(tmp_path, 2, 0))) == sorted(
        [growing.name, steady.name]
    )


def test_missing_folder_has_no_files(tmp_path: Path) -> None:
    assert ready_files(DropFolderSpec(tmp_path / "nope")) == []


SPEC = HttpSpec(url="http://127.0.0.1:1/api", dataset="connectivity", token_env="TOKEN_FOR_TEST")


def test_token_comes_from_the_environment_and_is_required() -> None:
    assert _headers(SPEC, {"TOKEN_FOR_TEST": "abc"})["Authorization"] == "Bearer abc"
    with pytest.raises(SourceFailure, match="environment variable TOKEN_FOR_TEST .* is not set"):
        _headers(SPEC, {})
    raw = HttpSpec(
        url="http://x/", dataset="connectivity", token_env="T", auth_header="X-Api-Key", auth_scheme=""
    )
    assert _headers(raw, {"T": "k"})["X-Api-Key"] == "k"


def test_pages_next_link_cursor_and_shapes() -> None:
    page = _page(
        {"records": [{"a": 1}], "next": "/api?p=2", "cursor": "c1"}, {}, "http://h/api?p=1", SPEC, 1, 10
    )
    assert page.next_url == "http://h/api?p=2" and page.cursor == "c1" and page.records == [{"a": 1}]
    linked = _page({"records": []}, {"Link": '<http://h/api?p=3>; rel="next"'}, "http://h/api", SPEC, 2, 5)
    assert linked.next_url == "http://h/api?p=3"
    bare = HttpSpec(url="http://h/", dataset="connectivity", records_key=None)
    assert _page([{"a": 1}], {}, "http://h/", bare, 1, 3).records == [{"a": 1}]
    with pytest.raises(SourceFailure, match="has no 'records' list"):
        _page({"data": []}, {}, "http://h/api", SPEC, 1, 3)
    with pytest.raises(SourceFailure, match="record 1 is not a JSON object"):
        _page({"records": [{"a": 1}, 5]}, {}, "http://h/api", SPEC, 1, 3)
    with pytest.raises(SourceFailure, match="expected a JSON object or list"):
        _page("text", {}, "http://h/api", SPEC, 1, 3)


def test_cursor_and_url_helpers() -> None:
    assert _later("2026-11-25T10:00:00+07:00", "2026-11-25T04:00:00+00:00") == "2026-11-25T04:00:00+00:00"
    assert _later(None, "b") == "b" and _later("b", None) == "b"
    assert _with_params("http://h/api?x=1", {"since": "2026-11-25T10:00:00+07:00"}) == (
        "http://h/api?x=1&since=2026-11-25T10%3A00%3A00%2B07%3A00"
    )
    assert public_url("http://user:pw@h:8080/api?token=abc") == "http://h:8080/api"
