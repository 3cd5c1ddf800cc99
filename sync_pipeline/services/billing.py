"""Billing: raw entries → classified entries → billables → invoice draft lines.

The heavy path is DuckDB SQL (``dbt_like_sql/``) over Arrow or Parquet; Python touches only the mapping
(a few relations) and the aggregated lines (one row per invoice line). The mapping document becomes four
small relations the models join: ``map_clients`` (source id and aliases → canonical client, invoice
currency, rules), ``map_projects``, ``map_tasks`` and ``rate_cards`` (one row per card, by level).
"""

from __future__ import annotations

from contextlib import ExitStack
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from sync_pipeline.contracts.mapping import EntityConfig
from sync_pipeline.contracts.warehouse import Billable, CleanTimeEntry
from sync_pipeline.domain.billing import (
    ClientTerms,
    ConservationResult,
    EntryFacts,
    LineRules,
    ProjectTerms,
    TaskTerms,
    TaxCodeRule,
    check_conservation_facts,
    finalize_draft_lines,
)
from sync_pipeline.domain.entities import DEFAULT_THRESHOLD
from sync_pipeline.domain.entities import merge_proposals as entity_merge_proposals
from sync_pipeline.domain.fx import FxRate
from sync_pipeline.domain.money import MINOR_UNITS
from sync_pipeline.domain.periods import Period
from sync_pipeline.services import fx as fx_service
from sync_pipeline.store.contract_sql import check_parquet
from sync_pipeline.store.hours_reviews import DAY_DECISIONS_SCHEMA
from sync_pipeline.store.sql import SQL_DIR, SqlModels, copy_to_parquet, string_literal, view_over_parquet
from sync_pipeline.store.warehouse import ContractViolation, Warehouse

# optional raw columns: absent in extracts written before RawTimeEntry v2 (billed_elsewhere: before it was
# extracted), NULL then
OPTIONAL_RAW_COLUMNS = {"started_at": "VARCHAR", "timezone": "VARCHAR", "approval_status": "VARCHAR",
                        "approved_by": "VARCHAR", "approved_at": "VARCHAR", "billed_elsewhere": "VARCHAR",
                        "source_problem": "VARCHAR"}
FAR_FUTURE = date(9999, 12, 31)
MACROS = SQL_DIR / "macros" / "billing.sql"

_ROUND = [("r_increment", pa.int64()), ("r_mode", pa.string()), ("r_scope", pa.string()),
          ("r_minimum", pa.int64()), ("unit", pa.string()), ("hours_per_day", pa.decimal128(6, 2))]
MAP_SCHEMAS: dict[str, pa.Schema] = {
    "map_clients": pa.schema([("source_client_id", pa.string()), ("client_id", pa.string()),
                              ("client_name", pa.string()), ("invoice_currency", pa.string()),
                              ("internal", pa.bool_()), *_ROUND]),
    "map_projects": pa.schema([("project_id", pa.string()), ("project_name", pa.string()), ("billing", pa.string()),
                               ("retainer_hours", pa.decimal128(12, 6)), *_ROUND,
                               ("expense_markup_percent", pa.decimal128(9, 4))]),
    "map_tasks": pa.schema([("task_id", pa.string()), ("task_description", pa.string()),
                            ("task_billable", pa.bool_())]),
    "rate_cards": pa.schema([("card_id", pa.string()), ("level", pa.string()), ("match_key", pa.string()),
                             ("rate", pa.decimal128(18, 6)), ("list_rate", pa.decimal128(18, 6)),
                             ("billable_percent", pa.decimal128(9, 4)), ("currency", pa.string()),
                             ("valid_from", pa.date32()), ("valid_to", pa.date32())]),
}


def _rounding_cols(rule: Any, units: Any) -> dict[str, Any]:
    return {
        "r_increment": rule.increment_minutes if rule else None,
        "r_mode": rule.mode if rule else None,
        "r_scope": rule.scope if rule else None,
        "r_minimum": rule.minimum_minutes if rule else None,
        "unit": units.unit if units else None,
        "hours_per_day": units.hours_per_day if units else None,
    }


