"""Versions of the warehouse contracts (pandera), their snapshots, compatibility rules and translators.

A model's version: ``class Config: metadata = {"contract_version": N}`` on the model (pandera's own
schema metadata), else the module-wide ``warehouse.CONTRACT_VERSION``. Each released version of
each model has a snapshot under ``contracts/schemas/<Model>.v<N>.json`` (columns, dtypes,
nullability, uniqueness, allowed values), written by ``sync-pipeline contracts snapshot``.

:func:`breaking_changes` compares an older snapshot with the model as it is now, from the point of
view of an *older consumer* reading data written under the new contract. Breaking:

- a column removed (or renamed, which is a removal plus an addition);
- a column's dtype changed;
- a column became nullable (the old consumer does not expect nulls);
- a column's allowed values (``isin``) grew (the old consumer does not know the new value).

Not breaking: a new nullable column, a column becoming non-nullable, allowed values shrinking,
tighter checks. A breaking change needs a version bump *and* a translator registered with
:func:`frame_translator` that turns a frame of the new version into the old one, so both versions
can be served side by side (:func:`translate_frame`). The compatibility tests enforce exactly this.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pandera.pandas as pa

SNAPSHOT_DIR = Path(__file__).with_name("schemas")

FrameTranslator = Callable[[pd.DataFrame], pd.DataFrame]
_FRAME_TRANSLATORS: dict[tuple[str, int, int], FrameTranslator] = {}


def warehouse_models() -> dict[str, type[pa.DataFrameModel]]:
    from sync_pipeline.contracts import warehouse

    return {name: obj for name, obj in vars(warehouse).items()
            if inspect.isclass(obj) and issubclass(obj, pa.DataFrameModel) and not name.startswith("_")
            and obj.__module__ == warehouse.__name__}


def contract_version(model: type[pa.DataFrameModel]) -> int:
    from sync_pipeline.contracts import warehouse

    # pandera 0.35's to_schema() does not carry Config.metadata over; the model's collected config does
    meta = model.to_schema().metadata or getattr(getattr(model, "__config__", None), "metadata", None) or {}
    return int(meta.get("contract_version", warehouse.CONTRACT_VERSION))


def fingerprint(model: type[pa.DataFrameModel]) -> dict[str, Any]:
    """What a consumer relies on: columns, dtypes, nullability, uniqueness, allowed values, frame checks."""
    schema = model.to_schema()
    cols = {}
    for name, col in schema.columns.items():
        allowed = None
        for ch in col.checks:
            stats = getattr(ch, "statistics", None) or {}
            if ch.name == "isin":
                allowed = sorted(map(str, stats.get("allowed_values", [])))
        cols[name] = {"dtype": str(col.dtype), "nullable": bool(col.nullable), "unique": bool(col.unique),
                      "required": bool(col.required), "allowed_values": allowed,
                      "checks": sorted(ch.name for ch in col.checks if ch.name and ch.name != "isin")}
    return {"model": model.__name__, "version": contract_version(model), "strict": bool(schema.strict),
            "columns": cols, "frame_checks": sorted(ch.name for ch in schema.checks if ch.name)}


def snapshot_path(name: str, version: int) -> Path:
    return SNAPSHOT_DIR / f"{name}.v{version}.json"


def load_snapshot(name: str, version: int) -> dict[str, Any] | None:
    p = snapshot_path(name, version)
    return json.loads(p.read_text()) if p.exists() else None


def snapshots(name: str) -> dict[int, dict[str, Any]]:
    out = {}
    for p in sorted(SNAPSHOT_DIR.glob(f"{name}.v*.json")):
        out[int(p.stem.rsplit(".v", 1)[1])] = json.loads(p.read_text())
    return out


def write_snapshot(model: type[pa.DataFrameModel], *, accept: bool = False) -> tuple[Path, str]:
    """Write the current version's snapshot; refuse to overwrite a different one unless ``accept``."""
    fp = fingerprint(model)
    p = snapshot_path(model.__name__, fp["version"])
    old = load_snapshot(model.__name__, fp["version"])
    if old == fp:
        return p, "unchanged"
    if old is not None and not accept:
        problems = breaking_changes(old, fp)
        if problems:
            raise ValueError(f"{model.__name__} v{fp['version']} changed incompatibly ({'; '.join(problems)}): bump its "
                             "contract_version and register a translator, or pass --accept to record it as is")
    SNAPSHOT_DIR.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(fp, indent=2, sort_keys=True) + "\n")
    return p, "written" if old is None else "updated"


def breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Why an older consumer of ``old`` could not read data that satisfies ``new`` (empty: it can)."""
    problems = []
    for name, o in old["columns"].items():
        n = new["columns"].get(name)
        if n is None:
            problems.append(f"column {name!r} removed")
            continue
        if o["dtype"] != n["dtype"]:
            problems.append(f"column {name!r} dtype {o['dtype']} → {n['dtype']}")
        if not o["nullable"] and n["nullable"]:
            problems.append(f"column {name!r} became nullable")
        if o["allowed_values"] is not None:
            grown = sorted(set(n["allowed_values"] or ["<any value>"]) - set(o["allowed_values"]))
            if grown:
                problems.append(f"column {name!r} allows new values {grown}")
    return problems


def frame_translator(model: str, source: int, target: int):
    """Register a function turning a ``model`` frame of version ``source`` into version ``target``."""
    def deco(fn: FrameTranslator) -> FrameTranslator:
        _FRAME_TRANSLATORS[(model, source, target)] = fn
        return fn

    return deco


def has_translator(model: str, source: int, target: int) -> bool:
    step = 1 if target > source else -1
    return all((model, v, v + step) in _FRAME_TRANSLATORS for v in range(source, target, step))


def translate_frame(model: str, df: pd.DataFrame, source: int, target: int) -> pd.DataFrame:
    step = 1 if target > source else -1
    for v in range(source, target, step):
        fn = _FRAME_TRANSLATORS.get((model, v, v + step))
        if fn is None:
            raise KeyError(f"no translator for {model} v{v} → v{v + step}")
        df = fn(df)
    return df


def project_to(df: pd.DataFrame, snapshot: dict[str, Any]) -> pd.DataFrame:
    """The columns an older consumer knows, in its order (additive changes are invisible to it)."""
    return df[[c for c in snapshot["columns"] if c in df.columns]]
