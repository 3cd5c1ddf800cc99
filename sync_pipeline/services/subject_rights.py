"""A person's rights: everything held about them (access, portability) and erasure.

The person is named by their source user id (``harvest:3``, or ``3`` for any source) or, once the store
keeps pseudonyms (``store.protection``), by their pseudonym ``P-…``. :func:`resolve` turns that into the
identifiers to look for: the ids, and the names found beside them in the warehouse (and in the encrypted
identity table). :func:`find` then looks everywhere the project keeps data:

- every warehouse Parquet partition: rows whose id columns equal an id, or whose text mentions a name;
- every operational-store table (the audit trail among them), the same way;
- the Dagster instance's event logs (run logs, materialization previews), when one is configured.

:func:`erase` replaces every identifier with one stand-in (``erased-…``) in the warehouse and in every
store table that may change, so groupings and every amount stay (invoice totals, conservation and
reconciliation still hold), and destroys the person's key when the store has one. It refuses a person
under legal hold. What a legal duty keeps (the append-only audit trail, Dagster's run history) is left and
reported. Export and erasure are recorded in the audit trail under a reference that does not name them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import sqlalchemy as sa

from sync_pipeline.store import audit
from sync_pipeline.store.legal_holds import LegalHolds
from sync_pipeline.store.operational import OperationalStore, metadata, register_tables
from sync_pipeline.store.warehouse import Warehouse

#: columns holding a person's id (matched exactly; names are matched in every text column)
ID_COLUMNS = frozenset({"user_id", "person_id", "source_person_id", "pseudonym"})
#: columns never exported (credentials and key material), whatever their table
SECRET_COLUMN = re.compile(r"hash|secret|wrapped|token|password|csrf|ticket", re.I)
#: tables that are the keys themselves: never scanned, exported or rewritten
KEY_TABLES = frozenset({"data_keys", "person_keys"})
MIN_NAME = 3


class SubjectError(LookupError):
    """The person cannot be found, or may not be erased (legal hold); the message says what to do."""


@dataclass
class Person:
    query: str
    source: str | None
    ids: set[str]
    names: set[str] = field(default_factory=set)
    pseudonym: str | None = None
    identity: dict[str, Any] | None = None
    #: keyed hashes of the person's names, as columns compared but never read back keep them (payer aliases)
    hashes: set[str] = field(default_factory=set)

    @property
    def reference(self) -> str:
        """How the audit trail names the person: their pseudonym, else a one-way reference (never a name)."""
        if self.pseudonym:
            return self.pseudonym
        return "ref-" + hashlib.sha256(f"{self.source}:{sorted(self.ids)}".encode()).hexdigest()[:16]

    def terms(self) -> list[str]:
        """Text to look for, longest first: each name, and "name (id)" as approvals are written."""
        names = [n for n in self.names if len(n) >= MIN_NAME]
        return sorted({*names, *(f"{n} ({i})" for n in names for i in self.ids)}, key=len, reverse=True)


def _protector(store: OperationalStore):
    """The store's field protection (per-person keys, pseudonyms), when this release has it."""
    try:
        from sync_pipeline.store.protection import protector
    except ImportError:
        return None
    try:
        return protector(store)
    except Exception:  # noqa: BLE001 - no keys configured: the clear-text scan still applies
        return None


# -- who ------------------------------------------------------------------------------------------------------
def resolve(warehouse: Warehouse, store: OperationalStore, query: str) -> Person:
    q = query.strip()
    source, _, pid = q.rpartition(":") if ":" in q else (None, "", q)
    person = Person(q, source or None, {pid})
    prot = _protector(store)
    if prot is not None:
        try:
            if pid.startswith("P-"):
                person.pseudonym = pid
            elif source:
                person.pseudonym = prot.pseudonym_of(source, pid)
            if person.pseudonym:
                person.ids.add(person.pseudonym)
                person.identity = prot.identity(person.pseudonym)
                if person.identity:
                    person.ids.add(str(person.identity.get("source_person_id") or pid))
                    person.names |= {v for k in ("name", "email") if (v := person.identity.get(k))}
        except Exception:  # noqa: BLE001 - the identity is unknown or erased: the scan below still runs
            pass
    for _, _, _, path in _partitions(warehouse):
        schema = pq.read_schema(path)
        if "user_id" not in schema.names:
            continue
        cols = [c for c in ("source", "user_id", "user_name") if c in schema.names]
        t = pq.read_table(path, columns=cols)
        mask = pc.is_in(t.column("user_id").cast(pa.string()), value_set=pa.array(sorted(person.ids)))
        if person.source and "source" in t.column_names:
            mask = pc.and_(mask, pc.equal(t.column("source"), person.source))
        hits = t.filter(pc.fill_null(mask, False))
        if "user_name" in hits.column_names:
            person.names |= {n for n in hits.column("user_name").to_pylist() if n and not _is_stand_in(n)}
    if not person.names and not person.identity:
        raise SubjectError(f"no person {query!r} in the warehouse or the identity table: give their source user "
                           "id as SOURCE:ID (e.g. harvest:3) or their pseudonym P-…")
    return person