def mapping_relations(entity: EntityConfig) -> dict[str, pa.Table]:
    """The entity's mapping as the four relations the SQL models join."""
    clients = []
    for c in entity.clients:
        for sid in [c.source_id, *c.aliases]:
            clients.append({"source_client_id": sid, "client_id": c.source_id, "client_name": c.name,
                            "invoice_currency": c.currency, "internal": c.internal,
                            **_rounding_cols(c.rounding, c.units)})
    projects = [{"project_id": p.source_id, "project_name": p.name, "billing": p.billing,
                 "retainer_hours": p.retainer.hours if p.retainer else None,
                 **_rounding_cols(p.rounding, p.units), "expense_markup_percent": p.expense_markup_percent}
                for p in entity.projects]
    tasks = [{"task_id": t.source_id, "task_description": t.description, "task_billable": t.billable}
             for t in entity.tasks]
    cards = []
    for i, rc in enumerate(entity.rate_cards):  # the mapping refuses overlapping cards of one level and key
        level, key, to = rc.level, rc.match_key, rc.valid_to or FAR_FUTURE
        effective = (rc.rate * rc.billable_percent / Decimal(100)).quantize(Decimal("0.000001"), ROUND_HALF_UP)
        cards.append({"card_id": str(i), "level": level, "match_key": key, "rate": effective, "list_rate": rc.rate,
                      "billable_percent": rc.billable_percent, "currency": rc.currency,
                      "valid_from": rc.valid_from, "valid_to": to})
    rows = {"map_clients": clients, "map_projects": projects, "map_tasks": tasks, "rate_cards": cards}
    return {name: pa.Table.from_pylist(rows[name], schema=schema) for name, schema in MAP_SCHEMAS.items()}


def sql_params(entity: EntityConfig, period: Period, today: date) -> dict[str, Any]:
    r, u = entity.rounding, entity.units
    return {
        "entity": entity.key, "period": period.key, "period_start": period.start.isoformat(),
        "period_end": period.end.isoformat(), "today": today.isoformat(), "timezone": entity.timezone,
        "require_approval": entity.require_approval, "currencies": sorted(MINOR_UNITS),
        # the highest rate per currency (contracts.mapping.RateLimits): a source system's rate above it is quarantined
        "rate_limit_currencies": sorted(MINOR_UNITS),
        "rate_limit_values": [str(entity.rate_limits.of(c)) for c in sorted(MINOR_UNITS)],
        "locked_through": entity.locked_through.isoformat() if entity.locked_through else None,
        "max_hours_per_entry": str(entity.max_hours_per_entry),
        "max_hours_per_day": str(entity.max_hours_per_day), "strict_clients": bool(entity.clients),
        "strict_projects": bool(entity.projects), "use_source_rates": entity.use_source_rates,
        "grouping": "client", "revision": "1",
        "r_increment": r.increment_minutes, "r_mode": r.mode, "r_scope": r.scope, "r_minimum": r.minimum_minutes,
        "unit": u.unit, "hours_per_day": str(u.hours_per_day),
        "use_source_markup": entity.expenses.use_source_markup,
        "expense_markup_percent": str(entity.expenses.markup_percent),
    }


