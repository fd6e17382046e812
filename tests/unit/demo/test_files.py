"""Every generated file keeps the input contract (SPEC section 2), checked directly on the files."""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ioc import geography
from ioc.demo import connectivity
from ioc.demo.build import DemoFiles, frame_of

TODAY = date(2026, 11, 25)  # as in conftest.py
NOW = datetime(2026, 11, 25, 10, 2, tzinfo=connectivity.LOCAL)
LEVELS = {"preschool", "primary", "lower_secondary", "upper_secondary", "continuing", "multi_level"}
LEVEL_LABELS = {"mầm non", "tiểu học", "thcs", "thpt", "gdtx", "liên cấp"}
OWNERSHIP = {"public", "private", "công lập", "ngoài công lập"}


def files_of(demo: DemoFiles, dataset: str) -> list[Path]:
    return [p for p in demo.all if p.name.startswith(dataset)]


def schools_frame(path: Path) -> pd.DataFrame:
    frame = frame_of(path)
    frame.columns = [c.strip().lower() for c in frame.columns]
    return frame


def all_school_ids(demo: DemoFiles) -> set[str]:
    return {i for p in files_of(demo, "schools") for i in schools_frame(p)["school_id"]}


def parse_date(text: str) -> date:
    if "/" in text:
        return datetime.strptime(text, "%d/%m/%Y").date()
    return date.fromisoformat(text)


def test_file_names_formats_and_bom(demo_files: DemoFiles) -> None:
    names = [p.name for p in demo_files.all]
    assert names[0].startswith("schools_2024-09-01")
    assert {p.suffix for p in demo_files.all} == {".csv", ".xlsx", ".parquet"}
    for path in files_of(demo_files, "schools"):
        assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    assert len(files_of(demo_files, "connectivity")) == 2
    assert len(files_of(demo_files, "digital")) == 13  # Nov 2025 .. Nov 2026, as attendance


def test_schools_files_keep_the_contract(demo_files: DemoFiles) -> None:
    for path in files_of(demo_files, "schools"):
        frame = schools_frame(path)
        assert frame["school_id"].is_unique and (frame["school_id"] != "").all()
        assert (frame["school_name"] != "").all()
        assert set(frame["level"].str.lower()) <= LEVELS | LEVEL_LABELS
        assert set(frame["ownership"].str.lower()) <= OWNERSHIP
        assert (frame["ward_name"] != "").all() and (frame["district_name"] != "").all()
        lat, lon = frame["latitude"].astype(float), frame["longitude"].astype(float)
        assert lat.between(8, 24).all() and lon.between(102, 110).all()
        for column in ("students", "teachers", "classrooms"):
            assert (frame[column].astype(int) >= 0).all()
        assert set(frame["active"]) <= {"true", "false"}


def test_schools_use_vietnamese_labels_on_some_rows(demo_files: DemoFiles) -> None:
    frame = schools_frame(files_of(demo_files, "schools")[-1])
    labels = frame["level"].str.lower().isin(LEVEL_LABELS).mean()
    assert 0.15 < labels < 0.45
    assert frame["ownership"].isin(["Công lập", "Ngoài công lập"]).any()


def test_attendance_files_keep_the_contract(demo_files: DemoFiles) -> None:
    ids = all_school_ids(demo_files)
    for path in files_of(demo_files, "attendance"):
        frame = frame_of(path)
        days = frame["date"].map(parse_date)
        assert (days <= TODAY).all()
        assert not frame.duplicated(["date", "school_id"]).any()
        assert set(frame["school_id"]) <= ids
        enrolled, present = frame["enrolled"].astype(int), frame["present"].astype(int)
        assert ((present >= 0) & (present <= enrolled)).all()
        given = (frame["absent_excused"] != "") & (frame["absent_unexcused"] != "")
        both_or_none = given | ((frame["absent_excused"] == "") & (frame["absent_unexcused"] == ""))
        assert both_or_none.all()
        split = frame[given]
        total = (
            split["present"].astype(int)
            + split["absent_excused"].astype(int)
            + split["absent_unexcused"].astype(int)
        )
        assert (total == split["enrolled"].astype(int)).all()
        assert 0.6 < given.mean() < 1.0  # most schools, not all, split absences


def test_both_date_styles_are_used(demo_files: DemoFiles) -> None:
    texts = [frame_of(p)["date"].iloc[0] for p in files_of(demo_files, "attendance")]
    assert any("/" in t for t in texts) and any("-" in t for t in texts)


