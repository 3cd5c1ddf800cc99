"""Versions of each entity's money-moving mapping, and who accepted them.

The mapping file decides what is billed and how: rates and rate cards, billable flags (tasks,
projects), tax codes and rates, revenue accounts, rounding, units, discounts, FX, terms. Its hash per
entity (``mapping_hash``) is recorded with every posting run and posted document; a version other
than the entity's accepted one posts nothing until an approver — not whoever proposed it or first ran
with it — accepts its diff (``sync-pipeline mapping diff / accept``). The first version seen for an
entity is its baseline: accepted as found, and the first plan it produces still needs four eyes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from sync_pipeline.store.operational import OperationalStore, metadata, now_iso

mapping_versions = sa.Table(
    "mapping_versions",
    metadata,
    sa.Column("entity", sa.String(64), primary_key=True),
    sa.Column("mapping_hash", sa.String(64), primary_key=True),
    sa.Column("content", sa.Text, nullable=False),  # JSON: the money-moving part of the entity's mapping
    sa.Column("status", sa.String(16), nullable=False),  # proposed | accepted | superseded | rejected
    sa.Column("proposed_by", sa.String(128), nullable=False),  # a mapping editor, or the run that first met it
    sa.Column("proposed_at", sa.String(40), nullable=False),
    sa.Column("accepted_by", sa.String(128)),
    sa.Column("accepted_at", sa.String(40)),
    sa.Column("comment", sa.Text),
)

#: Entity settings that do not move money (who the entity is, where its data comes from).
NOT_MONEY = frozenset({"name", "source", "csv_export", "harvest_account_id", "xero_tenant_id", "key"})


def _precise_now() -> str:
    """When a version was first seen, to the microsecond: versions are listed in this order, and two seen within
    the same second (a baseline and the edit right after it) must not fall back to the order of their hashes."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


class MappingVersionError(ValueError):
    """A mapping version that may not be accepted (self-acceptance, unknown hash …)."""


def money_view(entity: Any) -> dict[str, Any]:
    """The part of an entity's mapping that decides amounts, billable flags, tax codes and accounts."""
    dump = entity.model_dump(mode="json")
    return {k: v for k, v in sorted(dump.items()) if k not in NOT_MONEY}


