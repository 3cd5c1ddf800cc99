"""Archives of closed periods: Parquet files plus a manifest of SHA-256 hashes, chained to the audit trail.

Layout of one archive (an open format: any Parquet reader and ``sha256sum`` can check and read it)::

    <archive root>/<entity>/<period>/
        manifest.json                          what is inside: path, bytes, rows, sha256 of every file
        warehouse/<asset>.parquet              each warehouse partition of entity × period, byte for byte
        store/sync_ledger.parquet              the operational store's documents of the period

``create`` writes the files (0600, folders 0700), then the manifest, and appends an ``archive_created``
event to the audit trail holding the manifest's own SHA-256: a manifest rewritten to match altered files
no longer matches the chain. ``verify`` recomputes every hash and names each file that is missing,
altered or unexpected; ``restore`` and ``read`` verify first and refuse a damaged archive.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from sync_pipeline.store import audit
from sync_pipeline.store.files import private_dir, private_file, write_private
from sync_pipeline.store.operational import OperationalStore, sync_ledger
from sync_pipeline.store.warehouse import Warehouse

MANIFEST = "manifest.json"
FORMAT = "sync-pipeline-archive/1"
CHUNK = 1 << 20


class ArchiveError(ValueError):
    """An archive that cannot be created, or is damaged (the message names the file)."""


@dataclass(frozen=True)
class Problem:
    file: str
    kind: str  # missing | altered | unexpected | manifest | chain
    detail: str

    def __str__(self) -> str:
        return f"{self.file}: {self.kind} — {self.detail}"


@dataclass
class Verification:
    folder: Path
    manifest: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def folder_of(root: Path | str, entity: str, period: str) -> Path:
    return Path(root) / entity / period


def _ledger_table(store: OperationalStore, entity: str, period: str) -> pa.Table | None:
    with store.engine.connect() as c:
        rows = [dict(r) for r in c.execute(sa.select(sync_ledger).where(
            sync_ledger.c.entity == entity, sync_ledger.c.period == period).order_by(sync_ledger.c.reference)).mappings()]
    if not rows:
        return None
    schema = pa.schema([pa.field(col.name, pa.int64() if isinstance(col.type, (sa.Integer, sa.BigInteger))
                                 else pa.string()) for col in sync_ledger.columns])
    return pa.Table.from_pylist(rows, schema=schema)


def create(warehouse: Warehouse, store: OperationalStore, root: Path | str, entity: str, period: str, *,
           actor: str, replace: bool = False) -> Verification:
    """Archive every warehouse partition and the ledger rows of ``entity`` × ``period``."""
    if warehouse.fs is not None:
        raise ArchiveError("archives are made from a local warehouse folder; copy the object-store partitions "
                           "down first")
    folder = folder_of(root, entity, period)
    if (folder / MANIFEST).exists() and not replace:
        raise ArchiveError(f"{folder} already holds an archive of {entity} {period}: verify it "
                           "(`sync-pipeline archive verify`), or pass --replace to make it again")
    parts = sorted(p for p in warehouse.root.glob(f"*/entity={entity}/period={period}.parquet"))
    if not parts:
        raise ArchiveError(f"the warehouse {warehouse.root} has no partition of {entity} {period}: nothing to "
                           "archive (materialize the period first, or check the entity and period)")
    tmp = folder.with_name(folder.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    private_dir(tmp / "warehouse")
    files: list[dict[str, Any]] = []
    for src in parts:
        asset = src.parent.parent.name
        dest = tmp / "warehouse" / f"{asset}.parquet"
        shutil.copyfile(src, dest)
        private_file(dest)
        files.append(_entry(tmp, dest, "warehouse", asset))
    ledger = _ledger_table(store, entity, period)
    if ledger is not None:
        private_dir(tmp / "store")
        dest = tmp / "store" / "sync_ledger.parquet"
        pq.write_table(ledger, dest)
        private_file(dest)
        files.append(_entry(tmp, dest, "store", "sync_ledger"))
    manifest = {"format": FORMAT, "entity": entity, "period": period, "created_by": actor,
                "created_at": audit.timestamp(), "hash": "sha256", "files": files}
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    write_private(tmp / MANIFEST, text)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if folder.exists():
        shutil.rmtree(folder)
    tmp.rename(folder)
    audit.append(store, actor=actor, action="archive_created", entity=entity, subject=f"{entity} {period}",
                 detail={"period": period, "folder": str(folder), "manifest_sha256": digest,
                         "files": len(files), "rows": sum(f["rows"] for f in files)})
    return verify(folder, store)


def _entry(base: Path, path: Path, kind: str, name: str) -> dict[str, Any]:
    return {"path": path.relative_to(base).as_posix(), "kind": kind, "name": name, "bytes": path.stat().st_size,
            "rows": pq.ParquetFile(path).metadata.num_rows, "sha256": sha256_file(path)}


def verify(folder: Path | str, store: OperationalStore | None = None) -> Verification:
    """Every file against the manifest (and the manifest against the audit trail, when a store is given)."""
    folder = Path(folder)
    v = Verification(folder)
    mpath = folder / MANIFEST
    if not mpath.is_file():
        v.problems.append(Problem(MANIFEST, "missing", f"no manifest in {folder}: not an archive, or it was "
                                                       "deleted"))
        return v
    raw = mpath.read_bytes()
    try:
        v.manifest = json.loads(raw)
        listed = {f["path"]: f for f in v.manifest["files"]}
    except (ValueError, KeyError, TypeError) as e:
        v.problems.append(Problem(MANIFEST, "manifest", f"unreadable ({type(e).__name__}): it was altered"))
        return v
    for rel, f in sorted(listed.items()):
        p = folder / rel
        if not p.is_file():
            v.problems.append(Problem(rel, "missing", f"listed in the manifest ({f['bytes']} bytes) but absent"))
            continue
        got = sha256_file(p)
        if got != f["sha256"]:
            v.problems.append(Problem(rel, "altered", f"sha256 {got[:16]}… differs from the manifest's "
                                                      f"{f['sha256'][:16]}… ({p.stat().st_size} bytes, "
                                                      f"manifest says {f['bytes']})"))
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if p.is_file() and rel != MANIFEST and rel not in listed:
            v.problems.append(Problem(rel, "unexpected", "a file the manifest does not list"))
    if store is not None:
        v.problems.extend(_check_chain(store, v.manifest, hashlib.sha256(raw).hexdigest()))
    return v


def _check_chain(store: OperationalStore, manifest: dict[str, Any], digest: str) -> list[Problem]:
    """The newest ``archive_created`` event of this entity × period must hold this manifest's hash."""
    entity, period = manifest.get("entity"), manifest.get("period")
    events = [e for e in audit.events(store, entity=entity, action="archive_created")
              if e.detail.get("period") == period]
    if not events:
        return [Problem(MANIFEST, "chain", f"no archive_created event for {entity} {period} in this store's audit "
                                           "trail: verify against the store the archive was made from")]
    recorded = {e.detail.get("manifest_sha256") for e in events}
    if digest not in recorded:
        return [Problem(MANIFEST, "chain", "the manifest's sha256 is not the one the audit trail recorded when the "
                                           "archive was made: the manifest was rewritten")]
    return []