def connect(entity: EntityConfig, threads: int | None = None, memory_limit: str | None = None,
            spill_dir: str | Path | None = None, day_decisions: pa.Table | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the entity's mapping relations, the billing macros and ``day_decisions`` (the
    recorded decisions on person-days held for review; none: every over-limit day stays held)."""
    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if memory_limit:
        con.execute(f"SET memory_limit = {string_literal(memory_limit)}")
    if spill_dir:
        con.execute(f"SET temp_directory = {string_literal(spill_dir)}")
    # the models sort where order matters (string_agg ... ORDER BY); output files may be written in parallel
    con.execute("SET preserve_insertion_order = false")
    for name, table in mapping_relations(entity).items():
        con.register(name, table)
    con.register("day_decisions", day_decisions if day_decisions is not None else DAY_DECISIONS_SCHEMA.empty_table())
    _create_macros(con)
    return con


def _create_macros(con: duckdb.DuckDBPyConnection) -> None:
    for stmt in MACROS.read_text(encoding="utf-8").split(";\n"):
        body = "\n".join(line for line in stmt.splitlines() if not line.strip().startswith("--")).strip()
        if body:
            con.execute(body)


def register_raw(con: duckdb.DuckDBPyConnection, relation: str = "raw_time_entries") -> None:
    """``raw_entries``: the raw relation with every optional column present (NULL when the extract lacks it)."""
    have = set(con.sql(f'SELECT * FROM "{relation}" LIMIT 0').columns)
    extra = ", ".join(f"CAST(NULL AS {t}) AS {c}" for c, t in OPTIONAL_RAW_COLUMNS.items() if c not in have)
    con.execute(f'CREATE OR REPLACE TEMP VIEW raw_entries AS SELECT *{", " + extra if extra else ""} FROM "{relation}"')


def merge_proposals(raw: pd.DataFrame, entity: EntityConfig, threshold: float = DEFAULT_THRESHOLD) -> pd.DataFrame:
    """Duplicate-looking clients and projects of a partition's raw entries, as proposals with scores."""
    rows = []
    accepted = [(c.source_id, a) for c in entity.clients for a in c.aliases]
    for kind, id_col, name_col, done in (("client", "client_id", "client_name", accepted),
                                         ("project", "project_id", "project_name", [])):
        pairs = raw[[id_col, name_col]].dropna().drop_duplicates(id_col) if len(raw) else raw
        records = {str(i): str(n) for i, n in zip(pairs[id_col], pairs[name_col], strict=True)} if len(pairs) else {}
        for p in entity_merge_proposals(records, threshold, done):
            rows.append({"entity": entity.key, "kind": kind, "keep_id": p.keep_id, "keep_name": p.keep_name,
                         "duplicate_id": p.duplicate_id, "duplicate_name": p.duplicate_name, "score": p.score,
                         "standardized": p.standardized, "how_to_accept": p.how_to_accept if kind == "client" else
                         f"merge project {p.duplicate_id} into {p.keep_id} in the project system"})
    return pd.DataFrame(rows, columns=["entity", "kind", "keep_id", "keep_name", "duplicate_id", "duplicate_name",
                                       "score", "standardized", "how_to_accept"])


def currencies_needed(raw: pd.DataFrame, entity: EntityConfig) -> set[str]:
    """Currencies a partition converts between: the base, every known client currency, mapped currencies."""
    found = {c for c in raw["client_currency"].dropna().unique() if c in MINOR_UNITS} if len(raw) else set()
    mapped = {c.currency for c in entity.clients if c.currency} | {rc.currency for rc in entity.rate_cards if rc.currency}
    return found | mapped | {entity.base_currency}


def contract_rates_frame(entity: EntityConfig) -> pd.DataFrame:
    """The clients' contract rates as ``fx_rates`` rows (kind ``contract``)."""
    frames = [fx_service.contract_rates(c.source_id, c.fx.contract_base, c.currency or entity.base_currency,
                                        c.fx.contract_rate, c.fx.agreed_on, c.fx.agreed_on.isoformat())
              for c in entity.clients if c.fx.policy == "contract"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=fx_service.FX_COLUMNS)


def line_rules(entity: EntityConfig) -> LineRules:
    clients = {}
    for c in entity.clients:
        code = entity.tax_code(c.jurisdiction)
        clients[c.source_id] = ClientTerms(c.source_id, TaxCodeRule(code.tax_type, code.rate_percent),
                                           c.discount_percent, c.contact_number, c.payment_terms_days)
    projects = {p.source_id: ProjectTerms(
        p.source_id, p.client, p.name, p.billing, p.item_code, p.tracking_category, p.tracking_option, p.account_code,
        tuple((m.name, m.amount, m.on) for m in p.milestones), p.retainer.fee if p.retainer else None,
        p.retainer.hours if p.retainer else None,
        entity.billing_currency(p.client),
    ) for p in entity.projects}
    tasks = {t.source_id: TaskTerms(t.source_id, t.item_code, t.account_code) for t in entity.tasks}
    default = entity.tax_code(None)
    exp = entity.expenses
    expense_tax = entity.tax_code(exp.tax_jurisdiction) if exp.tax_jurisdiction else None
    return LineRules(account_code=entity.sales_account_code, tax_type=default.tax_type,
                     tax_rate_percent=default.rate_percent, amounts=entity.tax.amounts,
                     tax_rounding=entity.tax.rounding, discount_account_code=entity.discount_account_code,
                     base_currency=entity.base_currency, clients=clients, projects=projects, tasks=tasks,
                     expense_account_code=exp.account_code,
                     expense_tax=TaxCodeRule(expense_tax.tax_type, expense_tax.rate_percent) if expense_tax else None)