def _is_stand_in(value: str) -> bool:
    return value.startswith(("erased-", "anon-", "enc1:"))


# -- where ----------------------------------------------------------------------------------------------------
def _with_hashes(store: OperationalStore, person: Person) -> Person:
    """``person.hashes``: the keyed hashes their names have in ``cash_payer_aliases`` (a person may be a payer)."""
    if not person.hashes and person.names:
        try:
            from sync_pipeline.store.matching_log import MatchingLog

            log = MatchingLog(store)
            person.hashes = {log.payer_hash(n) for n in person.names if len(n) >= MIN_NAME}
        except Exception:  # noqa: BLE001 - no keys configured: nothing is hashed either
            pass
    return person


def _open_table(store: OperationalStore | None, asset: str, table: pa.Table) -> pa.Table:
    """The partition with its field-key columns (bank payers, quarantined values) decrypted, in memory."""
    from sync_pipeline.contracts.classification import warehouse_encrypted

    cols = [c for c in warehouse_encrypted(asset) if c in table.column_names]
    prot = _protector(store) if store is not None and cols else None
    if prot is None:
        return table
    for c in cols:
        i = table.schema.get_field_index(c)
        values = [prot.decrypt_field(v, f"{asset}.{c}") if isinstance(v, str) else v
                  for v in table.column(c).to_pylist()]
        table = table.set_column(i, table.schema.field(i), pa.array(values, table.schema.field(i).type))
    return table


def _seal_table(store: OperationalStore, asset: str, table: pa.Table) -> pa.Table:
    """The inverse of :func:`_open_table` (values already encrypted stay)."""
    from sync_pipeline.contracts.classification import warehouse_encrypted
    from sync_pipeline.store.protection import is_token

    cols = [c for c in warehouse_encrypted(asset) if c in table.column_names]
    prot = _protector(store) if cols else None
    if prot is None:
        return table
    for c in cols:
        i = table.schema.get_field_index(c)
        values = [v if v is None or is_token(v) else prot.encrypt_field(v, f"{asset}.{c}")
                  for v in table.column(c).to_pylist()]
        table = table.set_column(i, table.schema.field(i), pa.array(values, table.schema.field(i).type))
    return table


def _partitions(warehouse: Warehouse) -> list[tuple[str, str, str, Path]]:
    if warehouse.fs is not None:
        raise SubjectError("subject requests run on a local warehouse folder")
    return [(p.parent.parent.name, p.parent.name[len("entity="):], p.name[len("period="):-len(".parquet")], p)
            for p in sorted(warehouse.root.glob("*/entity=*/period=*.parquet"))]


def _row_mask(table: pa.Table, person: Person) -> pa.Array | None:
    mask = None
    ids = pa.array(sorted(person.ids))
    for name in table.column_names:
        col = table.column(name)
        if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
            continue
        parts = [pc.is_in(col, value_set=ids)] if name in ID_COLUMNS else []
        parts += [pc.match_substring(col, term, ignore_case=True) for term in person.terms()]
        for m in parts:
            m = pc.fill_null(m, False)
            mask = m if mask is None else pc.or_(mask, m)
    return mask


def warehouse_hits(warehouse: Warehouse, person: Person, store: OperationalStore | None = None,
                   ) -> Iterator[tuple[str, str, str, Path, pa.Table]]:
    """(asset, entity, period, path, the matching rows) for every partition that holds something about them;
    with ``store``, columns encrypted under its field key are searched (and returned) as what they say."""
    for asset, entity, period, path in _partitions(warehouse):
        t = _open_table(store, asset, pq.read_table(path))
        mask = _row_mask(t, person)
        if mask is not None and pc.any(mask).as_py():
            yield asset, entity, period, path, t.filter(mask)


def _store_tables() -> list[sa.Table]:
    register_tables()
    return [t for t in metadata.sorted_tables if t.name not in KEY_TABLES]


def _row_about(row: dict[str, Any], person: Person) -> bool:
    terms = [t.lower() for t in person.terms()]
    for k, v in row.items():
        if not isinstance(v, str):
            continue
        if (k in ID_COLUMNS and v in person.ids) or v in person.hashes:
            return True
        low = v.lower()
        if any(t in low for t in terms):
            return True
    return False


