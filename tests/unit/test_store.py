from __future__ import annotations

import threading

import pytest

from ioc import migrations
from ioc.store import Store, StoreError, quote_ident


def test_new_store_is_migrated_to_latest(store: Store) -> None:
    assert migrations.current_version(store) == migrations.LATEST
    for table in ("schools", "attendance", "digital", "connectivity", "ingest_runs", "rejections"):
        assert store.has_table(table), table


def test_write_commits_and_bumps_data_version(store: Store) -> None:
    before = store.data_version()
    store.write(lambda cur: cur.execute("INSERT INTO replacements VALUES ('r1', 'attendance', 'k', NULL)"))
    assert store.data_version() > before
    assert store.execute("SELECT count(*) FROM replacements").scalar() == 1


def test_failed_write_leaves_nothing(store: Store) -> None:
    def boom(cur):
        cur.execute("INSERT INTO replacements VALUES ('r1', 'attendance', 'k', NULL)")
        raise ValueError("half-way")

    with pytest.raises(ValueError):
        store.write(boom)
    assert store.execute("SELECT count(*) FROM replacements").scalar() == 0


def test_each_thread_gets_its_own_cursor(store: Store) -> None:
    seen = []

    def read() -> None:
        seen.append((id(store.cursor()), store.execute("SELECT count(*) FROM schools").scalar()))

    threads = [threading.Thread(target=read) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({cursor for cursor, _ in seen}) == 4
    assert all(count == 0 for _, count in seen)


def test_read_only_store_needs_an_existing_catalog(tmp_path) -> None:
    with pytest.raises(StoreError, match="no store in"):
        Store(tmp_path / "nothing", read_only=True)


def test_quote_ident_escapes_quotes() -> None:
    assert quote_ident('a"b') == '"a""b"'


def test_a_one_version_block_reads_the_version_once_and_sees_its_own_commits(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ioc.store import one_version

    reads: list[int] = []
    real = store._read_version

    def counted() -> int:
        reads.append(1)
        return real()

    monkeypatch.setattr(store, "_read_version", counted)
    with one_version():
        before = store.data_version()
        assert [store.data_version() for _ in range(20)] == [before] * 20
        assert len(reads) == 1
        store.write(
            lambda cur: cur.execute("INSERT INTO replacements VALUES ('r2', 'attendance', 'k', NULL)")
        )
        after = store.data_version()  # this store's own commit ends the pin
        assert after > before and store.data_version() == after and len(reads) == 2
        seen: list[int] = []
        worker = threading.Thread(target=lambda: seen.append(store.data_version()))
        worker.start()
        worker.join()
        assert seen == [after] and len(reads) == 3  # another thread is not in this block
    assert store.data_version() == after and len(reads) == 4  # outside: read every time