class FxForPeriod:
    """Conversions for one partition: each client's stored rate on the invoice date (or its contract rate).

    One lookup per (client, from, to): a partition's lines share a handful of rates.
    """

    def __init__(self, rates: pd.DataFrame, on: date) -> None:
        self.rates = rates
        self.on = on
        contract_clients = set(rates.loc[rates["kind"] == "contract", "client_id"].dropna()) if len(rates) else set()
        self._reference = fx_service.rate_table(rates)
        self._contract = {c: fx_service.rate_table(rates, client_id=c) for c in contract_clients}
        self._memo: dict[tuple[str, str, str], FxRate] = {}

    def __call__(self, client_id: str, base: str, quote: str) -> FxRate:
        table = self._contract.get(client_id, self._reference)
        key = (client_id if client_id in self._contract else "", base, quote)
        if key not in self._memo:
            self._memo[key] = table.rate(base, quote, self.on)
        return self._memo[key]


def invoice_date(period: Period, today: date) -> date:
    return min(period.end, today)


# ---- pandas in / pandas out (unit-sized data: the golden tests, the CLI import; the same SQL models) --------

def _run(con: duckdb.DuckDBPyConnection, target: str, params: dict[str, Any], sources: list[str],
         models: SqlModels | None) -> pd.DataFrame:
    models = models or SqlModels()
    df = models.run(con, [target], params, sources=sources)[target].to_pandas()
    if "entry_id" in df.columns:  # a stable order, so a re-run writes the same file
        df = df.sort_values("entry_id", kind="stable").reset_index(drop=True)
    return df


def clean_time_entries(raw: pd.DataFrame, entity: EntityConfig, period: Period, today: date,
                       models: SqlModels | None = None, day_decisions: pa.Table | None = None) -> pd.DataFrame:
    con = connect(entity, day_decisions=day_decisions)
    con.register("raw_time_entries", raw)
    register_raw(con)
    return _run(con, "clean_time_entries", sql_params(entity, period, today),
                ["raw_entries", *MAP_SCHEMAS, "day_decisions"], models)


def billables(clean: pd.DataFrame, entity: EntityConfig, period: Period, today: date | None = None,
              models: SqlModels | None = None) -> pd.DataFrame:
    con = connect(entity)
    con.register("clean_time_entries", clean)
    return _run(con, "billables", sql_params(entity, period, today or period.end), ["clean_time_entries", *MAP_SCHEMAS],
                models)


def invoice_draft_lines(billable: pd.DataFrame, entity: EntityConfig, period: Period,
                        rates: pd.DataFrame | None = None, today: date | None = None,
                        models: SqlModels | None = None,
                        expense_billables: pd.DataFrame | None = None) -> pd.DataFrame:
    """The partition's invoice draft lines: its time lines and, when given, its expense lines, on the same drafts."""
    con = connect(entity)
    con.register("billables", billable)
    lines = _run(con, "invoice_draft_lines", {}, ["billables"], models)
    expenses = expense_draft_lines(expense_billables, models) if expense_billables is not None else None
    return finalize_lines(lines, entity, period, rates, today, expenses)


def finalize_lines(lines: pd.DataFrame, entity: EntityConfig, period: Period, rates: pd.DataFrame | None,
                   today: date | None, expense_lines: pd.DataFrame | None = None) -> pd.DataFrame:
    on = invoice_date(period, today or period.end)
    fx = FxForPeriod(rates if rates is not None else pd.DataFrame(columns=fx_service.FX_COLUMNS), on)
    return finalize_draft_lines(lines, entity.key, period.key, line_rules(entity), fx, period.start, period.end,
                                expense_lines=expense_lines)


# ---- expenses: raw → clean → billables (marked up) → expense lines on the same drafts -----------------

def clean_expenses(raw: pd.DataFrame, entity: EntityConfig, period: Period, today: date,
                   models: SqlModels | None = None) -> pd.DataFrame:
    con = connect(entity)
    if "source_problem" not in raw.columns:  # extracts written before strict reading: every record read
        raw = raw.assign(source_problem=pd.Series([None] * len(raw), dtype=object, index=raw.index))
    con.register("raw_expenses", raw)
    df = _run(con, "clean_expenses", sql_params(entity, period, today), ["raw_expenses", *MAP_SCHEMAS], models)
    return df.sort_values("expense_id", kind="stable").reset_index(drop=True)


