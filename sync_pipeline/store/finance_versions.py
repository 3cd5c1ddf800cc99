"""Versioned allocation runs: every run's inputs, drivers and result kept side by side, never overwritten.

Layout under the warehouse root::

    finance_allocation_versions/entity=<e>/period=<YYYY-MM>/version=<id>/
        manifest.json            who, when, why (note), effective drivers, digests, totals
        input_<name>.parquet     the exact inputs (shared lines, time entries, pools, usage, fixed keys)
        allocations.parquet      the allocated rows
        unallocated.parquet      lines that could not be allocated, with the reason

A version directory is written to a temporary directory and renamed into place, so it is either
complete or absent. Writing an existing version again is a no-op (versions are content-addressed).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from sync_pipeline.store.warehouse import WarehouseError

VERSIONS_DIR = "finance_allocation_versions"


class AllocationVersions:
    def __init__(self, warehouse_root: str | Path) -> None:
        self.root = Path(warehouse_root) / VERSIONS_DIR

    def dir(self, entity: str, period: str, version: str) -> Path:
        return self.root / f"entity={entity}" / f"period={period}" / f"version={version}"

    def exists(self, entity: str, period: str, version: str) -> bool:
        return (self.dir(entity, period, version) / "manifest.json").exists()

    def save(self, entity: str, period: str, version: str, tables: dict[str, pa.Table],
             manifest: dict[str, Any]) -> Path:
        dest = self.dir(entity, period, version)
        if self.exists(entity, period, version):
            return dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=".tmp-"))
        try:
            for name, table in tables.items():
                pq.write_table(table, tmp / f"{name}.parquet")
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str),
                                               encoding="utf-8")
            try:
                os.rename(tmp, dest)
            except OSError:
                if not self.exists(entity, period, version):  # not a concurrent writer of the same version
                    raise
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return dest

    def manifests(self, entity: str, period: str) -> list[dict[str, Any]]:
        """Every stored version of the partition, oldest first."""
        base = self.root / f"entity={entity}" / f"period={period}"
        out = []
        for d in sorted(base.glob("version=*")) if base.exists() else []:
            m = d / "manifest.json"
            if m.exists():
                out.append(json.loads(m.read_text(encoding="utf-8")))
        return sorted(out, key=lambda m: (m.get("created_at", ""), m.get("version", "")))

    def load(self, entity: str, period: str, version: str) -> tuple[dict[str, pa.Table], dict[str, Any]]:
        d = self.dir(entity, period, version)
        if not self.exists(entity, period, version):
            known = ", ".join(m["version"] for m in self.manifests(entity, period)) or "(none)"
            raise WarehouseError(f"no allocation version {version!r} for entity {entity!r} period {period}; "
                                 f"stored versions: {known}")
        tables = {p.stem: pq.read_table(p) for p in sorted(d.glob("*.parquet"))}
        return tables, json.loads((d / "manifest.json").read_text(encoding="utf-8"))
