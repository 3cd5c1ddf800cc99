"""Versioned allocation runs: every run's inputs, drivers and result kept side by side, never overwritten.

Layout under the warehouse root (a local folder or an object-store URL, as the warehouse)::

    finance_allocation_versions/entity=<e>/period=<YYYY-MM>/version=<id>/
        input_<name>.parquet     the exact inputs (shared lines, time entries, pools, usage, fixed keys)
        allocations.parquet      the allocated rows
        unallocated.parquet      lines that could not be allocated, with the reason
        manifest.json            who, when, why (note), effective drivers, digests, totals — written last

The manifest is written last and marks the version complete: a run that died half-way left no manifest,
is not listed, and is written again in full by the next run. Versions are content-addressed, so writing
an existing version again is a no-op.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from sync_pipeline.store.warehouse import Warehouse, WarehouseError

VERSIONS_DIR = "finance_allocation_versions"


class AllocationVersions:
    def __init__(self, warehouse: Warehouse | str | Path) -> None:
        wh = warehouse if isinstance(warehouse, Warehouse) else Warehouse(warehouse)
        if wh.fs is not None:
            self.fs, base = wh.fs, wh.path(VERSIONS_DIR, "x", "x").split(f"/{VERSIONS_DIR}/")[0]
        else:
            self.fs, base = fsspec.filesystem("file"), str(wh.root)
        self.base = f"{base.rstrip('/')}/{VERSIONS_DIR}"

    def dir(self, entity: str, period: str, version: str) -> str:
        return f"{self.base}/entity={entity}/period={period}/version={version}"

    def exists(self, entity: str, period: str, version: str) -> bool:
        return self.fs.exists(f"{self.dir(entity, period, version)}/manifest.json")

    def save(self, entity: str, period: str, version: str, tables: dict[str, pa.Table],
             manifest: dict[str, Any]) -> str:
        dest = self.dir(entity, period, version)
        if self.exists(entity, period, version):
            return dest
        self.fs.makedirs(dest, exist_ok=True)
        for name, table in tables.items():
            with self.fs.open(f"{dest}/{name}.parquet", "wb") as f:
                pq.write_table(table, f)
        with self.fs.open(f"{dest}/manifest.json", "wb") as f:
            f.write(json.dumps(manifest, indent=2, sort_keys=True, default=str).encode("utf-8"))
        return dest

    def manifests(self, entity: str, period: str) -> list[dict[str, Any]]:
        """Every complete stored version of the partition, oldest first."""
        pattern = f"{self.base}/entity={entity}/period={period}/version=*/manifest.json"
        out = []
        for path in sorted(self.fs.glob(pattern)):
            with self.fs.open(path, "rb") as f:
                out.append(json.loads(f.read().decode("utf-8")))
        return sorted(out, key=lambda m: (m.get("created_at", ""), m.get("version", "")))

    def load(self, entity: str, period: str, version: str) -> tuple[dict[str, pa.Table], dict[str, Any]]:
        d = self.dir(entity, period, version)
        if not self.exists(entity, period, version):
            known = ", ".join(m["version"] for m in self.manifests(entity, period)) or "(none)"
            raise WarehouseError(f"no allocation version {version!r} for entity {entity!r} period {period}; "
                                 f"stored versions: {known}")
        tables = {}
        for path in sorted(self.fs.glob(f"{d}/*.parquet")):
            with self.fs.open(path, "rb") as f:
                tables[str(path).rsplit("/", 1)[-1][: -len(".parquet")]] = pq.read_table(f)
        with self.fs.open(f"{d}/manifest.json", "rb") as f:
            return tables, json.loads(f.read().decode("utf-8"))