def mapping_hash(entity: Any) -> str:
    text = json.dumps(money_view(entity), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def diff(old: Any, new: Any, path: str = "") -> list[str]:
    """Readable differences between two JSON values: ``rate_cards[0].rate: 100 → 120``."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for k in sorted(set(old) | set(new)):
            p = f"{path}.{k}" if path else str(k)
            if k not in old:
                out.append(f"{p}: added {json.dumps(new[k], default=str)}")
            elif k not in new:
                out.append(f"{p}: removed (was {json.dumps(old[k], default=str)})")
            else:
                out += diff(old[k], new[k], p)
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [d for i, (a, b) in enumerate(zip(old, new, strict=True)) for d in diff(a, b, f"{path}[{i}]")]
    if old != new:
        return [f"{path}: {json.dumps(old, default=str)} → {json.dumps(new, default=str)}"]
    return []


@dataclass(frozen=True)
class MappingVersion:
    entity: str
    mapping_hash: str
    content: dict[str, Any]
    status: str
    proposed_by: str
    proposed_at: str
    accepted_by: str | None
    accepted_at: str | None
    comment: str | None


class MappingVersions:
    def __init__(self, store: OperationalStore) -> None:
        self.store = store
        self.engine = store.engine

    def all(self, entity: str) -> list[MappingVersion]:
        with self.engine.connect() as c:
            rows = c.execute(sa.select(mapping_versions).where(mapping_versions.c.entity == entity)
                             .order_by(mapping_versions.c.proposed_at)).mappings().all()
        return [MappingVersion(r["entity"], r["mapping_hash"], json.loads(r["content"]), r["status"],
                               r["proposed_by"], r["proposed_at"], r["accepted_by"], r["accepted_at"], r["comment"])
                for r in rows]

    def get(self, entity: str, h: str) -> MappingVersion | None:
        return next((v for v in self.all(entity) if v.mapping_hash == h), None)

    def accepted(self, entity: str) -> MappingVersion | None:
        return next((v for v in reversed(self.all(entity)) if v.status == "accepted"), None)

    def find(self, entity: str, prefix: str) -> MappingVersion:
        if len(prefix) < 12:
            raise MappingVersionError("give the mapping hash (at least 12 characters), as `mapping status` prints it")
        found = [v for v in self.all(entity) if v.mapping_hash.startswith(prefix)]
        if len(found) != 1:
            raise MappingVersionError(f"no mapping version {prefix} for {entity}: `sync-pipeline mapping status`"
                                      if not found else f"{prefix} matches {len(found)} versions")
        return found[0]

    def observe(self, entity: Any, *, by: str) -> MappingVersion:
        """The entity's current mapping as a version: the first one is the baseline (accepted as found); a new one
        is recorded as proposed by ``by`` (the editor, or the run that met it first)."""
        h = mapping_hash(entity)
        found = self.get(entity.key, h)
        if found is not None:
            return found
        first = not self.all(entity.key)
        ts = _precise_now()
        with self.engine.begin() as c:
            try:
                c.execute(mapping_versions.insert().values(
                    entity=entity.key, mapping_hash=h, content=json.dumps(money_view(entity), default=str),
                    status="accepted" if first else "proposed", proposed_by=by, proposed_at=ts,
                    accepted_by="baseline (first version seen)" if first else None,
                    accepted_at=ts if first else None))
            except sa.exc.IntegrityError:  # recorded at the same moment by a concurrent run
                pass
        self.store.audit(by, "mapping_baseline" if first else "mapping_version_seen", entity=entity.key,
                         subject=h, detail={"mapping_hash": h})
        return self.get(entity.key, h)  # type: ignore[return-value]

    def propose(self, entity: Any, *, by: str, comment: str | None = None) -> MappingVersion:
        """A mapping editor puts the current file forward (they will not be the one who accepts it)."""
        v = self.observe(entity, by=by)
        if v.status == "proposed" and v.proposed_by != by:
            with self.engine.begin() as c:
                c.execute(mapping_versions.update().where(mapping_versions.c.entity == entity.key,
                                                          mapping_versions.c.mapping_hash == v.mapping_hash)
                          .values(proposed_by=by, comment=comment))
            self.store.audit(by, "mapping_proposed", entity=entity.key, subject=v.mapping_hash,
                             detail={"comment": comment})
        return self.get(entity.key, v.mapping_hash)  # type: ignore[return-value]

    def accept(self, entity: str, prefix: str, *, by: str, comment: str | None = None) -> MappingVersion:
        v = self.find(entity, prefix)
        if v.status != "proposed":
            raise MappingVersionError(f"mapping version {v.mapping_hash[:12]} of {entity} is {v.status}: "
                                      "nothing to accept")
        if v.proposed_by == by:
            raise MappingVersionError(f"{by} proposed mapping version {v.mapping_hash[:12]} and may not accept it: "
                                      "another approver does")
        before = self.accepted(entity)
        ts = now_iso()
        with self.engine.begin() as c:
            c.execute(mapping_versions.update().where(mapping_versions.c.entity == entity,
                                                      mapping_versions.c.status == "accepted")
                      .values(status="superseded"))
            c.execute(mapping_versions.update().where(mapping_versions.c.entity == entity,
                                                      mapping_versions.c.mapping_hash == v.mapping_hash)
                      .values(status="accepted", accepted_by=by, accepted_at=ts, comment=comment))
        self.store.audit(by, "mapping_accepted", entity=entity, subject=v.mapping_hash,
                         detail={"comment": comment, "proposed_by": v.proposed_by,
                                 "diff": diff(before.content if before else {}, v.content)[:200]})
        return self.get(entity, v.mapping_hash)  # type: ignore[return-value]