def expense_billables(clean: pd.DataFrame, entity: EntityConfig, period: Period,
                      models: SqlModels | None = None) -> pd.DataFrame:
    con = connect(entity)
    con.register("clean_expenses", clean)
    df = _run(con, "expense_billables", sql_params(entity, period, period.end), ["clean_expenses"], models)
    return df.sort_values("expense_id", kind="stable").reset_index(drop=True)


def expense_draft_lines(billable: pd.DataFrame, models: SqlModels | None = None) -> pd.DataFrame:
    """One row per expense line (invoice x project x category x markup x refund), before money rounding."""
    con = duckdb.connect()
    con.register("expense_billables", billable)
    return _run(con, "expense_draft_lines", {}, ["expense_billables"], models)


# ---- Parquet in / Parquet out (the Dagster assets and the bench: entries never go through pandas) ------

def _model_to_parquet(con: duckdb.DuckDBPyConnection, name: str, params: dict[str, Any], dest: Path,
                      contract: type[Any], models: SqlModels | None) -> list[str]:
    """Run one model into ``dest`` and check its pandera contract in SQL over the file (``store.contract_sql``:
    one scan). Returns the problems; empty means the file satisfies the contract. The model's output is then
    the view ``name`` for the next model."""
    models = models or SqlModels()
    copy_to_parquet(con, models.models[name], {k: params[k] for k in models.params(name)}, dest)
    problems = check_parquet(con, contract, str(dest))
    view_over_parquet(con, name, dest)
    return problems


def clean_time_entries_parquet(con: duckdb.DuckDBPyConnection, raw: str | Path, dest: Path, entity: EntityConfig,
                               period: Period, today: date, models: SqlModels | None = None) -> list[str]:
    """``clean_time_entries`` from raw Parquet (a file or a glob) to ``dest``; returns contract problems.
    Rows come in no particular order (sorting 5M ids by text costs more than cleaning them)."""
    view_over_parquet(con, "raw_time_entries", raw)
    register_raw(con)
    return _model_to_parquet(con, "clean_time_entries", sql_params(entity, period, today), dest, CleanTimeEntry,
                             models)


def billables_parquet(con: duckdb.DuckDBPyConnection, clean: str | Path, dest: Path, entity: EntityConfig,
                      period: Period, today: date, models: SqlModels | None = None) -> list[str]:
    """``billables`` from a ``clean_time_entries`` Parquet file to ``dest``; returns contract problems."""
    view_over_parquet(con, "clean_time_entries", clean)
    return _model_to_parquet(con, "billables", sql_params(entity, period, today), dest, Billable, models)


def invoice_draft_lines_parquet(con: duckdb.DuckDBPyConnection, billables_file: str | Path, entity: EntityConfig,
                                period: Period, rates: pd.DataFrame | None = None, today: date | None = None,
                                models: SqlModels | None = None,
                                expense_billables: pd.DataFrame | None = None) -> pd.DataFrame:
    """The draft lines from a ``billables`` Parquet file: DuckDB aggregates the entries into one row per line,
    only those rows come to pandas to be finalized (Xero's arithmetic, FX, tax)."""
    models = models or SqlModels()
    view_over_parquet(con, "billables", billables_file)
    lines = con.sql(models.models["invoice_draft_lines"]).to_arrow_table().to_pandas()
    expenses = expense_draft_lines(expense_billables, models) if expense_billables is not None else None
    return finalize_lines(lines, entity, period, rates, today, expenses)


# ---- a stored partition: warehouse file in, warehouse file out (what the Dagster assets call) ---------------
# ``duckdb_settings``: ``threads`` / ``memory_limit`` / ``spill_dir`` of :func:`connect` (the bench sets them).

def clean_time_entries_partition(wh: Warehouse, entity: EntityConfig, period: Period, today: date,
                                 models: SqlModels | None = None, day_decisions: pa.Table | None = None,
                                 **duckdb_settings: Any) -> dict[str, Any]:
    """The ``clean_time_entries`` partition from the stored raw one, DuckDB file to file; published only when
    it satisfies ``CleanTimeEntry``. Returns what the asset reports: rows, dispositions, quarantined sample."""
    e, p = entity.key, period.key
    con = connect(entity, day_decisions=day_decisions, **duckdb_settings)
    try:
        with wh.local_file("raw_time_entries", e, p) as raw, wh.staged_file("clean_time_entries", e, p) as dest:
            problems = clean_time_entries_parquet(con, raw, dest, entity, period, today, models)
            ContractViolation.refuse("clean_time_entries", CleanTimeEntry, problems)
            dispositions = dict(con.execute("SELECT disposition, count(*) FROM clean_time_entries GROUP BY 1 "
                                            "ORDER BY 1").fetchall())
            quarantined = con.sql("SELECT entry_id, spent_date, hours, reason FROM clean_time_entries "
                                  "WHERE disposition = 'quarantined' ORDER BY entry_id LIMIT 10").df()
        return {"rows": sum(dispositions.values()), "dispositions": dispositions, "quarantined": quarantined}
    finally:
        con.close()


