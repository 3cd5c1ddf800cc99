"""Sync-reconciliation exceptions for people: every document the last reconciliation of a period found missing from,
extra in, or differing in the accounting system, with what differs and how it was resolved.

The rows come from the warehouse's ``sync_reconciliation`` partitions (written by the asset of that name); the
resolutions from ``store.sync_resolutions``. An exception is ``open`` until someone resolves it (re-post, accept,
explain); a resolution taken on an older difference does not hide a new one.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from sync_pipeline.store.sync_resolutions import RESOLUTIONS, Resolution, SyncResolutions
from sync_pipeline.store.warehouse import Warehouse

ASSET = "sync_reconciliation"
COLUMNS = ["level", "key", "currency", "source_minor", "target_minor", "diff_minor", "status", "breach", "detail"]

#: what each status means, in words the workbench shows beside it
MEANING = {
    "missing": "drafted by the sync, not in the accounting system (voided, deleted or never posted)",
    "extra": "in the accounting system under our reference, not drafted by the sync",
    "mismatch": "in both, but the accounting system's version differs",
}

#: what each resolution does, said when it is recorded
EFFECT = {
    "repost": "an operator runs the period's sync again (`sync-pipeline sync --entity {entity} --period {period}`) "
              "and its plan is reviewed and approved as usual",
    "accept": "the accounting system's version stands; the exception stays closed while the difference is the same",
    "explain": "the explanation is kept with the exception; it stays closed while the difference is the same",
}


class ResolutionError(ValueError):
    """A resolution that cannot be recorded (nothing to resolve, an unknown resolution, no comment)."""


def _rows(wh: Warehouse, entity: str, period: str) -> pd.DataFrame:
    df = wh.read_available(ASSET, entity, period, COLUMNS)
    return df[(df["level"] == "document") & (df["status"] != "match")]


def _as_dict(entity: str, period: str, r: dict[str, Any], res: Resolution | None) -> dict[str, Any]:
    status, detail = str(r["status"]), str(r["detail"] or "")
    applies = res is not None and res.applies_to(status, detail)
    return {"entity": entity, "period": period, "document": str(r["key"]), "status": status,
            "meaning": MEANING.get(status, status), "currency": r["currency"],
            "source_minor": None if pd.isna(r["source_minor"]) else int(r["source_minor"]),
            "target_minor": None if pd.isna(r["target_minor"]) else int(r["target_minor"]),
            "diff_minor": None if pd.isna(r["diff_minor"]) else int(r["diff_minor"]),
            "breach": bool(r["breach"]), "detail": detail,
            "state": res.resolution if applies else "open", "resolution": res if applies else None,
            "earlier": res if res is not None and not applies else None}


def exceptions(wh: Warehouse, resolutions: SyncResolutions, *, entity: str | None = None,
               state: str = "open") -> list[dict[str, Any]]:
    """Every document exception of the last reconciliation of each period (newest period first), with its state:
    ``open`` or the resolution that applies to it. ``state``: open, resolved or all."""
    latest = resolutions.latest(entity)
    out = []
    for e in [entity] if entity else wh.entities(ASSET):
        for period in sorted(wh.periods(ASSET, e), reverse=True):
            for r in _rows(wh, e, period).to_dict("records"):
                row = _as_dict(e, period, r, latest.get((e, period, str(r["key"]))))
                if state == "all" or (state == "open") == (row["state"] == "open"):
                    out.append(row)
    return out


def find(wh: Warehouse, resolutions: SyncResolutions, entity: str, period: str,
         document: str) -> dict[str, Any] | None:
    """One document's exception as the last reconciliation shows it (None when it matches now, or is unknown)."""
    if not wh.exists(ASSET, entity, period):
        return None
    latest = resolutions.latest(entity)
    for r in _rows(wh, entity, period).to_dict("records"):
        if str(r["key"]) == document:
            return _as_dict(entity, period, r, latest.get((entity, period, document)))
    return None


def resolve(wh: Warehouse, resolutions: SyncResolutions, entity: str, period: str, document: str, *,
            resolution: str, comment: str, actor: str, role: str) -> tuple[Resolution, str]:
    """Record ``actor``'s resolution of the exception as it is now; the resolution and what happens next."""
    if resolution not in RESOLUTIONS:
        raise ResolutionError(f"resolution {resolution[:40]!r}: use one of {', '.join(RESOLUTIONS)}")
    current = find(wh, resolutions, entity, period, document)
    if current is None:
        raise ResolutionError(f"{document} of {entity} {period} is not an exception in the last reconciliation "
                              "(it matches now, or the period was not reconciled): nothing to resolve")
    if resolution == "repost" and current["status"] == "extra":
        raise ResolutionError(f"{document} is extra in the accounting system: there is nothing of ours to post; "
                              "accept it or explain it")
    try:
        res = resolutions.resolve(entity, period, document, status=current["status"], detail=current["detail"],
                                  resolution=resolution, comment=comment, actor=actor, role=role)
    except ValueError as e:
        raise ResolutionError(str(e)) from None
    return res, EFFECT[resolution].format(entity=entity, period=period)
