"""People out of the warehouse: names become pseudonyms, notes are encrypted under the person's own key.

Applied to source rows before they are written (``raw_time_entries``, ``raw_expenses``), so no later asset —
clean entries, billables, drafts, posted documents, the ledger and the audit trail that copy ``approved_by`` —
ever holds a name. Billing is unchanged: it keys on ``user_id`` (rate cards, hours rules), never on a name.

==================  =====================================================================================
``user_name``       the person's pseudonym (``P-…``, :meth:`Protector.person_pseudonym` of (source, user id))
``approved_by``     "Carol Chen (3)" → the pseudonym of user 3 (the same as their ``user_name``); a name
                    without an id → the pseudonym of that name
``notes``           encrypted under the worker's person key (``privacy erase`` destroys it)
==================  =====================================================================================

The identities (name, source id) are kept in ``person_identities``, encrypted under each person's key:
``Protector.identity(pseudonym)`` answers who a pseudonym is, until the person is erased.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from sync_pipeline.store.protection import PersonErased, Protector, is_token, protector

_NAME_ID = re.compile(r"^(?P<name>.*\S)\s+\((?P<id>[^()]+)\)$")

RowsProtector = Callable[[list[dict[str, Any]]], None]


def _approver(value: str) -> tuple[str, str]:
    """(person id, name) of an ``approved_by`` text: "Carol Chen (3)" → ("3", "Carol Chen")."""
    m = _NAME_ID.match(value)
    return (m["id"], m["name"]) if m else (f"name:{value}", value)


def protect_rows(p: Protector, rows: list[dict[str, Any]], notes_context: str) -> None:
    """Replace names by pseudonyms and encrypt notes in ``rows`` (in place), one store transaction per call."""
    people: dict[tuple[str, str], str | None] = {}
    for r in rows:
        source = str(r.get("source") or "unknown")
        if r.get("user_name") is not None or r.get("user_id") is not None:
            uid = r.get("user_id")
            people.setdefault((source, str(uid) if uid is not None else f"name:{r['user_name']}"), r.get("user_name"))
        if r.get("approved_by"):
            pid, name = _approver(str(r["approved_by"]))
            if people.get((source, pid)) is None:
                people[(source, pid)] = name
    keys = list(people)
    pseudonyms = dict(zip(keys, p.people([(s, pid, name, None) for (s, pid), name in people.items()]), strict=True))
    for r in rows:
        source = str(r.get("source") or "unknown")
        person = None
        if r.get("user_name") is not None or r.get("user_id") is not None:
            uid = r.get("user_id")
            person = pseudonyms[(source, str(uid) if uid is not None else f"name:{r['user_name']}")]
            if r.get("user_name") is not None:
                r["user_name"] = person
        if r.get("approved_by"):
            r["approved_by"] = pseudonyms[(source, _approver(str(r["approved_by"]))[0])]
        if r.get("notes") is not None:
            try:
                r["notes"] = p.encrypt_for_person(person, str(r["notes"]), notes_context) if person else None
            except PersonErased:  # an erased person's new notes are not kept
                r["notes"] = None


def rows_protector(store: Any, notes_context: str = "raw_time_entries.notes") -> RowsProtector:
    """What the streamed extract calls on each row group before it is written."""
    p = protector(store)
    return lambda rows: protect_rows(p, rows, notes_context)


def protect_frame(store: Any, df: pd.DataFrame, notes_context: str) -> pd.DataFrame:
    """:func:`protect_rows` over a frame (small extracts: expenses)."""
    if df.empty:
        return df
    cols = [c for c in ("source", "user_id", "user_name", "approved_by", "notes") if c in df.columns]
    rows = [{k: (None if v is None or v != v else v) for k, v in r.items()} for r in df[cols].to_dict("records")]
    protect_rows(protector(store), rows, notes_context)
    out = df.copy()
    for c in ("user_name", "approved_by", "notes"):
        if c in out.columns:
            out[c] = pd.Series([r.get(c) for r in rows], index=df.index, dtype=object)
    return out


def protect_parquet(store: Any, src: str | Path, dest: str | Path, *, threads: int = 2,
                    memory_limit: str = "1500MB", notes_context: str = "raw_time_entries.notes") -> dict[str, int]:
    """:func:`protect_rows` over a whole Parquet file, in DuckDB: the distinct people are pseudonymized in Python
    (one HMAC and, the first time, one key each), then the file is rewritten once with the names replaced by a join.

    What ``bench billables --encrypt`` measures; also how a partition written before pseudonymization is protected.
    A pseudonym is an HMAC, so the rewrite starts as soon as the people and approvers are listed, while the
    people seen for the first time get their keys and encrypted identities beside it (a thread: DuckDB does not
    hold the GIL). ``dest`` appears only when both are done. Notes (rare) are encrypted row by row, under the
    keys, so they wait for them. ``src`` and ``dest`` must differ. Returns people, approvers, notes.
    """
    import duckdb

    from sync_pipeline.store.sql import view_over_parquet

    p = protector(store)
    con = duckdb.connect(config={"threads": threads, "memory_limit": memory_limit})
    try:
        view_over_parquet(con, "src", src)
        people, approvers = _people_of_file(con)
        names = {(s, pid): name for s, pid, name in people}
        for s, _, pid, name in approvers:
            names.setdefault((s, pid), name)
        pseudonyms = {k: p.pseudonym_of(*k) for k in names}
        tmp = Path(dest).with_name(Path(dest).name + ".protecting")
        keyed = _Background(p.people, [(s, pid, n, None) for (s, pid), n in names.items()])
        try:
            notes = _seal_notes(con, src, p, pseudonyms, keyed, notes_context)
            _register_maps(con, people, approvers, pseudonyms, notes)
            con.execute(_rewrite_sql(tmp, with_notes=notes is not None))
            keyed.result()  # the keys and identities are stored before the file is
            tmp.replace(dest)
        finally:
            keyed.join()
            tmp.unlink(missing_ok=True)
    finally:
        con.close()
    return {"people": len(people), "approvers": len(approvers), "notes": 0 if notes is None else len(notes)}


# -- columns encrypted under the field key in the warehouse (bank payers, quarantined values) ------------------
def seal_frame(store: Any, df: pd.DataFrame, asset: str) -> pd.DataFrame:
    """``df`` with the columns ``classification.warehouse_encrypted(asset)`` encrypted under the store's field key
    (context ``asset.column``), before it is written to the warehouse. Values already encrypted stay as they are."""
    from sync_pipeline.contracts.classification import warehouse_encrypted

    cols = [c for c in warehouse_encrypted(asset) if c in df.columns]
    if not cols or df.empty:
        return df
    p, out = protector(store), df.copy()
    for c in cols:
        out[c] = pd.Series([None if v is None or v != v else v if is_token(v) else p.encrypt_field(str(v), f"{asset}.{c}")
                            for v in df[c].tolist()], index=df.index, dtype=object)
    return out


def open_frame(store: Any, df: pd.DataFrame, asset: str) -> pd.DataFrame:
    """The inverse of :func:`seal_frame`: the columns in clear, in memory (what the cash matcher compares)."""
    from sync_pipeline.contracts.classification import warehouse_encrypted

    cols = [c for c in warehouse_encrypted(asset) if c in df.columns]
    if not cols or df.empty:
        return df
    p, out = protector(store), df.copy()
    for c in cols:
        out[c] = pd.Series([p.decrypt_field(v, f"{asset}.{c}") if is_token(v) else None if v is None or v != v else v
                            for v in df[c].tolist()],
                           index=df.index, dtype=object)
    return out


def reencrypt_warehouse(store: Any, warehouse: Any) -> dict[str, int]:
    """Every warehouse partition holding field-key values not under the current field key (or still in clear)
    rewritten with them re-encrypted under it: the warehouse half of ``keys reencrypt``. Re-runnable."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from sync_pipeline.contracts.classification import warehouse_encrypted
    from sync_pipeline.store.protection import TOKEN_PREFIX

    p = protector(store)
    current = f"{TOKEN_PREFIX}{p.current_field_key()}:"
    counts = {"partitions_rewritten": 0, "values_reencrypted": 0}
    if getattr(warehouse, "fs", None) is not None:
        raise ValueError("warehouse re-encryption runs on a local warehouse folder")
    for path in sorted(Path(warehouse.root).glob("*/entity=*/period=*.parquet")):
        asset, entity, period = path.parent.parent.name, path.parent.name[7:], path.stem[7:]
        cols = [c for c in warehouse_encrypted(asset) if c in pq.read_schema(path).names]
        if not cols:
            continue
        table, changed = pq.read_table(path), 0
        for c in cols:
            values = table.column(c).to_pylist()
            new = [v if v is None or v.startswith(current)
                   else p.encrypt_field(p.decrypt_field(v, f"{asset}.{c}"), f"{asset}.{c}") for v in values]
            n = sum(a != b for a, b in zip(values, new, strict=True))
            if n:
                i = table.schema.get_field_index(c)
                table = table.set_column(i, table.schema.field(i), pa.array(new, pa.string()))
                changed += n
        if changed:
            warehouse.write_arrow(asset, entity, period, table)
            counts["partitions_rewritten"] += 1
            counts["values_reencrypted"] += changed
    return counts