def billables_partition(wh: Warehouse, entity: EntityConfig, period: Period, today: date,
                        models: SqlModels | None = None, **duckdb_settings: Any) -> dict[str, Any]:
    """The ``billables`` partition from the stored ``clean_time_entries`` one, DuckDB file to file; published only
    when it satisfies ``Billable``. Returns rows, exact value per currency and the first rows by entry id."""
    e, p = entity.key, period.key
    con = connect(entity, **duckdb_settings)
    try:
        with wh.local_file("clean_time_entries", e, p) as clean, wh.staged_file("billables", e, p) as dest:
            ContractViolation.refuse("billables", Billable,
                                     billables_parquet(con, clean, dest, entity, period, today, models))
            totals = con.execute("SELECT currency, count(*), sum(value) FROM billables GROUP BY 1 ORDER BY 1"
                                 ).fetchall()
            head = con.sql("SELECT * FROM billables ORDER BY entry_id LIMIT 10").df()
        return {"rows": sum(int(n) for _, n, _ in totals),
                "value_per_currency": {str(c): str(v) for c, _, v in totals}, "preview": head}
    finally:
        con.close()


def invoice_drafts_partition(wh: Warehouse, entity: EntityConfig, period: Period, today: date,
                             models: SqlModels | None = None, **duckdb_settings: Any) -> pd.DataFrame:
    """The partition's draft lines (time and expense) from its stored billables, expense billables and rates;
    the caller writes them (a few thousand rows at most: pandera validates them as they are)."""
    e, p = entity.key, period.key
    expenses = wh.read("expense_billables", e, p) if wh.exists("expense_billables", e, p) else None
    con = connect(entity, **duckdb_settings)
    try:
        with wh.local_file("billables", e, p) as bills:
            return invoice_draft_lines_parquet(con, bills, entity, period, rates=wh.read("fx_rates", e, p),
                                               today=today, models=models, expense_billables=expenses)
    finally:
        con.close()


# ---- conservation in SQL (big partitions: the entries stay in DuckDB, only the draft lines are in pandas) ----