def store_hits(store: OperationalStore, person: Person) -> Iterator[tuple[sa.Table, list[dict[str, Any]]]]:
    """Rows about the person per table, decrypted where the keys open them (encrypted fields are searched as
    what they say, not as ciphertext)."""
    reveal = _revealer(store)
    _with_hashes(store, person)
    for table in _store_tables():
        with store.engine.connect() as c:
            if not sa.inspect(c).has_table(table.name):
                continue
            rows = [reveal(table.name, dict(r)) for r in c.execute(sa.select(table)).mappings()]
        found = [r for r in rows if _row_about(r, person)]
        if found:
            yield table, found


def dagster_hits(person: Person) -> list[dict[str, Any]]:
    """Event-log entries of the configured Dagster instance (DAGSTER_HOME) that mention the person."""
    import os

    if not os.environ.get("DAGSTER_HOME") or not Path(os.environ["DAGSTER_HOME"]).is_dir():
        return []
    from dagster import DagsterInstance
    from dagster_shared.serdes import serialize_value

    terms = [t.lower() for t in person.terms()]
    out = []
    with DagsterInstance.get() as instance:
        for run in instance.get_runs():
            for ev in instance.all_logs(run.run_id):
                text = serialize_value(ev)
                if any(t in text.lower() for t in terms):
                    out.append({"run_id": run.run_id, "job": run.job_name, "timestamp": ev.timestamp,
                                "step": ev.step_key, "event": ev.dagster_event_type.value if ev.dagster_event_type
                                else "log", "message": ev.user_message[:500]})
    return out


# -- export ---------------------------------------------------------------------------------------------------
def _plain(v: Any) -> Any:
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, (date, datetime)):
        return v.isoformat()
    if isinstance(v, bytes):
        return v.hex()
    return v


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    return {k: _plain(v) for k, v in row.items() if not SECRET_COLUMN.search(k) and k != ENCRYPTED}


#: key of a revealed row listing the columns that were encrypted (re-encrypted when erasure rewrites them)
ENCRYPTED = "__encrypted__"
#: contexts person-key tokens are written under (store.protection binds a ciphertext to its column)
PERSON_CONTEXTS = ("raw_time_entries.notes", "raw_expenses.notes")


def _revealer(store: OperationalStore):
    """Decrypt what the store's keys still open (the person's notes, encrypted store fields), for the export."""
    prot = _protector(store)
    if prot is None:
        return lambda where, row: row

    def reveal(where: str, row: dict[str, Any]) -> dict[str, Any]:
        out = dict(row)
        out_encrypted = []
        for k, v in row.items():
            if not (isinstance(v, str) and v.startswith("enc1:")):
                continue
            for ctx in (f"{where}.{k}", *PERSON_CONTEXTS):
                for fn in (prot.decrypt_for_person, prot.decrypt_field):
                    try:
                        out[k] = fn(v, ctx)
                        break
                    except Exception:  # noqa: BLE001 - another context or key: try the next
                        continue
                if out[k] != v:
                    out_encrypted.append(k)
                    break
        if out_encrypted:
            out[ENCRYPTED] = out_encrypted
        return out

    return reveal


def export(warehouse: Warehouse, store: OperationalStore, person: Person, *, actor: str,
           include_dagster: bool = True) -> dict[str, Any]:
    """Everything held about the person, machine-readable (JSON-able), decrypted where the keys still open it;
    recorded as an export access event."""
    reveal = _revealer(store)
    wh = [{"asset": a, "entity": e, "period": p, "rows": [_clean(reveal(a, r)) for r in t.to_pylist()]}
          for a, e, p, _, t in warehouse_hits(warehouse, person, store)]
    tables, trail = [], []
    for table, rows in store_hits(store, person):
        if table.name == "audit_events":
            trail = [_clean({**r, "detail": json.loads(r["detail"])}) for r in rows]
        else:
            tables.append({"table": table.name, "rows": [_clean(r) for r in rows]})
    out = {"format": "sync-pipeline-subject-export/1", "generated_at": audit.timestamp(), "generated_by": actor,
           "person": {"query": person.query, "source": person.source, "ids": sorted(person.ids),
                      "names": sorted(person.names), "pseudonym": person.pseudonym, "identity": person.identity},
           "warehouse": wh, "operational_store": tables, "audit_trail": trail,
           "dagster_logs": dagster_hits(person) if include_dagster else []}
    counts = {"warehouse_rows": sum(len(x["rows"]) for x in wh), "store_rows": sum(len(x["rows"]) for x in tables),
              "audit_events": len(trail), "dagster_log_entries": len(out["dagster_logs"])}
    out["counts"] = counts
    audit.record_access(store, actor=actor, what="subject_export", subject=person.reference, export=True,
                        detail={"person": person.reference, **counts})
    return out