class _Background:
    """``fn(arg)`` in a thread; :meth:`result` waits for it and raises what it raised."""

    def __init__(self, fn: Callable[[Any], Any], arg: Any) -> None:
        import threading

        self._out: list[Any] = []
        self._err: list[BaseException] = []

        def work() -> None:
            try:
                self._out.append(fn(arg))
            except BaseException as e:  # re-raised in the caller by result()
                self._err.append(e)

        self._thread = threading.Thread(target=work, name="person-keys", daemon=True)
        self._thread.start()

    def join(self) -> None:
        self._thread.join()

    def result(self) -> Any:
        self._thread.join()
        if self._err:
            raise self._err[0]
        return self._out[0]


def _people_of_file(con: Any) -> tuple[list[tuple[str, str, str | None]], list[tuple[str, str, str, str]]]:
    """(source, person key, a name) of every worker and (source, approved_by, person id, name) of every approver.
    Two narrow DISTINCT scans (measured cheaper than one GROUPING SETS scan at 5M rows)."""
    people = con.execute("SELECT DISTINCT coalesce(source, 'unknown'), coalesce(user_id, 'name:' || user_name), "
                         "any_value(user_name) FROM src WHERE user_id IS NOT NULL OR user_name IS NOT NULL "
                         "GROUP BY ALL").fetchall()
    approvers = [(s, a, *_approver(a)) for s, a in con.execute(
        "SELECT DISTINCT coalesce(source, 'unknown'), approved_by FROM src WHERE approved_by IS NOT NULL").fetchall()]
    return people, approvers


