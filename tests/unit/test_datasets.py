"""Each dataset is declared once (ioc/datasets.py); everything that used to declare it again now
reads it, and this test fails when any of them, or a migrated store's tables, disagree."""

from __future__ import annotations

from ingest import contract
from ioc.datasets import DATASETS, LOAD_ORDER, STORAGE_TYPES
from ioc.metrics import dimensions, health, registry, table_versions
from ioc.panels import base


def test_a_migrated_store_has_exactly_the_declared_tables(store) -> None:
    for name, dataset in DATASETS.items():
        described = store.execute(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
            "WHERE table_catalog = 'lake' AND table_name = ? ORDER BY ordinal_position",
            [name],
        ).rows
        expected = [
            (c.name, STORAGE_TYPES[c.type], "NO" if c.required or c.default is not None else "YES")
            for c in dataset.columns
        ]
        if dataset.history:
            expected.append(("valid_from", "DATE", "NO"))
        expected.append(("run_id", "VARCHAR", "NO"))
        assert [(c, t.replace("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"), n) for c, t, n in described] == (
            expected
        ), name


def test_the_contract_the_registry_the_dimensions_the_panels_and_the_cache_read_the_one_declaration() -> None:
    assert contract.DATASETS is DATASETS and contract.LOAD_ORDER == LOAD_ORDER
    assert set(LOAD_ORDER) == set(DATASETS)
    assert dict(registry.DATASET_COLUMNS) == {n: frozenset(d.stored_columns) for n, d in DATASETS.items()}
    assert health.DATASETS == tuple(DATASETS)
    assert health.TIME_COLUMNS == {n: d.date_column or "valid_from" for n, d in DATASETS.items()}
    assert dimensions.DATE_COLUMNS == {n: d.date_column for n, d in DATASETS.items() if d.date_column}
    assert dict(base.DEFAULT_STALE_MINUTES) == {n: d.stale_minutes for n, d in DATASETS.items()}
    fed = {t for d in DATASETS.values() for t in d.feeds}
    assert table_versions.DATA_TABLES == frozenset(DATASETS) | fed
    assert table_versions.ROLLUPS == {n: d.feeds for n, d in DATASETS.items() if d.feeds}


def test_every_declaration_is_whole() -> None:
    for name, dataset in DATASETS.items():
        names = dataset.column_names
        assert len(set(names)) == len(names), name
        assert set(dataset.key) <= set(names), name
        assert dataset.date_column is None or dataset.date_column in names, name
        assert dataset.date_column is None or dataset.date_column == dataset.key[0], name
        assert dataset.stale_minutes > 0, name
        for rule in dataset.rules:
            assert rule.column in names, (name, rule.name)
        assert set(dataset.text_checked_for_encoding) <= set(names), name
    # the rollups a dataset feeds are tables of the store
    assert {t for d in DATASETS.values() for t in d.feeds} == {"connectivity_daily", "rollup_state"}
