"""The purge in the operational store: rows past retention anonymized or deleted, like warehouse partitions.

Each table listed under ``store_tables:`` in the retention file has a record class; its rows are grouped by
(entity, period) — the ``period`` column, or the month of a date column — and each group gets the same verdict a
warehouse partition of that entity and period would (``domain.retention.decide``): legal holds (a hold on one
person keeps the groups holding rows about them), open documents of the period and tax retention always win.

============================  ========================================================================
``anonymize``                 the columns the classification calls personal (``contracts.classification``)
                              replaced by irreversible stand-ins (``anon-…``, HMAC under a key never stored);
                              JSON columns emptied (``{}`` / ``[]``), so readers still parse them. Amounts,
                              dates and ids stay: totals and reconciliation hold.
``delete``                    the rows go (and rows that belong to them: a decision's allocations); a table
                              an append-only history references (``cash_decisions``: ``cash_decision_events``)
                              is anonymized instead.
============================  ========================================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from sync_pipeline.store.operational import OperationalStore, metadata, register_tables


@dataclass(frozen=True)
class StoreTable:
    """How the purge reads a store table: where its entity and period are, what it may do to it."""

    name: str
    period_column: str  # YYYY-MM, or a date / timestamp whose first 7 characters are the month
    json_empty: dict[str, str]  # personal JSON columns → what an anonymized row holds
    deletable: bool = True  # False: an append-only history references the rows (anonymized instead)
    person_column: str | None = None  # the person a row is about (legal holds on one person)
    children: tuple[tuple[str, str], ...] = ()  # (table, column) rows that go with a deleted row (by primary key)


#: the tables the purge knows how to read; which of them it purges, and under which class, is the retention file's
TABLES: dict[str, StoreTable] = {t.name: t for t in (
    StoreTable("cash_decisions", "period", {"explanation": "{}", "candidates": "[]"}, deletable=False),
    StoreTable("hours_day_decisions", "day", {}, person_column="user_id"),
    StoreTable("dead_letters", "period", {}),
)}
#: personal columns the purge leaves as they are (who decided stays in the audit trail anyway; ids that join)
KEEP_COLUMNS = frozenset({"entity"})


def personal_columns(table: str) -> list[str]:
    from sync_pipeline.contracts.classification import PERSONAL, class_of

    register_tables()
    return [c.name for c in metadata.tables[table].columns
            if class_of(table, c.name) == PERSONAL and c.name not in KEEP_COLUMNS and not c.primary_key]


def groups(store: OperationalStore, table: str) -> list[dict[str, Any]]:
    """(entity, period, rows, people, anonymized) per group of ``table``'s rows."""
    spec, t = TABLES[table], _table(table)
    period = sa.func.substr(t.c[spec.period_column], 1, 7)
    cols = personal_columns(table)
    anonymized = sa.and_(*[sa.or_(t.c[c].is_(None), t.c[c].like("anon-%"), t.c[c].in_(set(spec.json_empty.values())))
                           for c in cols]) if cols else sa.true()
    q = sa.select(t.c.entity, period.label("period"), sa.func.count().label("rows"),
                  sa.func.sum(sa.case((anonymized, 0), else_=1)).label("identified"))
    out = []
    with store.engine.connect() as c:
        if not sa.inspect(c).has_table(table):
            return []
        for r in c.execute(q.group_by(t.c.entity, period)):
            people: set[str] = set()
            if spec.person_column:
                people = {p for (p,) in c.execute(sa.select(sa.distinct(t.c[spec.person_column])).where(
                    t.c.entity == r.entity, period == r.period)) if p is not None}
            out.append({"entity": r.entity, "period": r.period, "rows": int(r.rows),
                        "anonymized": int(r.identified or 0) == 0, "people": people})
    return out


def _table(name: str) -> sa.Table:
    register_tables()
    return metadata.tables[name]


def anonymize(store: OperationalStore, table: str, entity: str, period: str, stand_in) -> int:
    """Replace the personal columns of the group's rows; returns the rows changed."""
    spec, t = TABLES[table], _table(table)
    cols = personal_columns(table)
    pk = [c.name for c in t.primary_key.columns]
    n = 0
    with store.engine.begin() as c:
        rows = c.execute(sa.select(*[t.c[k] for k in pk], *[t.c[k] for k in cols]).where(
            t.c.entity == entity, sa.func.substr(t.c[spec.period_column], 1, 7) == period)).mappings().all()
        for r in rows:
            values = {k: (spec.json_empty[k] if k in spec.json_empty else stand_in(str(r[k])))
                      for k in cols if r[k] is not None}
            if values:
                c.execute(t.update().where(*[t.c[k] == r[k] for k in pk]).values(**values))
                n += 1
    return n


def delete(store: OperationalStore, table: str, entity: str, period: str) -> int:
    """Delete the group's rows (and the rows that belong to them); returns the rows deleted."""
    spec, t = TABLES[table], _table(table)
    where = sa.and_(t.c.entity == entity, sa.func.substr(t.c[spec.period_column], 1, 7) == period)
    with store.engine.begin() as c:
        [key] = [col.name for col in t.primary_key.columns]
        ids = [r[0] for r in c.execute(sa.select(t.c[key]).where(where))]
        for child, column in spec.children:
            ct = _table(child)
            for i in range(0, len(ids), 500):
                c.execute(ct.delete().where(ct.c[column].in_(ids[i:i + 500])))
        return int(c.execute(t.delete().where(where)).rowcount)