def entry_facts_sql(con: duckdb.DuckDBPyConnection, raw: str, clean: str, billables: str,
                    drafts: pd.DataFrame, clean_ids_unique: bool = False) -> EntryFacts:
    """:class:`EntryFacts` from relations (views, tables or ``read_parquet(...)``); no entry goes to Python.

    Line membership is proven on the ids themselves: the time lines' ``source_entry_ids`` are split in DuckDB
    and joined to the billable entries once. With D the cited ids and B the billable rows: no id in D twice,
    every id in D found in B, |D| = |B| and as many join rows as |B| -- so B's ids are distinct and are
    exactly D (each billable entry on exactly one line, no line citing anything else). Only when that fails
    are the offending ids looked up for the report. ``clean_ids_unique``: the caller has just checked
    ``clean``'s contract (``entry_id`` unique), so its distinct count is not taken again.
    """
    raw_count = con.execute(f"SELECT count(*) FROM {raw}").fetchall()[0][0]
    if clean_ids_unique:
        clean_count = clean_distinct = con.execute(f"SELECT count(*) FROM {clean}").fetchall()[0][0]
    else:
        clean_count, clean_distinct = con.execute(
            f"SELECT count(*), count(DISTINCT entry_id) FROM {clean}").fetchall()[0]
    counts: dict[str, int] = {}
    held: dict[str, Decimal] = {}
    for disposition, ccy, n, value in con.execute(
            f"SELECT disposition, currency, count(*), coalesce(sum(CASE WHEN hours IS NOT NULL AND rate IS NOT NULL "
            f"THEN CAST(hours AS DECIMAL(38, 6)) * rate END), 0) FROM {clean} GROUP BY ALL").fetchall():
        counts[str(disposition)] = counts.get(str(disposition), 0) + int(n)
        if disposition == "held" and ccy is not None:
            held[str(ccy)] = Decimal(value)
    source: dict[str, Decimal] = {}
    billable_rows = 0
    for ccy, n, value in con.execute(f"SELECT currency, count(*), sum(value) FROM {billables} GROUP BY 1").fetchall():
        source[str(ccy)], billable_rows = Decimal(value), billable_rows + int(n)
    time = drafts[drafts["kind"] == "time"] if len(drafts) and "kind" in drafts else drafts
    lines = pa.table({"source_entry_ids": pa.array([str(x) for x in time["source_entry_ids"]] if len(time) else [],
                                                   pa.string())})
    cited = ("(SELECT id FROM (SELECT unnest(string_split(source_entry_ids, ',')) AS id FROM _drafted_lines) "
             "WHERE id <> '')")
    con.register("_drafted_lines", lines)
    try:
        drafted, drafted_distinct, unmatched, join_rows = con.execute(
            f"SELECT count(*), count(DISTINCT d.id), count(*) FILTER (WHERE b.entry_id IS NULL), count(b.entry_id) "
            f"FROM {cited} AS d LEFT JOIN (SELECT entry_id FROM {billables}) AS b ON b.entry_id = d.id").fetchall()[0]
        missing: list[str] = []
        extra: list[str] = []
        billable_distinct = billable_rows  # proven by the counts below when they agree
        if not (drafted == drafted_distinct == join_rows == billable_rows and unmatched == 0):
            missing = [r[0] for r in con.execute(
                f"SELECT entry_id FROM {billables} AS b ANTI JOIN {cited} AS d ON d.id = b.entry_id "
                "ORDER BY entry_id LIMIT 10").fetchall()]
            extra = [r[0] for r in con.execute(
                f"SELECT DISTINCT id FROM {cited} AS d ANTI JOIN {billables} AS b ON b.entry_id = d.id "
                "ORDER BY id LIMIT 10").fetchall()]
            billable_distinct = con.execute(f"SELECT count(DISTINCT entry_id) FROM {billables}").fetchall()[0][0]
    finally:
        con.unregister("_drafted_lines")
    return EntryFacts(raw_count=int(raw_count), clean_count=int(clean_count), clean_distinct=int(clean_distinct),
                      counts=counts, billable_rows=billable_rows, source_value=source, held_value=held,
                      drafted_ids=int(drafted), drafted_distinct=int(drafted_distinct), missing=missing, extra=extra,
                      billable_distinct=int(billable_distinct))


def check_conservation_sql(con: duckdb.DuckDBPyConnection, raw: str, clean: str, billables: str,
                           drafts: pd.DataFrame, clean_ids_unique: bool = False, **expenses: Any) -> ConservationResult:
    """Conservation (``domain.billing.check_conservation_facts``) with the entry facts computed in DuckDB;
    ``expenses``: the partition's expense stages (:func:`expense_frames`), small enough for pandas."""
    return check_conservation_facts(entry_facts_sql(con, raw, clean, billables, drafts, clean_ids_unique), drafts,
                                    **expenses)


def expense_frames(wh: Any, entity: str, period: str) -> dict[str, Any]:
    """A stored partition's expense stages for conservation (none when expenses were never cleaned)."""
    if not wh.exists("clean_expenses", entity, period):
        return {}
    return {"raw_expense_count": len(wh.read_columns("raw_expenses", entity, period, ["expense_id"])),
            "clean_expenses": wh.read("clean_expenses", entity, period),
            "expense_billables": wh.read("expense_billables", entity, period)
            if wh.exists("expense_billables", entity, period) else None}


def conservation_of_partition(wh: Any, entity: str, period: str) -> ConservationResult:
    """The conservation check of a stored partition (the blocking asset check): the same SQL as the bench,
    DuckDB scanning the warehouse's files (only the columns it needs are read)."""
    con = duckdb.connect()
    try:
        with ExitStack() as stack:
            for asset in ("raw_time_entries", "clean_time_entries", "billables"):
                view_over_parquet(con, asset, stack.enter_context(wh.local_file(asset, entity, period)))
            return check_conservation_sql(con, "raw_time_entries", "clean_time_entries", "billables",
                                          wh.read("invoice_drafts", entity, period),
                                          **expense_frames(wh, entity, period))
    finally:
        con.close()