def require_intact(folder: Path | str, store: OperationalStore | None = None) -> Verification:
    v = verify(folder, store)
    if not v.ok:
        raise ArchiveError(f"archive {v.folder} failed verification, refused:\n"
                           + "\n".join(f"  - {p}" for p in v.problems))
    return v


def read(folder: Path | str, name: str, store: OperationalStore | None = None, *,
         limit: int | None = None) -> pa.Table:
    """One table of a verified archive (an asset name, or ``sync_ledger``)."""
    v = require_intact(folder, store)
    for f in v.manifest["files"]:
        if f["name"] == name:
            t = pq.read_table(Path(folder) / f["path"])
            return t if limit is None else t.slice(0, limit)
    names = ", ".join(f["name"] for f in v.manifest["files"])
    raise ArchiveError(f"archive {folder} has no table {name!r}; it holds: {names}")


def restore(folder: Path | str, warehouse: Warehouse, store: OperationalStore, *, actor: str,
            replace: bool = False) -> list[str]:
    """Put a verified archive's warehouse partitions back; an existing partition is kept unless ``replace``.
    The ledger rows stay in the archive (``read`` shows them): the live ledger is never overwritten."""
    v = require_intact(folder, store)
    entity, period = v.manifest["entity"], v.manifest["period"]
    restored, kept = [], []
    for f in v.manifest["files"]:
        if f["kind"] != "warehouse":
            continue
        if warehouse.exists(f["name"], entity, period) and not replace:
            kept.append(f["name"])
            continue
        with warehouse.staged_file(f["name"], entity, period) as tmp:
            shutil.copyfile(Path(folder) / f["path"], tmp)
        restored.append(f["name"])
    audit.append(store, actor=actor, action="archive_restored", entity=entity, subject=f"{entity} {period}",
                 detail={"period": period, "folder": str(folder), "restored": restored, "kept_existing": kept})
    return restored
