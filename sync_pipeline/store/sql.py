"""A small runner for the SQL models in ``dbt_like_sql/``.

One model per file, named after the file. A model refers to sources (warehouse
relations registered by the caller) and to other models by plain table name; the
runner orders models by those references and runs each as a temp table with bound
named parameters (``$entity``, ``$period`` ...). Values are never formatted into SQL.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any

import duckdb
import pyarrow

from sync_pipeline.store.files import private_dir, private_file

SQL_DIR = Path(__file__).resolve().parents[2] / "dbt_like_sql"
_IDENT = re.compile(r"\b(?:from|join)\s+([a-z_][a-z0-9_]*)", re.IGNORECASE)
_PARAM = re.compile(r"(?<![:$\w])\$([a-z_][a-z0-9_]*)", re.IGNORECASE)


def string_literal(value: str | Path) -> str:
    """A value as a SQL string literal, where DuckDB cannot bind a parameter (``COPY ... TO``, view
    definitions, ``SET``)."""
    return "'" + str(value).replace("'", "''") + "'"


def copy_to_parquet(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any], dest: Path) -> None:
    """Run ``sql`` (parameters bound) straight into a zstd Parquet file, DuckDB end to end."""
    private_dir(dest.parent)
    con.execute(f"COPY ({sql}) TO {string_literal(dest)} (FORMAT parquet, COMPRESSION zstd)", params)
    private_file(dest)


def parquet_relation(files: str | Path, *, row_numbers: bool = False) -> str:
    """``read_parquet(...)`` of a file or glob with the files' own columns only (a warehouse path's
    ``entity=...`` folder is not turned into a column); ``row_numbers`` adds ``file_row_number``."""
    extra = ", file_row_number = true" if row_numbers else ""
    return f"read_parquet({string_literal(files)}, hive_partitioning = false{extra})"


def view_over_parquet(con: duckdb.DuckDBPyConnection, name: str, files: str | Path, *,
                      row_numbers: bool = False) -> None:
    """``name`` as a temporary view over a Parquet file or glob (:func:`parquet_relation`)."""
    con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM {parquet_relation(files, row_numbers=row_numbers)}")


class SqlModelError(RuntimeError):
    pass


def _strip_comments(sql: str) -> str:
    return re.sub(r"--[^\n]*", "", sql)


class SqlModels:
    def __init__(self, sql_dir: str | Path = SQL_DIR) -> None:
        self.sql_dir = Path(sql_dir)
        self.models: dict[str, str] = {
            p.stem: p.read_text(encoding="utf-8") for p in sorted(self.sql_dir.glob("*.sql"))
        }

    def references(self, name: str) -> set[str]:
        return {m.lower() for m in _IDENT.findall(_strip_comments(self.models[name]))}

    def params(self, name: str) -> set[str]:
        return set(_PARAM.findall(_strip_comments(self.models[name])))

    def plan(self, targets: Iterable[str], sources: Iterable[str] = ()) -> list[str]:
        """Models needed for the targets, in dependency order; ``sources`` are given, not built."""
        given = set(sources)
        graph: dict[str, set[str]] = {}
        todo = list(targets)
        while todo:
            name = todo.pop()
            if name in graph or name in given:
                continue
            if name not in self.models:
                raise SqlModelError(f"no SQL model {name!r} in {self.sql_dir}")
            deps = {r for r in self.references(name) if r in self.models and r not in given}
            graph[name] = deps
            todo.extend(deps)
        try:
            return list(TopologicalSorter(graph).static_order())
        except CycleError as e:
            raise SqlModelError(f"SQL models reference each other in a cycle: {e.args[1]}") from None

    def run(self, con: duckdb.DuckDBPyConnection, targets: Iterable[str], params: Mapping[str, Any],
            sources: Iterable[str] = (), *, fetch: bool = True) -> dict[str, pyarrow.Table]:
        """Run the targets (and the models they need that are not given as ``sources``).

        Returns each target as an Arrow table (DECIMAL columns stay exact decimals); with ``fetch=False``
        nothing is returned and the targets stay temp tables on ``con`` (big intermediate results).
        """
        targets = list(targets)
        for name in self.plan(targets, sources):
            needed = self.params(name)
            missing = needed - set(params)
            if missing:
                raise SqlModelError(f"SQL model {name!r} needs parameters {sorted(missing)}")
            bound = {k: params[k] for k in needed}
            try:
                con.execute(f'CREATE OR REPLACE TEMP TABLE "{name}" AS {self.models[name]}', bound)
            except duckdb.Error as e:
                raise SqlModelError(f"SQL model {name!r} ({self.sql_dir / (name + '.sql')}) failed: {e}") from e
        if not fetch:
            return {}
        return {t: con.sql(f'SELECT * FROM "{t}"').to_arrow_table() for t in targets}