def test_digital_files_keep_the_contract(demo_files: DemoFiles) -> None:
    versions = pd.concat([schools_frame(p) for p in files_of(demo_files, "schools")])
    for column in ("students", "teachers", "classrooms"):
        versions[column] = versions[column].astype(int)
    smallest = versions.groupby("school_id")[["students", "teachers", "classrooms"]].min()
    for path in files_of(demo_files, "digital"):
        frame = frame_of(path)
        assert not frame.duplicated(["as_of", "school_id"]).any()
        joined = frame.astype({"school_id": str}).join(smallest, on="school_id")
        assert joined["students"].notna().all()
        for column in ("student_devices", "teacher_devices", "smart_classrooms", "teachers_trained"):
            assert (joined[column].astype(int) >= 0).all()
        assert (joined["smart_classrooms"].astype(int) <= joined["classrooms"]).all()
        assert (joined["teachers_trained"].astype(int) <= joined["teachers"]).all()
        assert (joined["lms_active_students"].astype(int) <= joined["students"]).all()
        assert joined["cashless_share"].astype(float).between(0, 1).all()
        assert set(joined["e_transcript"].astype(str).str.lower()) <= {"true", "false", "có", "không"}


def test_connectivity_files_keep_the_contract(demo_files: DemoFiles) -> None:
    ids = all_school_ids(demo_files)
    styles = set()
    for path in files_of(demo_files, "connectivity"):
        frame = frame_of(path)
        assert not frame.duplicated(["measured_at", "school_id"]).any()
        assert set(frame["school_id"]) <= ids
        offline = ~frame["online"]
        for column in ("download_mbps", "upload_mbps", "latency_ms"):
            assert frame.loc[offline, column].isna().all()
            assert (frame.loc[~offline, column] >= 0).all()
        first = frame["measured_at"].iloc[0]
        styles.add(type(first).__name__ if not isinstance(first, str) else first[-6:])
    assert len(styles) == 2  # two different ways of writing measured_at across the two days


def test_todays_probes_stop_at_now(demo_files: DemoFiles) -> None:
    frame = frame_of(files_of(demo_files, "connectivity")[-1])
    stamps = pd.to_datetime(frame["measured_at"], utc=True)
    assert stamps.max() <= pd.Timestamp(NOW)
    assert stamps.max() > pd.Timestamp(NOW) - pd.Timedelta(minutes=5)


def test_post_reorganisation_schools_sit_in_current_units_of_their_former_district(
    demo_files: DemoFiles,
) -> None:
    frame = schools_frame(files_of(demo_files, "schools")[-1])
    for _, row in frame.iterrows():
        unit = geography.unit(row["ward_code"])
        assert (unit.name, unit.district_code, unit.district_name) == (
            row["ward_name"],
            row["district_code"],
            row["district_name"],
        )
    assert frame["ward_code"].nunique() == 168


def test_pre_reorganisation_schools_sit_in_former_wards(demo_files: DemoFiles) -> None:
    frame = schools_frame(files_of(demo_files, "schools")[0])
    former = {w.code: w for w in geography.former_wards()}
    assert set(frame["ward_code"]) <= set(former)
    moved = 0
    later = schools_frame(files_of(demo_files, "schools")[1]).set_index("school_id")
    for _, row in frame.iterrows():
        assert former[row["ward_code"]].district_code == row["district_code"]
        moved += later.loc[row["school_id"], "district_code"] != row["district_code"]
    assert moved > 0  # some schools changed district with the reorganisation


def test_same_seed_same_bytes_other_seed_other_data(tmp_path: Path, generate) -> None:
    def digest(folder: Path, seed: int) -> dict[str, str]:
        demo = generate(folder, schools=80, attendance_days=10, probe_days=1, seed=seed)
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in demo.all}

    first = digest(tmp_path / "a", 7)
    assert first == digest(tmp_path / "b", 7)
    other = digest(tmp_path / "c", 8)
    assert first.keys() == other.keys()
    assert all(first[name] != other[name] for name in first)


def test_rewriting_replaces_a_previous_demos_files(tmp_path: Path, generate) -> None:
    folder = tmp_path / "source"
    generate(folder, schools=60, attendance_days=5, probe_days=3)
    demo = generate(folder, schools=60, attendance_days=5, probe_days=1)
    assert sorted(folder.iterdir()) == sorted(demo.all)


@pytest.mark.parametrize("bad", [{"schools": 0}, {"probe_days": -1}, {"attendance_days": -2}])
def test_bad_sizes_are_refused(tmp_path: Path, bad: dict, generate) -> None:
    from ioc.demo import DemoError

    with pytest.raises(DemoError):
        generate(tmp_path, **bad)


def test_today_before_the_reorganisation_is_refused(tmp_path: Path) -> None:
    from ioc.demo import DemoError
    from ioc.demo.build import write_files

    with pytest.raises(DemoError, match="2025-07-01"):
        write_files(tmp_path, schools=10, today=date(2025, 6, 1))


def test_row_counts_are_reported(demo_files: DemoFiles) -> None:
    counted = {
        dataset: sum(len(frame_of(p)) for p in files_of(demo_files, dataset))
        for dataset in ("schools", "attendance", "digital", "connectivity")
    }
    assert counted == demo_files.rows_written
    assert np.all(np.array(list(counted.values())) > 0)
