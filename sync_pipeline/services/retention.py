"""The purge: apply the retention policy to the warehouse and the operational store, never to what holds, tax or
open documents keep.

``plan`` looks at every warehouse partition (asset × entity × period), finds its record class
(``assets:`` in the retention file), the entity's jurisdiction, the legal holds covering it and the open
(unpaid) documents of its period, and asks ``domain.retention.decide`` what may be done. ``apply`` does
it: ``delete`` removes the partition, ``anonymize`` rewrites it with the personal columns replaced by
irreversible pseudonyms (amounts untouched, so totals, conservation and reconciliation still hold) and
marks it anonymized. Rows of the store tables the retention file lists under ``store_tables:`` are grouped by
entity and period and get the same verdicts (``services.store_retention``). Both write one ``retention_purge``
event to the audit trail (a dry run writes a ``retention_purge_dry_run`` event with the same summary), with a row
per partition and store group touched.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from sync_pipeline.domain.retention import ANONYMIZE, DELETE, KEEP, RetentionPolicy, decide
from sync_pipeline.store import audit
from sync_pipeline.store.legal_holds import LegalHolds
from sync_pipeline.store.operational import OperationalStore, sync_ledger
from sync_pipeline.store.warehouse import Warehouse

#: accounting statuses of a document that no longer waits for anything (paid, or gone)
SETTLED_STATUSES = frozenset({"PAID", "VOIDED", "DELETED"})
#: Parquet key-value metadata set on an anonymized partition
ANONYMIZED_KEY = b"sync_pipeline.anonymized_at"


#: warehouse asset → its pandera contract's class name (how ``contracts.classification`` names contracts)
ASSET_CONTRACTS = {"raw_time_entries": "RawTimeEntry", "raw_expenses": "RawExpense",
                   "clean_time_entries": "CleanTimeEntry", "clean_expenses": "CleanExpense",
                   "billables": "Billable", "expense_billables": "ExpenseBillable",
                   "invoice_drafts": "InvoiceDraftLine", "posted_invoices": "PostedInvoice", "bank_lines": "BankLine",
                   "bank_statement_lines": "BankLine"}


def personal_columns(asset: str, names: list[str]) -> frozenset[str]:
    """The columns of an asset's partition that identify or describe a person: the column classification's
    ``personal`` (``contracts.classification``), the one list protection and the purge share."""
    from sync_pipeline.contracts.classification import PERSONAL, class_of

    contract = ASSET_CONTRACTS.get(asset, asset)
    return frozenset(n for n in names if class_of(contract, n) == PERSONAL)


@dataclass(frozen=True)
class PurgeItem:
    asset: str
    entity: str
    period: str
    record_class: str | None
    action: str  # keep | anonymize | delete
    reason: str
    rows: int
    keep_until: str | None = None
    where: str = "warehouse"  # warehouse (asset is a warehouse asset) | store (asset is a store table)


def open_documents(store: OperationalStore) -> Counter:
    """(entity, period) → documents posted (or maybe posted) and not yet paid, voided or deleted."""
    q = sa.select(sync_ledger.c.entity, sync_ledger.c.period, sync_ledger.c.status, sync_ledger.c.target_status)
    out: Counter = Counter()
    with store.engine.connect() as c:
        for entity, period, status, target_status in c.execute(q):
            if status in ("failed", "voided") or (target_status or "").upper() in SETTLED_STATUSES:
                continue
            out[(entity, period)] += 1
    return out


def partitions(warehouse: Warehouse) -> list[tuple[str, str, str, Path]]:
    """Every local partition as (asset, entity, period, path)."""
    if warehouse.fs is not None:
        raise ValueError("the purge runs on a local warehouse folder; object stores expire objects by their own "
                         "lifecycle rules (configure them from the same retention table)")
    out = []
    for p in sorted(warehouse.root.glob("*/entity=*/period=*.parquet")):
        out.append((p.parent.parent.name, p.parent.name[len("entity="):], p.name[len("period="):-len(".parquet")], p))
    return out


def is_anonymized(path: Path) -> bool:
    meta = pq.read_schema(path).metadata or {}
    return ANONYMIZED_KEY in meta


def plan(warehouse: Warehouse, store: OperationalStore, policy: RetentionPolicy, assets: dict[str, str],
         today: date, store_tables: dict[str, str] | None = None) -> list[PurgeItem]:
    """Every warehouse partition's verdict, then (``store_tables``: store table → class) every group of store rows'
    (``services.store_retention``)."""
    holds = LegalHolds(store).all()
    open_docs = open_documents(store)
    items = []
    for asset, entity, period, path in partitions(warehouse):
        rows = pq.ParquetFile(path).metadata.num_rows
        cls = assets.get(asset)
        if cls is None:
            items.append(PurgeItem(asset, entity, period, None, KEEP, "unclassified asset: never purged (add it "
                                   "under assets: in the retention file)", rows))
            continue
        hold = next((h for h in holds if h.covers(entity, period) and h.person is None), None)
        v = decide(policy, cls, period, today, jurisdiction=policy.entity_jurisdictions.get(entity),
                   legal_hold=hold.describe() if hold else None, open_documents=open_docs.get((entity, period), 0),
                   anonymized=is_anonymized(path))
        items.append(PurgeItem(asset, entity, period, cls, v.action, v.reason, rows,
                               v.keep_until.isoformat() if v.keep_until else None))
    return items + plan_store(store, policy, store_tables or {}, today, holds, open_docs)


def plan_store(store: OperationalStore, policy: RetentionPolicy, store_tables: dict[str, str], today: date,
               holds: list, open_docs: Counter) -> list[PurgeItem]:
    from sync_pipeline.services import store_retention

    items = []
    for table, cls in sorted(store_tables.items()):
        if table not in store_retention.TABLES:
            raise ValueError(f"store_tables: the purge cannot read table {table!r} (it knows "
                             f"{', '.join(sorted(store_retention.TABLES))})")
        spec = store_retention.TABLES[table]
        for g in store_retention.groups(store, table):
            entity, period = g["entity"], g["period"]
            hold = next((h for h in holds if h.covers(entity, period)
                         and (h.person is None or not spec.person_column or h.person in g["people"])), None)
            v = decide(policy, cls, period, today, jurisdiction=policy.entity_jurisdictions.get(entity),
                       legal_hold=hold.describe() if hold else None, open_documents=open_docs.get((entity, period), 0),
                       anonymized=g["anonymized"])
            action, reason = v.action, v.reason
            if action == DELETE and not spec.deletable:
                action, reason = ((KEEP, f"{reason}; kept anonymized: an append-only history references it")
                                  if g["anonymized"] else
                                  (ANONYMIZE, f"{reason}; anonymized, not deleted: an append-only history "
                                              "references it"))
            items.append(PurgeItem(table, entity, period, cls, action, reason, g["rows"],
                                   v.keep_until.isoformat() if v.keep_until else None, where="store"))
    return items


def pseudonym(value: str, salt: bytes) -> str:
    """An irreversible stand-in: the same value gets the same stand-in within one run (groupings survive),
    and the salt is never stored, so nobody can map it back."""
    return "anon-" + hmac.new(salt, value.encode("utf-8"), hashlib.sha256).hexdigest()[:12]


def anonymize_table(table: pa.Table, columns: frozenset[str], salt: bytes, at: str) -> pa.Table:
    for name in table.column_names:
        if name not in columns:
            continue
        col = table.column(name)
        values = [None if v is None else pseudonym(str(v), salt) for v in col.to_pylist()]
        idx = table.column_names.index(name)
        table = table.set_column(idx, pa.field(name, pa.string(), nullable=True), pa.array(values, pa.string()))
    meta = dict(table.schema.metadata or {})
    meta[ANONYMIZED_KEY] = at.encode()
    return table.replace_schema_metadata(meta)


def apply(items: list[PurgeItem], warehouse: Warehouse, store: OperationalStore, *, actor: str,
          dry_run: bool, today: date) -> dict[str, Any]:
    """Carry out (or, ``dry_run``, only record) the plan; the summary written to the audit trail."""
    todo = [i for i in items if i.action in (ANONYMIZE, DELETE)]
    salt = secrets.token_bytes(32)
    at = audit.timestamp()
    done_rows: Counter = Counter()
    if not dry_run:
        from sync_pipeline.services import store_retention

        for i in todo:
            if i.where == "store":
                done_rows[i.action] += (store_retention.delete(store, i.asset, i.entity, i.period) if i.action == DELETE
                                        else store_retention.anonymize(store, i.asset, i.entity, i.period,
                                                                       lambda v: pseudonym(v, salt)))
            elif i.action == DELETE:
                Path(warehouse.path(i.asset, i.entity, i.period)).unlink(missing_ok=True)
            else:
                table = pq.read_table(warehouse.path(i.asset, i.entity, i.period))
                columns = personal_columns(i.asset, table.column_names)
                warehouse.write_arrow(i.asset, i.entity, i.period, anonymize_table(table, columns, salt, at))
    parts = [i for i in items if i.where == "warehouse"]
    counts = Counter(i.action for i in parts)
    stored = [i for i in todo if i.where == "store"]
    summary = {"dry_run": dry_run, "today": today.isoformat(), "partitions": len(parts),
               "deleted": counts[DELETE], "anonymized": counts[ANONYMIZE], "kept": counts[KEEP],
               "kept_by_hold": sum(1 for i in items if i.reason.startswith("under legal hold")),
               "kept_open_documents": sum(1 for i in items if "open (unpaid)" in i.reason),
               "rows_deleted": sum(i.rows for i in todo if i.action == DELETE and i.where == "warehouse"),
               "rows_anonymized": sum(i.rows for i in todo if i.action == ANONYMIZE and i.where == "warehouse"),
               "store_groups": len(items) - len(parts),
               # a dry run counts the rows it would touch
               "store_rows_deleted": done_rows[DELETE] if not dry_run else sum(
                   i.rows for i in stored if i.action == DELETE),
               "store_rows_anonymized": done_rows[ANONYMIZE] if not dry_run else sum(
                   i.rows for i in stored if i.action == ANONYMIZE),
               "touched": [asdict(i) for i in todo]}
    audit.append(store, actor=actor, action="retention_purge_dry_run" if dry_run else "retention_purge",
                 subject=f"{len(todo)} partition(s)", detail=summary)
    return summary