# -- erase ----------------------------------------------------------------------------------------------------
def stand_in(person: Person) -> str:
    """One replacement for every identifier of the person: random, never stored with anything that links it."""
    return "erased-" + hmac.new(secrets.token_bytes(32), person.reference.encode(), hashlib.sha256).hexdigest()[:12]


def _replace_text(value: str, person: Person, replacement: str) -> str:
    for term in person.terms():
        value = re.sub(re.escape(term), replacement, value, flags=re.I)
    return value


def _erase_table(table: pa.Table, person: Person, replacement: str) -> pa.Table:
    ids = person.ids
    for i, name in enumerate(table.column_names):
        col = table.column(name)
        if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
            continue
        values = col.to_pylist()
        new = [None if v is None else (replacement if (name in ID_COLUMNS and v in ids) or v in person.hashes
                                       else _replace_text(v, person, replacement)) for v in values]
        if new != values:
            table = table.set_column(i, table.schema.field(i), pa.array(new, col.type))
    return table


def erase(warehouse: Warehouse, store: OperationalStore, person: Person, *, actor: str,
          dry_run: bool = False) -> dict[str, Any]:
    """Replace every identifier of the person everywhere that may change; keep amounts; report what stays."""
    holds = [h for h in LegalHolds(store).all() if h.person is not None and h.person in person.ids]
    if holds:
        raise SubjectError("the person is under legal hold, nothing erased: "
                           + "; ".join(h.describe() for h in holds)
                           + " (release it with `sync-pipeline privacy hold release` once the duty ends)")
    replacement = stand_in(person)
    report: dict[str, Any] = {"person": person.reference, "dry_run": dry_run, "warehouse": [], "store": [],
                              "retained": []}
    for asset, entity, period, path, hits in list(warehouse_hits(warehouse, person, store)):
        report["warehouse"].append({"asset": asset, "entity": entity, "period": period, "rows": hits.num_rows})
        if not dry_run:
            table = _open_table(store, asset, pq.read_table(path))
            warehouse.write_arrow(asset, entity, period,
                                  _seal_table(store, asset, _erase_table(table, person, replacement)))
    for table, rows in list(store_hits(store, person)):
        if table.name in audit.APPEND_ONLY_TABLES:
            report["retained"].append({"where": table.name, "rows": len(rows),
                                       "why": "append-only audit trail (tamper-evident record of decisions, a "
                                              "legal duty): kept as written"})
            continue
        report["store"].append({"table": table.name, "rows": len(rows)})
        if not dry_run:
            _erase_rows(store, table, rows, person, replacement)
    destroyed = False
    prot = _protector(store)
    if prot is not None and person.pseudonym and not dry_run:
        try:
            destroyed = bool(prot.destroy_person_key(person.pseudonym, actor=actor, reason="erasure request"))
        except Exception as e:  # noqa: BLE001 - reported, the clear-text erasure above stands
            report["key_error"] = f"{type(e).__name__}: {e}"
    report["person_key_destroyed"] = destroyed
    report["counts"] = {"warehouse_rows": sum(x["rows"] for x in report["warehouse"]),
                        "store_rows": sum(x["rows"] for x in report["store"]),
                        "retained_rows": sum(x["rows"] for x in report["retained"])}
    audit.append(store, actor=actor, action="subject_erase_dry_run" if dry_run else "subject_erased",
                 subject=person.reference, detail=report)
    return report


def _erase_rows(store: OperationalStore, table: sa.Table, rows: Iterable[dict[str, Any]], person: Person,
                replacement: str) -> None:
    """Rewrite the rows (as :func:`store_hits` revealed them); a field that was encrypted is encrypted again."""
    pk = [c.name for c in table.primary_key.columns]
    prot = _protector(store)
    with store.begin() as c:
        for r in rows:
            encrypted = set(r.get(ENCRYPTED, ()))
            changes = {k: (replacement if (k in ID_COLUMNS and v in person.ids) or v in person.hashes
                           else _replace_text(v, person, replacement))
                       for k, v in r.items()
                       if isinstance(v, str) and (k not in pk or v in person.hashes) and k in table.c}
            changes = {k: v for k, v in changes.items() if v != r[k]}
            if not changes or (not pk and encrypted):
                continue  # without a key, a row is found by its stored values: encrypted ones are not those
            for k in encrypted & set(changes):
                changes[k] = prot.encrypt_field(changes[k], f"{table.name}.{k}")
            where = [table.c[k] == r[k] for k in pk] if pk else [table.c[k] == v for k, v in r.items()
                                                                   if v is not None and k in table.c]
            c.execute(table.update().where(*where).values(**changes))
