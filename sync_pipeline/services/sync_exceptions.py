"""Sync-reconciliation exceptions for people: every document the last reconciliation of a period found missing from,
extra in, or differing in the accounting system, with what differs and how it was resolved.

The rows come from the warehouse's ``sync_reconciliation`` partitions (written by the asset of that name); the
resolutions from ``store.sync_resolutions``. An exception is ``open`` until someone resolves it (re-post, accept,
explain); a resolution taken on an older difference does not hide a new one.

A re-post (``repost``) posts the partition's plan at once, as the person who asked (``services.dead_letters.
post_partition``, the path of ``sync-pipeline posting run``): the plan's approval (four eyes, or the entity's
auto-approval policy), the kill switch and the guard's limits apply as to any run. What came of it — the document
number written, or why nothing was — is recorded with the resolution and in the audit trail; only a re-post that
posted closes the exception.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pandas as pd

from sync_pipeline.connectors.http import HttpError
from sync_pipeline.domain import ids
from sync_pipeline.services.approvals import AwaitingApproval
from sync_pipeline.services.dead_letters import PostingEnv, post_partition
from sync_pipeline.services.posting import PostingBlocked, PostingResult, PostingRun
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
    "repost": "the period's plan was posted again at once, under the usual approval, kill switch and limits",
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
    same = res is not None and res.applies_to(status, detail)
    applies = same and res.closes
    return {"entity": entity, "period": period, "document": str(r["key"]), "status": status,
            "meaning": MEANING.get(status, status), "currency": r["currency"],
            "source_minor": None if pd.isna(r["source_minor"]) else int(r["source_minor"]),
            "target_minor": None if pd.isna(r["target_minor"]) else int(r["target_minor"]),
            "diff_minor": None if pd.isna(r["diff_minor"]) else int(r["diff_minor"]),
            "breach": bool(r["breach"]), "detail": detail,
            "state": res.resolution if applies else "open", "resolution": res if applies else None,
            "earlier": res if res is not None and not same else None,
            "attempt": res if same and not applies else None}  # a re-post of this very difference that did not post


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
    if resolution == "repost":
        raise ResolutionError("a re-post posts the period again: use repost() with the accounting system configured")
    current = _resolvable(wh, resolutions, entity, period, document, resolution)
    try:
        res = resolutions.resolve(entity, period, document, status=current["status"], detail=current["detail"],
                                  resolution=resolution, comment=comment, actor=actor, role=role)
    except ValueError as e:
        raise ResolutionError(str(e)) from None
    return res, EFFECT[resolution].format(entity=entity, period=period)


def _resolvable(wh: Warehouse, resolutions: SyncResolutions, entity: str, period: str, document: str,
                resolution: str) -> dict[str, Any]:
    """The exception as it is now, when ``resolution`` may be taken on it; otherwise why not."""
    if resolution not in RESOLUTIONS:
        raise ResolutionError(f"resolution {resolution[:40]!r}: use one of {', '.join(RESOLUTIONS)}")
    current = find(wh, resolutions, entity, period, document)
    if current is None:
        raise ResolutionError(f"{document} of {entity} {period} is not an exception in the last reconciliation "
                              "(it matches now, or the period was not reconciled): nothing to resolve")
    if resolution == "repost" and current["status"] == "extra":
        raise ResolutionError(f"{document} is extra in the accounting system: there is nothing of ours to post; "
                              "accept it or explain it")
    return current


@dataclass(frozen=True)
class Repost:
    """What a re-post did: the resolution recorded (with its outcome) and a sentence for the person."""

    resolution: Resolution
    message: str

    @property
    def posted(self) -> bool:
        return self.resolution.outcome == "posted"


WRITTEN = ("created", "updated", "voided", "allocated")
NOT_WRITTEN = ("failed", "pending", "held")


def _document_outcome(result: PostingResult, document: str) -> tuple[str, str | None, str | None]:
    """The outcome for the document's invoice group (its client): posted with the number written, or failed
    with the errors; ``posted`` with no number when the plan had nothing left to write for it."""
    ref = ids.parse_reference(document)
    rows = result.frame
    if ref is not None and len(rows):
        rows = rows[rows["client_id"].astype(str) == str(ref["client_id"])]
    bad = rows[rows["outcome"].isin(NOT_WRITTEN)] if len(rows) else rows
    if len(bad):
        errors = "; ".join(f"{r.reference}: {r.outcome}" + (f" ({r.error})" if r.error else "")
                           for r in bad.itertuples())
        held = set(bad["outcome"]) == {"held"}  # the kill switch: planned, not written
        return ("blocked" if held else "failed"), None, errors[:2000]
    done = rows[rows["outcome"].isin(WRITTEN)] if len(rows) else rows
    numbers = [str(n) for n in done["invoice_number"].dropna()] if len(done) else []
    return "posted", ", ".join(numbers) or None, None


def repost(env: PostingEnv | None, wh: Warehouse, resolutions: SyncResolutions, entity: str, period: str,
           document: str, *, comment: str, actor: str, role: str) -> Repost:
    """Post the partition's plan now as ``actor`` and record the re-post with what came of it. ``env``: where it
    posts (None: refused with the reason, once the request itself is valid)."""
    current = _resolvable(wh, resolutions, entity, period, document, "repost")
    if not comment.strip():
        raise ResolutionError("say why in the comment: it is kept with the resolution in the audit trail")
    if env is None:
        raise ResolutionError("this workbench was started without the accounting system: set XERO_CLIENT_ID and "
                              "XERO_CLIENT_SECRET and start it again, or run `sync-pipeline posting run --entity "
                              f"{entity} --period {period}`")
    run = PostingRun(actor, f"workbench-{uuid.uuid4().hex[:12]}")
    number = error = None
    try:
        result = post_partition(env, entity, period, run)
    except AwaitingApproval as e:
        outcome, error = "awaiting_approval", (
            f"{e} An approver other than {actor} approves the plan under Plans; then re-post again.")
    except PostingBlocked as e:
        outcome, error = "blocked", str(e)
    except HttpError as e:
        outcome, error = "failed", f"the accounting system could not be reached: {e}; re-post again later"
    else:
        outcome, number, error = _document_outcome(result, document)
    res = resolutions.resolve(entity, period, document, status=current["status"], detail=current["detail"],
                              resolution="repost", comment=comment, actor=actor, role=role, outcome=outcome,
                              document_number=number, error=error, run_id=run.run_id)
    if outcome == "posted":
        written = f"posted as {number}" if number else "posted: the accounting system already held our version"
        msg = f"{written} (run {run.run_id}); the next reconciliation of {entity} {period} shows it"
    else:
        msg = f"not posted ({outcome.replace('_', ' ')}): {error}"
    return Repost(res, msg)