def _seal_notes(con: Any, src: str | Path, p: Protector, pseudonyms: dict[tuple[str, str], str], keyed: _Background,
                context: str) -> list[tuple[int, str | None]] | None:
    """(row number, note encrypted under its worker's key) of every row with a note; None when there are none
    (the rewrite then needs no row numbers)."""
    from sync_pipeline.store.sql import view_over_parquet

    if not con.execute("SELECT count(*) FROM src WHERE notes IS NOT NULL").fetchall()[0][0]:
        return None
    view_over_parquet(con, "src_rows", src, row_numbers=True)
    rows = con.execute("SELECT file_row_number, coalesce(source, 'unknown'), coalesce(user_id, 'name:' || "
                       "user_name), notes FROM src_rows WHERE notes IS NOT NULL").fetchall()
    keyed.result()  # notes go under the people's keys
    sealed: list[tuple[int, str | None]] = []
    for row_no, s, pid, text in rows:
        try:
            sealed.append((row_no, p.encrypt_for_person(pseudonyms[(s, pid)], text, context) if pid else None))
        except PersonErased:  # an erased person's notes are not kept
            sealed.append((row_no, None))
    return sealed


def _register_maps(con: Any, people: list[tuple[str, str, str | None]], approvers: list[tuple[str, str, str, str]],
                   pseudonyms: dict[tuple[str, str], str], notes: list[tuple[int, str | None]] | None) -> None:
    import pyarrow

    con.register("people_map", pyarrow.table({
        "src_source": [s for s, _, _ in people], "pkey": [pid for _, pid, _ in people],
        "pseudonym": [pseudonyms[(s, pid)] for s, pid, _ in people]}))
    con.register("approver_map", pyarrow.table({
        "src_source": [s for s, _, _, _ in approvers], "approved": [a for _, a, _, _ in approvers],
        "pseudonym": [pseudonyms[(s, pid)] for s, _, pid, _ in approvers]}))
    if notes is not None:
        con.register("notes_map", pyarrow.table({"row_no": pyarrow.array([r for r, _ in notes], pyarrow.int64()),
                                                 "sealed": pyarrow.array([t for _, t in notes], pyarrow.string())}))


def _rewrite_sql(dest: Path, *, with_notes: bool) -> str:
    from sync_pipeline.store.sql import string_literal

    table = "src_rows" if with_notes else "src"
    notes = "nm.sealed" if with_notes else "CAST(NULL AS VARCHAR)"
    join_notes = "LEFT JOIN notes_map AS nm ON nm.row_no = src.file_row_number" if with_notes else ""
    exclude = "EXCLUDE (file_row_number) " if with_notes else ""
    return f"""
        COPY (
            SELECT src.* {exclude}REPLACE (
                CASE WHEN src.user_name IS NULL THEN NULL ELSE pm.pseudonym END AS user_name,
                am.pseudonym AS approved_by,
                {notes} AS notes)
            FROM {table} AS src
            LEFT JOIN people_map AS pm ON pm.src_source = coalesce(src.source, 'unknown')
                 AND pm.pkey = coalesce(src.user_id, 'name:' || src.user_name)
            LEFT JOIN approver_map AS am ON am.src_source = coalesce(src.source, 'unknown')
                 AND am.approved = src.approved_by
            {join_notes}
        ) TO {string_literal(dest)} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)"""


def warehouse_key_counts(store: Any, warehouse: Any) -> dict[str, dict[str, int]]:
    """``asset.column`` → values per field key (``plaintext``: not encrypted) over every local partition of the
    warehouse's encrypted columns: what ``keys status`` shows beside the store's columns."""
    import pyarrow.parquet as pq

    from sync_pipeline.contracts.classification import warehouse_encrypted
    from sync_pipeline.store.protection import token_key

    out: dict[str, dict[str, int]] = {}
    if getattr(warehouse, "fs", None) is not None:
        return out
    for path in sorted(Path(warehouse.root).glob("*/entity=*/period=*.parquet")):
        asset = path.parent.parent.name
        cols = [c for c in warehouse_encrypted(asset) if c in pq.read_schema(path).names]
        if not cols:
            continue
        table = pq.read_table(path, columns=cols)
        for c in cols:
            by = out.setdefault(f"{asset}.{c}", {})
            for v in table.column(c).to_pylist():
                if v is not None:
                    k = token_key(v) if is_token(v) else "plaintext"
                    by[k] = by.get(k, 0) + 1
    return out
