"""What the project writes is private to its user: folders 0700, files 0600, even under a loose umask."""

import os
import stat

import duckdb
import pandas as pd
import pytest

from sync_pipeline.store import files
from sync_pipeline.store.operational import OperationalStore
from sync_pipeline.store.sql import copy_to_parquet
from sync_pipeline.store.warehouse import Warehouse


def mode(p) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


@pytest.fixture
def loose_umask():
    old = os.umask(0o022)  # a host process that did not restrict it: explicit modes must still hold
    try:
        yield
    finally:
        os.umask(old)


def test_warehouse_partitions_and_their_folders_are_private(tmp_path, loose_umask):
    wh = Warehouse(tmp_path / "warehouse")
    p = wh.write("raw_time_entries", "acme-uk", "2026-10", pd.DataFrame({"person": ["Ada"]}))
    assert mode(p) == 0o600
    assert mode(p.parent) == mode(p.parent.parent) == mode(tmp_path / "warehouse") == 0o700


def test_duckdb_copies_are_private(tmp_path, loose_umask):
    dest = tmp_path / "out" / "x.parquet"
    copy_to_parquet(duckdb.connect(), "SELECT 1 AS a", {}, dest)
    assert (mode(dest), mode(dest.parent)) == (0o600, 0o700)


def test_the_operational_store_file_is_private(tmp_path, loose_umask):
    store = OperationalStore(f"sqlite:///{tmp_path / 'data' / 'operational.sqlite3'}")
    try:
        assert mode(tmp_path / "data" / "operational.sqlite3") == 0o600
        assert mode(tmp_path / "data") == 0o700
    finally:
        store.dispose()


def test_write_private_never_exposes_the_file(tmp_path, loose_umask):
    p = files.write_private(tmp_path / "keys" / "k.bin", b"secret")
    assert (mode(p), mode(p.parent), p.read_bytes()) == (0o600, 0o700, b"secret")


def test_the_process_umask_makes_everything_else_private(tmp_path):
    old = files.restrict_umask()
    try:
        (tmp_path / "log.txt").write_text("x")
        (tmp_path / "d").mkdir()
        assert (mode(tmp_path / "log.txt"), mode(tmp_path / "d")) == (0o600, 0o700)
    finally:
        os.umask(old)


@pytest.mark.parametrize("url, path", [("sqlite:////var/x.db", "/var/x.db"), ("sqlite:///rel.db", "rel.db"),
                                       ("sqlite://", None), ("sqlite:///:memory:", None),
                                       ("postgresql://u@h/db", None)])
def test_sqlite_path(url, path):
    assert files.sqlite_path(url) == (None if path is None else files.Path(path))
