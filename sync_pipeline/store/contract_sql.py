"""Pandera contracts checked in SQL, for partitions too large to load into pandas.

The pandera model stays the single definition of the contract. :func:`contract_queries` derives one DuckDB
query per rule from it -- column present with a compatible type, not null, unique, ``isin``, ``gt``/``ge``/
``lt``/``le``, ``str_matches``, ``str_length`` -- and frame-level checks are translated by name from
:data:`FRAME_CHECKS_SQL` (a model whose frame check has no translation is refused, never skipped). Each query
counts the violating rows and returns up to five examples, so a failure reads like pandera's
``failure_cases``. DuckDB scans the relation once for all rules and unique columns (plus once per
frame-level unique key, and again only to sample the rows of a rule that failed).
"""

from __future__ import annotations

from typing import Any

import duckdb
import pandera.pandas as pa
from pandera.engines import pandas_engine

from sync_pipeline.store.sql import parquet_relation

FRAME_CHECKS_SQL: dict[tuple[str, str], str] = {
    ("CleanTimeEntry", "billable_rows_are_complete"):
        "disposition <> 'billable' OR (client_id IS NOT NULL AND project_id IS NOT NULL AND task_id IS NOT NULL "
        "AND user_id IS NOT NULL AND currency IS NOT NULL AND hours IS NOT NULL AND rate IS NOT NULL "
        "AND spent_date IS NOT NULL AND rate_source IS NOT NULL)",
    ("CleanTimeEntry", "non_billable_rows_have_reason"): "disposition = 'billable' OR reason IS NOT NULL",
}

_UNIQUE_KEYS = {("FxRateRow", "one_rate_per_key"): ["base_currency", "quote_currency", "rate_date", "kind",
                                                     "client_id"]}


class ContractSqlError(ValueError):
    pass


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(v: Any) -> str:
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, int | float):
        return repr(v)
    return "'" + str(v).replace("'", "''") + "'"


def _type_ok(dtype: Any, duck_type: str) -> bool:
    t = duck_type.upper()
    if isinstance(dtype, pandas_engine.Decimal):
        return t == f"DECIMAL({dtype.precision},{dtype.scale})"
    s = str(dtype).lower()
    if "int" in s:
        return t in ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "UBIGINT", "UINTEGER", "HUGEINT")
    if "bool" in s:
        return t == "BOOLEAN"
    if "float" in s:
        return t in ("DOUBLE", "FLOAT")
    return t == "VARCHAR"


def contract_queries(model: type[pa.DataFrameModel], relation: str) -> list[tuple[str, str]]:
    """``(rule, SQL predicate that a row must satisfy)`` for every rule of the model."""
    schema = model.to_schema()
    rules: list[tuple[str, str]] = []
    for name, col in schema.columns.items():
        c = _q(name)
        if not col.nullable:
            rules.append((f"{name}: not null", f"{c} IS NOT NULL"))
        for ch in col.checks:
            st = getattr(ch, "statistics", None) or {}
            pred = {
                "isin": lambda c, st=st: f"{c} IN ({', '.join(_lit(v) for v in st['allowed_values'])})",
                "greater_than": lambda c, st=st: f"{c} > {_lit(st['min_value'])}",
                "greater_than_or_equal_to": lambda c, st=st: f"{c} >= {_lit(st['min_value'])}",
                "less_than": lambda c, st=st: f"{c} < {_lit(st['max_value'])}",
                "less_than_or_equal_to": lambda c, st=st: f"{c} <= {_lit(st['max_value'])}",
                "str_matches": lambda c, st=st: f"regexp_full_match({c}, {_lit(st['pattern'])})",
                "str_length": lambda c, st=st: " AND ".join(
                    p for p in [f"length({c}) >= {st['min_value']}" if st.get("min_value") is not None else "",
                                f"length({c}) <= {st['max_value']}" if st.get("max_value") is not None else ""]
                    if p) or "TRUE",
            }.get(ch.name)
            if pred is None:
                raise ContractSqlError(f"{model.__name__}.{name}: check {ch.name!r} has no SQL translation; add one "
                                       "to sync_pipeline.store.contract_sql or validate this partition with pandera")
            rules.append((f"{name}: {ch.name} {st}", f"{c} IS NULL OR ({pred(c)})"))
    for ch in schema.checks:
        key = (model.__name__, ch.name)
        if key in _UNIQUE_KEYS:
            continue
        if key not in FRAME_CHECKS_SQL:
            raise ContractSqlError(f"{model.__name__}: frame check {ch.name!r} has no SQL translation in "
                                   "sync_pipeline.store.contract_sql.FRAME_CHECKS_SQL")
        rules.append((f"frame: {ch.name}", FRAME_CHECKS_SQL[key]))
    return rules


def check_relation(con: duckdb.DuckDBPyConnection, model: type[pa.DataFrameModel], relation: str) -> list[str]:
    """Problems found (empty list: the relation satisfies the contract)."""
    problems: list[str] = []
    schema = model.to_schema()
    types = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()}
    if schema.strict and set(types) - set(schema.columns):
        problems.append(f"columns not in the contract: {sorted(set(types) - set(schema.columns))}")
    for name, col in schema.columns.items():
        if name not in types:
            problems.append(f"{name}: column missing")
        elif not _type_ok(col.dtype, types[name]):
            problems.append(f"{name}: type {types[name]} does not match the contract's {col.dtype}")
    if problems:
        return problems
    rules = contract_queries(model, relation)
    unique = [name for name, col in schema.columns.items() if col.unique]
    # one scan for every rule and every unique column
    selects = [f"count(*) FILTER (WHERE NOT ({p}))" for _, p in rules]
    selects += [f"count({_q(u)}) - count(DISTINCT {_q(u)})" for u in unique]
    if selects:
        counts = con.execute("SELECT " + ", ".join(selects) + f" FROM {relation}").fetchall()[0]
        for (rule, pred), n in zip(rules, counts[:len(rules)], strict=True):
            if n:
                sample = con.execute(f"SELECT * FROM {relation} WHERE NOT ({pred}) LIMIT 3").fetchall()
                problems.append(f"{rule}: {n} row(s) fail, e.g. {sample}")
        for name, dup in zip(unique, counts[len(rules):], strict=True):
            if dup:
                problems.append(f"{name}: unique: {dup} duplicate value(s)")
    for ch in schema.checks:
        keys = _UNIQUE_KEYS.get((model.__name__, ch.name))
        if keys:
            cols = ", ".join(_q(k) for k in keys)
            dup = con.execute(f"SELECT count(*) FROM (SELECT {cols} FROM {relation} GROUP BY ALL HAVING count(*) > 1)"
                              ).fetchall()[0][0]
            if dup:
                problems.append(f"frame: {ch.name}: {dup} duplicated key(s) ({', '.join(keys)})")
    return problems


def check_parquet(con: duckdb.DuckDBPyConnection, model: type[pa.DataFrameModel], path: str) -> list[str]:
    return check_relation(con, model, parquet_relation(path))
