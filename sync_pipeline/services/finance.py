"""Finance: shared costs → classified lines (Capex/Opex) → cost allocation by declared drivers
(versioned, reproducible), project costs and revenue → project profitability, and entity results
→ consolidation in the group reporting currency. The arithmetic lives in ``dbt_like_sql/finance_*.sql``;
this module assembles the inputs (configuration tables, warehouse frames), runs the models and
returns frames that satisfy ``contracts/finance_tables.py``. No Dagster here.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from sync_pipeline.connectors.accounting import AccountingTarget
from sync_pipeline.contracts.codec import dumps
from sync_pipeline.contracts.finance import (
    AllocationOverrides,
    FinanceConfig,
    FinanceConfigError,
)
from sync_pipeline.contracts.finance_tables import FinanceCostLine, SharedCostLine
from sync_pipeline.contracts.payloads.accounting import Document
from sync_pipeline.domain.money import MINOR_UNITS, to_decimal, to_minor
from sync_pipeline.domain.periods import Period
from sync_pipeline.store.sql import SqlModels

ALLOCATION_MODELS = ("finance_driver_quantities", "finance_allocations", "finance_unallocated")
QTY = pa.decimal128(18, 6)


_local = threading.local()


def _con(tables: Mapping[str, Any]) -> duckdb.DuckDBPyConnection:
    """This thread's DuckDB connection with ``tables`` registered (opening one costs ~0.1 s, more than most
    of the models take). What the previous call registered or built is dropped first."""
    con = getattr(_local, "con", None)
    if con is None:
        con = _local.con = duckdb.connect()
        _local.registered = set()
    for name in _local.registered:
        con.unregister(name)
    for (name,) in con.sql("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall():
        con.execute(f'DROP TABLE IF EXISTS "{name}"')
    _local.registered = set(tables)
    for name, t in tables.items():
        con.register(name, t)
    return con


def _empty_frame(model) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in model.to_schema().columns})


# -- shared cost lines from the accounting system --------------------------------------------------------

def flatten_expense_document(doc: Document, *, kind: str, entity: str, period: str, extracted_at: str,
                             project_category: str = "Project") -> list[dict[str, Any]]:
    """One purchase bill (``kind='xero_bill'``) or spend bank transaction (``'xero_spend'``) from the accounting
    system → ``shared_cost_lines`` rows, one per line, amounts net of tax in integer minor units.

    A line tracked to the ``project_category`` tracking category names its project (a direct expense).
    """
    currency = doc.currency
    inclusive = doc.line_amount_types == "Inclusive"
    rows = []
    for n, li in enumerate(doc.lines, start=1):
        tax = li.tax_amount or Decimal(0)
        minor = tax_minor = None
        if li.line_amount is not None and currency in MINOR_UNITS:
            net = to_decimal(li.line_amount) - (to_decimal(tax) if inclusive else Decimal(0))
            minor, tax_minor = to_minor(net, currency), to_minor(to_decimal(tax), currency)
        tracking = [(t.category, t.option) for t in li.tracking]
        project = next((opt for name, opt in tracking if name == project_category and opt), None)
        rows.append({
            "entity": entity, "period": period,
            "line_id": f"{kind}:{doc.id}:{li.line_id or n}",
            "source": kind, "document_id": doc.id,
            "document_number": doc.number, "document_reference": doc.reference,
            "line_item_id": li.line_id, "line_no": n, "date": doc.date.isoformat() if doc.date else None,
            "contact_id": doc.contact_id, "contact_name": doc.contact_name,
            "description": li.description, "account_code": li.account_code,
            "tracking": "; ".join(f"{a}={b}" for a, b in tracking) or None, "project_ref": project,
            "currency": currency, "amount_minor": minor, "tax_minor": tax_minor,
            "status": doc.status, "extracted_at": extracted_at,
        })
    return rows


def extract_shared_costs(target: AccountingTarget, period: Period, *, entity: str, project_category: str = "Project",
                         sources: Iterable[str] = ("xero_bills", "xero_spend")) -> pd.DataFrame:
    """Expense lines of the period from the accounting system: purchase bills (AUTHORISED or PAID) and spend bank
    transactions (AUTHORISED); drafts, voided and deleted documents are not costs."""
    sources = set(sources)
    extracted_at = datetime.now(UTC).isoformat(timespec="seconds")
    span = (period.start, period.end)
    rows: list[dict[str, Any]] = []
    if "xero_bills" in sources:
        for doc in target.documents("bill", dated=span).documents:
            if doc.status in ("AUTHORISED", "PAID"):
                rows.extend(flatten_expense_document(doc, kind="xero_bill", entity=entity, period=period.key,
                                                     extracted_at=extracted_at, project_category=project_category))
    if "xero_spend" in sources:
        for doc in target.documents("bank_transaction", direction="spend", dated=span).documents:
            if doc.status == "AUTHORISED":
                rows.extend(flatten_expense_document(doc, kind="xero_spend", entity=entity, period=period.key,
                                                     extracted_at=extracted_at, project_category=project_category))
    return pd.DataFrame(rows, columns=list(SharedCostLine.to_schema().columns))


def configured_shared_costs(cfg: FinanceConfig, entity: str, period: Period) -> pd.DataFrame:
    """The configured list of shared costs for the partition, as ``shared_cost_lines`` rows."""
    rows = []
    for c in cfg.shared_costs:
        if c.entity != entity or c.period != period.key:
            continue
        rows.append({
            "entity": entity, "period": period.key, "line_id": f"configured:{c.id}", "source": "configured",
            "document_id": c.id, "document_number": None, "document_reference": None, "line_item_id": None,
            "line_no": 1, "date": c.date, "contact_id": None, "contact_name": c.contact_name,
            "description": c.description, "account_code": c.account_code, "tracking": None,
            "project_ref": c.project_id, "currency": c.currency, "amount_minor": to_minor(c.amount, c.currency),
            "tax_minor": 0, "status": "CONFIGURED", "extracted_at": "configuration",
        })
    return pd.DataFrame(rows, columns=list(SharedCostLine.to_schema().columns))


def combine_shared_costs(*frames: pd.DataFrame) -> pd.DataFrame:
    cols = list(SharedCostLine.to_schema().columns)
    parts = [f[cols] for f in frames if len(f)]
    if not parts:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in cols})
    return pd.concat(parts, ignore_index=True).sort_values("line_id").reset_index(drop=True)


# -- configuration as relations ----------------------------------------------------------------------------

@dataclass(frozen=True)
class EffectivePool:
    key: str
    name: str
    driver: str
    usage_metric: str | None
    dispositions: tuple[str, ...]
    fixed_key: tuple[tuple[str, str | None, Decimal], ...]
    methodology: str
    overridden: bool = False

    def describe(self) -> dict[str, Any]:
        return {"key": self.key, "driver": self.driver, "usage_metric": self.usage_metric,
                "dispositions": list(self.dispositions),
                "fixed_key": [{"project_id": p, "client_id": c, "weight": str(w)} for p, c, w in self.fixed_key],
                "overridden": self.overridden}


def effective_pools(cfg: FinanceConfig, entity: str, overrides: AllocationOverrides | None = None) -> list[EffectivePool]:
    """The entity's pools with a run's overrides applied; an override naming an unknown pool is an error."""
    overrides = overrides or AllocationOverrides()
    pools = {p.key: p for p in cfg.pools_for(entity)}
    by_key = {o.key: o for o in overrides.pools}
    unknown = sorted(set(by_key) - set(pools))
    if unknown:
        raise FinanceConfigError(f"re-allocation overrides name pool(s) {', '.join(unknown)} that do not apply to "
                                 f"entity {entity}; its pools are: {', '.join(sorted(pools)) or '(none)'}")
    out = []
    for key, p in sorted(pools.items()):
        o = by_key.get(key)
        driver = (o.driver if o and o.driver else p.driver)
        metric = (o.usage_metric if o and o.usage_metric else p.usage_metric)
        disp = tuple(o.dispositions if o and o.dispositions else p.dispositions)
        if o and o.fixed_key is not None:
            fk = tuple((w.project_id, w.client_id, w.weight) for w in o.fixed_key)
        else:
            fk = tuple((w.project_id, w.client_id, w.weight) for w in p.fixed_key if w.entity == entity)
        # without weights for this entity a configured fixed-key pool allocates nothing: its lines are listed
        # as unallocated with the reason (an override must name its weights)
        if driver == "usage" and not metric:
            raise FinanceConfigError(f"pool {key}: driver usage needs a usage_metric (set it in the override)")
        if driver == "fixed_key" and not fk and o is not None:
            raise FinanceConfigError(f"pool {key}: driver fixed_key needs weights for entity {entity} "
                                     "(in the finance configuration or the override's fixed_key)")
        out.append(EffectivePool(key, p.name, driver, metric, disp, fk, p.methodology, overridden=o is not None))
    return out


def _table(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=schema)


ACCOUNTS_SCHEMA = pa.schema([("code", pa.string()), ("name", pa.string()), ("expense_class", pa.string()),
                             ("capitalization_code", pa.string()), ("depreciation_code", pa.string()),
                             ("depreciation_months", pa.int64())])
POOL_ACCOUNTS_SCHEMA = pa.schema([("pool_key", pa.string()), ("account_code", pa.string())])
IC_SCHEMA = pa.schema([("counterparty", pa.string()), ("contact_name", pa.string()), ("client_id", pa.string())])
POOLS_SCHEMA = pa.schema([("pool_key", pa.string()), ("pool_name", pa.string()), ("driver", pa.string()),
                          ("usage_metric", pa.string()), ("dispositions", pa.list_(pa.string()))])
USAGE_SCHEMA = pa.schema([("project_id", pa.string()), ("client_id", pa.string()), ("metric", pa.string()),
                          ("quantity", QTY)])
FIXED_KEYS_SCHEMA = pa.schema([("pool_key", pa.string()), ("project_id", pa.string()), ("client_id", pa.string()),
                               ("weight", QTY)])
ENTRIES_SCHEMA = pa.schema([("entry_id", pa.string()), ("project_id", pa.string()), ("client_id", pa.string()),
                            ("project_name", pa.string()), ("client_name", pa.string()), ("user_id", pa.string()),
                            ("hours", pa.decimal128(12, 6)), ("disposition", pa.string())])


def classification_tables(cfg: FinanceConfig, entity: str) -> dict[str, pa.Table]:
    months = {d.code: d.months for d in cfg.depreciation_codes}
    accounts = [{"code": a.code, "name": a.name, "expense_class": a.expense_class,
                 "capitalization_code": a.capitalization_code, "depreciation_code": a.depreciation_code,
                 "depreciation_months": months.get(a.depreciation_code or "")} for a in cfg.accounts]
    pool_accounts = [{"pool_key": p.key, "account_code": acc} for p in cfg.pools_for(entity) for acc in p.accounts]
    ic = [{"counterparty": c.counterparty, "contact_name": c.contact_name, "client_id": c.client_id}
          for c in cfg.intercompany if c.entity == entity]
    return {"finance_accounts": _table(accounts, ACCOUNTS_SCHEMA),
            "finance_pool_accounts": _table(pool_accounts, POOL_ACCOUNTS_SCHEMA),
            "finance_ic": _table(ic, IC_SCHEMA)}


def driver_tables(cfg: FinanceConfig, entity: str, period: Period,
                  overrides: AllocationOverrides | None = None) -> tuple[dict[str, pa.Table], list[EffectivePool]]:
    overrides = overrides or AllocationOverrides()
    pools = effective_pools(cfg, entity, overrides)
    if overrides.usage is not None:
        usage = [{"project_id": u.project_id, "client_id": u.client_id, "metric": u.metric, "quantity": u.quantity}
                 for u in overrides.usage]
    else:
        usage = [{"project_id": u.project_id, "client_id": u.client_id, "metric": u.metric, "quantity": u.quantity}
                 for u in cfg.usage if u.entity == entity and u.period == period.key]
    tables = {
        "finance_pools": _table([{"pool_key": p.key, "pool_name": p.name, "driver": p.driver,
                                  "usage_metric": p.usage_metric, "dispositions": list(p.dispositions)}
                                 for p in pools], POOLS_SCHEMA),
        "finance_usage": _table(usage, USAGE_SCHEMA),
        "finance_fixed_keys": _table([{"pool_key": p.key, "project_id": proj, "client_id": client, "weight": w}
                                      for p in pools for proj, client, w in p.fixed_key], FIXED_KEYS_SCHEMA),
    }
    return tables, pools


# -- classification and capex --------------------------------------------------------------------------------

def classify_cost_lines(shared: pd.DataFrame, cfg: FinanceConfig, entity: str,
                        models: SqlModels | None = None) -> pd.DataFrame:
    """Every line into exactly one of shared / direct / capex / unpooled / quarantined (with reason)."""
    models = models or SqlModels()
    if shared.empty:
        return _empty_frame(FinanceCostLine)
    con = _con({"shared_cost_lines": _frame_table(shared, SharedCostLine), **classification_tables(cfg, entity)})
    out = models.run(con, ["finance_cost_lines"], {"currencies": sorted(MINOR_UNITS)},
                     sources=["shared_cost_lines", "finance_accounts", "finance_pool_accounts", "finance_ic"])
    return out["finance_cost_lines"].to_pandas()


def capex_register(cost_lines: pd.DataFrame, models: SqlModels | None = None) -> pd.DataFrame:
    """Capex lines with their capitalization code and straight-line depreciation schedule (exact to the unit)."""
    from sync_pipeline.contracts.finance_tables import CapexScheduleRow

    models = models or SqlModels()
    if cost_lines.empty or not (cost_lines["disposition"] == "capex").any():
        return _empty_frame(CapexScheduleRow)
    out = models.run(_con({"finance_cost_lines": _frame_table(cost_lines, FinanceCostLine)}), ["finance_capex_register"], {},
                     sources=["finance_cost_lines"])
    return out["finance_capex_register"].to_pandas()


# -- allocation -------------------------------------------------------------------------------------------------

@dataclass
class AllocationResult:
    version: str
    allocations: pd.DataFrame
    unallocated: pd.DataFrame
    drivers: pd.DataFrame
    inputs: dict[str, pa.Table]
    manifest: dict[str, Any]
    pools: list[EffectivePool] = field(default_factory=list)


def _entries_table(clean: pd.DataFrame) -> pa.Table:
    cols = ENTRIES_SCHEMA.names
    if clean.empty:
        return _table([], ENTRIES_SCHEMA)
    df = clean[cols].sort_values("entry_id").reset_index(drop=True)
    return pa.Table.from_pandas(df, schema=ENTRIES_SCHEMA, preserve_index=False)


def _shared_lines_table(cost_lines: pd.DataFrame) -> pa.Table:
    shared = cost_lines[cost_lines["disposition"] == "shared"] if len(cost_lines) else cost_lines
    return _frame_table(shared.sort_values("line_id").reset_index(drop=True) if len(shared) else shared,
                        FinanceCostLine)


def _canonical(tables: Mapping[str, pa.Table]) -> bytes:
    h = hashlib.sha256()
    for name in sorted(tables):
        t = tables[name]
        h.update(name.encode() + b"\x00" + str(t.schema).encode() + b"\x00")
        h.update(dumps(t.to_pylist()))
    return h.digest()


def models_digest(models: SqlModels, names: Iterable[str] = ALLOCATION_MODELS) -> str:
    h = hashlib.sha256()
    for n in names:
        h.update(n.encode() + b"\x00" + models.models[n].encode())
    return h.hexdigest()[:16]


def run_allocation_models(inputs: Mapping[str, pa.Table], params: Mapping[str, Any],
                          models: SqlModels | None = None) -> dict[str, pa.Table]:
    """The allocation proper: driver quantities, largest-remainder apportionment, unallocated lines."""
    models = models or SqlModels()
    con = _con({"finance_cost_lines": inputs["shared_lines"], "clean_time_entries": inputs["time_entries"],
                "finance_pools": inputs["pools"], "finance_usage": inputs["usage"],
                "finance_fixed_keys": inputs["fixed_keys"]})
    return models.run(con, list(ALLOCATION_MODELS), params,
                      sources=["finance_cost_lines", "clean_time_entries", "finance_pools", "finance_usage",
                               "finance_fixed_keys"])


def _with_version(t: pa.Table, version: str) -> pd.DataFrame:
    df = t.to_pandas()
    df.insert(0, "allocation_version", version)
    return df


def allocate(cost_lines: pd.DataFrame, clean_entries: pd.DataFrame, cfg: FinanceConfig, entity: str,
             period: Period, overrides: AllocationOverrides | None = None, *, created_by: str = "",
             models: SqlModels | None = None) -> AllocationResult:
    """Allocate the partition's shared cost lines to projects by the pools' declared drivers.

    The version is derived from the inputs, the effective drivers and the SQL that ran, so the same
    inputs always give the same version and result, and different drivers give a new version.
    """
    models = models or SqlModels()
    overrides = overrides or AllocationOverrides()
    tables, pools = driver_tables(cfg, entity, period, overrides)
    inputs = {"shared_lines": _shared_lines_table(cost_lines), "time_entries": _entries_table(clean_entries),
              "pools": tables["finance_pools"], "usage": tables["finance_usage"],
              "fixed_keys": tables["finance_fixed_keys"]}
    sql_digest = models_digest(models)
    digest = hashlib.sha256(_canonical(inputs) + sql_digest.encode()).hexdigest()
    version = f"alloc-{period.key}-{digest[:12]}"
    out = run_allocation_models(inputs, {}, models)
    allocations = _with_version(out["finance_allocations"], version)
    unallocated = _with_version(out["finance_unallocated"], version)
    drivers = out["finance_driver_quantities"].to_pandas()
    manifest = {
        "version": version, "entity": entity, "period": period.key,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"), "created_by": created_by,
        "note": overrides.note, "overrides": overrides.model_dump(mode="json"),
        "pools": [p.describe() for p in pools], "sql_digest": sql_digest, "inputs_digest": digest,
        "result_digest": result_digest(allocations, unallocated),
        "totals": allocation_totals(cost_lines, allocations, unallocated),
    }
    return AllocationResult(version, allocations, unallocated, drivers, inputs, manifest, pools)


def result_digest(allocations: pd.DataFrame, unallocated: pd.DataFrame) -> str:
    h = hashlib.sha256()
    for df in (allocations, unallocated):
        cols = sorted(c for c in df.columns)
        rows = df[cols].astype(object).where(df[cols].notna(), None).values.tolist()
        h.update(dumps([cols, sorted(rows, key=lambda r: dumps(r))]))
    return h.hexdigest()[:16]


def allocation_totals(cost_lines: pd.DataFrame, allocations: pd.DataFrame,
                      unallocated: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Per pool and currency: the pool (shared lines), what was allocated, what could not be."""
    out: dict[str, dict[str, int]] = {}
    if not cost_lines.empty:
        shared = cost_lines[cost_lines["disposition"] == "shared"]
        for (pool, ccy), g in shared.groupby(["pool_key", "currency"]):
            out.setdefault(f"{pool} {ccy}", {"pool": 0, "allocated": 0, "unallocated": 0})["pool"] = int(
                sum(int(x) for x in g["amount_minor"]))
    for df, col, kind in ((allocations, "allocated_minor", "allocated"), (unallocated, "amount_minor", "unallocated")):
        if df.empty:
            continue
        for (pool, ccy), g in df.groupby(["pool_key", "currency"]):
            out.setdefault(f"{pool} {ccy}", {"pool": 0, "allocated": 0, "unallocated": 0})[kind] = int(
                sum(int(x) for x in g[col]))
    return out


# -- versions -------------------------------------------------------------------------------------------------

def save_allocation(versions, result: AllocationResult) -> None:
    """Keep the run's inputs, manifest and result as an immutable version."""
    from sync_pipeline.contracts.finance_tables import CostAllocation, UnallocatedCost

    tables = {f"input_{k}": v for k, v in result.inputs.items()}
    for name, df, model in (("allocations", result.allocations, CostAllocation),
                            ("unallocated", result.unallocated, UnallocatedCost)):
        tables[name] = _frame_table(df, model)
    m = result.manifest
    versions.save(m["entity"], m["period"], result.version, tables, m)


@dataclass(frozen=True)
class Reproduction:
    version: str
    identical: bool
    stored_digest: str
    recomputed_digest: str
    sql_changed: bool
    allocations: pd.DataFrame

    def explain(self) -> str:
        if self.identical:
            return f"{self.version}: recomputed from its stored inputs, identical (digest {self.stored_digest})"
        why = (" — the allocation SQL changed since this version was made" if self.sql_changed else "")
        return (f"{self.version}: recomputed result differs (stored {self.stored_digest}, "
                f"now {self.recomputed_digest}){why}")


def reproduce_allocation(versions, entity: str, period: str, version: str,
                         models: SqlModels | None = None) -> Reproduction:
    """Recompute a stored version from the inputs and drivers it kept, and compare with what it produced."""
    models = models or SqlModels()
    tables, manifest = versions.load(entity, period, version)
    inputs = {k.removeprefix("input_"): v for k, v in tables.items() if k.startswith("input_")}
    out = run_allocation_models(inputs, {}, models)
    allocations = _with_version(out["finance_allocations"], version)
    unallocated = _with_version(out["finance_unallocated"], version)
    digest = result_digest(allocations, unallocated)
    return Reproduction(version, digest == manifest["result_digest"], manifest["result_digest"], digest,
                        models_digest(models) != manifest["sql_digest"], allocations)


# -- FX for profitability and consolidation ---------------------------------------------------------------------

FX_DAILY_SCHEMA = pa.schema([("base_currency", pa.string()), ("quote_currency", pa.string()),
                             ("rate_date", pa.string()), ("rate", pa.decimal128(28, 10)), ("source", pa.string()),
                             ("retrieved_at", pa.string())])
CURRENCIES_SCHEMA = pa.schema([("currency", pa.string()), ("minor_units", pa.int64())])


def consolidation_currencies(mapping, cfg: FinanceConfig, extra: Iterable[str] = ()) -> list[str]:
    """Every currency the group may translate: the entities' functional currencies, the reporting currency,
    and the currencies the group trades in (all ISO currencies the project supports)."""
    return sorted(set(MINOR_UNITS) | {e.base_currency for e in mapping.entities} | {cfg.reporting_currency}
                  | set(extra))


def daily_cross_rates(stored: pd.DataFrame, currencies: Iterable[str]) -> pa.Table:
    """Daily ``A → B`` rates for every pair of ``currencies`` on each publication day of the stored
    reference rates (pivot → currency), crossed with ``domain.fx.cross`` (10 decimals, half-even), so
    consolidation converts exactly as billing does."""
    from datetime import date as _date

    from sync_pipeline.domain.fx import FxRate, cross

    ref = stored[(stored["kind"] == "reference") & stored["client_id"].isna()] if len(stored) else stored
    pivots = set(ref["base_currency"]) if len(ref) else set()
    if len(pivots) > 1:
        raise FinanceConfigError(f"stored reference rates use several pivots {sorted(pivots)}; expected one")
    pivot = next(iter(pivots), "EUR")
    legs: dict[str, dict[str, FxRate]] = {}
    for r in ref.itertuples(index=False):
        legs.setdefault(r.rate_date, {})[r.quote_currency] = FxRate(
            r.base_currency, r.quote_currency, Decimal(r.rate), _date.fromisoformat(r.rate_date), r.source,
            r.retrieved_at)
    wanted = sorted(set(currencies))
    rows: list[dict[str, Any]] = []
    for day, by_ccy in sorted(legs.items()):
        any_leg = next(iter(by_ccy.values()))
        by_ccy = {**by_ccy, pivot: FxRate(pivot, pivot, Decimal(1), any_leg.rate_date, any_leg.source,
                                          any_leg.retrieved_at)}
        for a in wanted:
            for b in wanted:
                if a not in by_ccy or b not in by_ccy:
                    continue
                rate = cross(by_ccy[a], by_ccy[b])
                rows.append({"base_currency": a, "quote_currency": b, "rate_date": day, "rate": rate.rate,
                             "source": rate.source, "retrieved_at": rate.retrieved_at})
    return _table(rows, FX_DAILY_SCHEMA)


def fx_period_rates(daily: pa.Table, period: Period, models: SqlModels | None = None) -> pd.DataFrame:
    """Average, closing and opening rates per pair for the period (``dbt_like_sql/finance_fx_period_rates.sql``)."""
    models = models or SqlModels()
    currencies = _table([{"currency": c, "minor_units": n} for c, n in sorted(MINOR_UNITS.items())],
                        CURRENCIES_SCHEMA)
    con = _con({"finance_fx_daily": daily, "finance_currencies": currencies})
    out = models.run(con, ["finance_fx_period_rates"], {
        "period": period.key, "period_start": period.start.isoformat(), "period_end": period.end.isoformat()},
        sources=["finance_fx_daily", "finance_currencies"])
    return out["finance_fx_period_rates"].to_pandas()


def _rates_table(rates: pd.DataFrame) -> pa.Table:
    from sync_pipeline.contracts.finance_tables import FxPeriodRate
    return _frame_table(rates, FxPeriodRate)


def require_rates(rates: pd.DataFrame, pairs: Iterable[tuple[str, str]], period: str, kinds=("average",)) -> None:
    """Fail with what is missing and what to do, rather than translate with a missing rate."""
    have = {(r.base_currency, r.quote_currency): r for r in rates.itertuples()} if len(rates) else {}
    missing = []
    for base, quote in sorted(set(pairs)):
        if base == quote:
            continue
        r = have.get((base, quote))
        for k in kinds:
            if r is None or pd.isna(getattr(r, f"{k}_rate")):
                missing.append(f"{k} {base}->{quote}")
    if missing:
        raise FinanceConfigError(f"period {period}: no {', '.join(missing)} rate in fx_period_rates; materialize "
                                 "group_fx_rates and fx_period_rates for the period (an open period has no "
                                 "published rates yet)")


# -- revenue, direct cost, profitability ------------------------------------------------------------------------

POSTED_SCHEMA = pa.schema([("invoice_key", pa.string()), ("reference", pa.string()), ("client_id", pa.string()),
                           ("currency", pa.string()), ("document_kind", pa.string()), ("status", pa.string()),
                           ("subtotal_minor", pa.int64()), ("total_minor", pa.int64()),
                           ("original_reference", pa.string())])


def posted_documents(posted: pd.DataFrame | None, current: pd.DataFrame | None = None) -> pa.Table:
    """The partition's posted documents in the shape the finance models read.

    ``current`` (the ``accounting_invoices`` pull-back, when materialized) holds each document's status in
    the accounting system now: it wins over the status at posting time, so an invoice voided or paid since
    counts as it stands. Rows without ``document_kind`` (posting before credit notes) are invoices.
    """
    if posted is None or posted.empty:
        return POSTED_SCHEMA.empty_table()
    df = posted.copy()
    if "document_kind" not in df:
        df["document_kind"] = "invoice"
    if "original_reference" not in df:
        df["original_reference"] = None
    if current is not None and len(current) and {"reference", "status"} <= set(current.columns):
        now = current.dropna(subset=["reference"]).drop_duplicates("reference", keep="last").set_index("reference")
        df["status"] = [now["status"].get(ref, st) for ref, st in zip(df["reference"], df["status"], strict=True)]
    df = df[POSTED_SCHEMA.names].astype(object).where(df[POSTED_SCHEMA.names].notna(), None)
    return pa.Table.from_pandas(df, schema=POSTED_SCHEMA, preserve_index=False)


def ic_table(cfg: FinanceConfig, entity: str) -> pa.Table:
    return classification_tables(cfg, entity)["finance_ic"]


def project_revenue(drafts: pd.DataFrame, posted: pd.DataFrame | None, cfg: FinanceConfig, entity: str,
                    period: Period, models: SqlModels | None = None,
                    current: pd.DataFrame | None = None) -> pd.DataFrame:
    models = models or SqlModels()
    cols = ["invoice_key", "reference", "client_id", "client_name", "project_id", "project_name", "currency",
            "line_amount_minor"]
    d = drafts[cols] if len(drafts) else pd.DataFrame({c: pd.Series([], dtype=object) for c in cols}).astype(
        {"line_amount_minor": "int64"})
    con = _con({"invoice_drafts": d, "finance_posted_documents": posted_documents(posted, current),
                "finance_ic": ic_table(cfg, entity)})
    out = models.run(con, ["finance_project_revenue"], {"entity": entity, "period": period.key},
                     sources=["invoice_drafts", "finance_posted_documents", "finance_ic"])
    return out["finance_project_revenue"].to_pandas()


RAW_COST_SCHEMA = pa.schema([("entry_id", pa.string()), ("cost_rate", pa.decimal128(18, 6))])


def project_direct_costs(clean: pd.DataFrame, raw: pd.DataFrame, cost_lines: pd.DataFrame, functional_currency: str,
                         entity: str, period: Period, models: SqlModels | None = None) -> pd.DataFrame:
    from sync_pipeline.domain.money import minor_units

    models = models or SqlModels()
    if len(raw) and "cost_rate" in raw:
        rates = pa.Table.from_pandas(raw[["entry_id", "cost_rate"]].astype(object).where(
            raw[["entry_id", "cost_rate"]].notna(), None), schema=RAW_COST_SCHEMA, preserve_index=False)
    else:
        rates = RAW_COST_SCHEMA.empty_table()
    lines = _frame_table(cost_lines, FinanceCostLine)
    con = _con({"clean_time_entries": _entries_table(clean), "raw_time_entries": rates, "finance_cost_lines": lines})
    out = models.run(con, ["finance_project_direct_costs"], {
        "entity": entity, "period": period.key, "functional_currency": functional_currency,
        "functional_factor": 10 ** minor_units(functional_currency)},
        sources=["clean_time_entries", "raw_time_entries", "finance_cost_lines"])
    return out["finance_project_direct_costs"].to_pandas()


@cache
def _schema(model) -> pa.Schema:
    from sync_pipeline.store.warehouse import arrow_schema

    return arrow_schema(model)


def _frame_table(df: pd.DataFrame | None, model) -> pa.Table:
    """A frame as an Arrow table with the contract's types. Frames read from the warehouse or produced by the
    models already have them (a straight, strict conversion: Arrow refuses to lose digits); anything else goes
    through the contract."""
    schema = _schema(model)
    if df is None or df.empty:
        return schema.empty_table()
    try:
        return pa.Table.from_pandas(df[schema.names], schema=schema, preserve_index=False)
    except (KeyError, pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
        pass
    try:
        clean = df[schema.names]
        return pa.Table.from_pandas(clean.astype(object).where(clean.notna(), None), schema=schema,
                                    preserve_index=False)
    except (KeyError, pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
        return pa.Table.from_pandas(model.validate(df)[schema.names], schema=schema, preserve_index=False)


def project_profitability(revenue: pd.DataFrame, direct: pd.DataFrame, allocations: pd.DataFrame,
                          rates: pd.DataFrame, cfg: FinanceConfig, entity: str, period: Period,
                          models: SqlModels | None = None) -> pd.DataFrame:
    from sync_pipeline.contracts.finance_tables import CostAllocation, ProjectDirectCost, ProjectRevenue

    models = models or SqlModels()
    currencies = set(revenue.get("currency", [])) | set(direct.get("currency", [])) | set(
        allocations.get("currency", []))
    require_rates(rates, [(c, cfg.reporting_currency) for c in currencies], period.key)
    con = _con({"finance_project_revenue": _frame_table(revenue, ProjectRevenue),
                "finance_project_direct_costs": _frame_table(direct, ProjectDirectCost),
                "cost_allocations": _frame_table(allocations, CostAllocation),
                "finance_rates": _rates_table(rates)})
    out = models.run(con, ["finance_project_profitability"], {
        "entity": entity, "period": period.key, "reporting_currency": cfg.reporting_currency,
        "rounding": cfg.translation.rounding},
        sources=["finance_project_revenue", "finance_project_direct_costs", "cost_allocations", "finance_rates"])
    return out["finance_project_profitability"].to_pandas()


# -- entity results and consolidation -----------------------------------------------------------------------------

def read_history(wh, asset: str, entities: Iterable[str], until: str) -> pd.DataFrame:
    """Rows of an asset over the given entities' partitions up to and including a period (any warehouse:
    local or object store)."""
    frames = [wh.read(asset, e, p) for e in entities for p in wh.periods(asset, e) if p <= until]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def entity_results(revenue: pd.DataFrame, direct: pd.DataFrame, cost_lines: pd.DataFrame,
                   depreciation: pd.DataFrame, posted: pd.DataFrame | None, rates: pd.DataFrame,
                   cfg: FinanceConfig, entity: str, functional_currency: str, period: Period,
                   models: SqlModels | None = None, current: pd.DataFrame | None = None) -> pd.DataFrame:
    """The entity's period results in its functional currency (consolidation's input)."""
    from sync_pipeline.contracts.finance_tables import CapexScheduleRow, ProjectDirectCost, ProjectRevenue

    models = models or SqlModels()
    currencies = (set(revenue.get("currency", [])) | set(direct.get("currency", []))
                  | set(cost_lines["currency"].dropna() if len(cost_lines) else []))
    require_rates(rates, [(c, functional_currency) for c in currencies], period.key)
    con = _con({"finance_project_revenue": _frame_table(revenue, ProjectRevenue),
                "finance_project_direct_costs": _frame_table(direct, ProjectDirectCost),
                "finance_cost_lines": _frame_table(cost_lines[cost_lines["disposition"] != "quarantined"]
                                                   if len(cost_lines) else cost_lines, FinanceCostLine),
                "finance_depreciation": _frame_table(depreciation, CapexScheduleRow),
                "finance_posted_documents": posted_documents(posted, current), "finance_ic": ic_table(cfg, entity),
                "finance_rates": _rates_table(rates)})
    out = models.run(con, ["finance_entity_results"], {
        "entity": entity, "period": period.key, "functional_currency": functional_currency,
        "rounding": cfg.translation.rounding},
        sources=["finance_project_revenue", "finance_project_direct_costs", "finance_cost_lines",
                 "finance_depreciation", "finance_posted_documents", "finance_ic", "finance_rates"])
    return out["finance_entity_results"].to_pandas()


@dataclass
class Consolidation:
    translated: pd.DataFrame
    eliminations: pd.DataFrame
    consolidated: pd.DataFrame


def _period_params(cfg: FinanceConfig, period: Period) -> dict[str, Any]:
    return {"period": period.key, "reporting_currency": cfg.reporting_currency,
            "income_expense_rate": cfg.translation.income_expense_rate, "rounding": cfg.translation.rounding}


def translate(results_history: pd.DataFrame, rates: pd.DataFrame, cfg: FinanceConfig, period: Period,
              models: SqlModels | None = None) -> pd.DataFrame:
    """Every entity's results translated into the reporting currency for the period.

    ``results_history`` holds the entities' ``entity_results`` for every period up to ``period``: balances
    are the sum of their movements.
    """
    from sync_pipeline.contracts.finance_tables import EntityResult

    models = models or SqlModels()
    hist = results_history[results_history["period"] <= period.key] if len(results_history) else results_history
    if not len(hist) or not (hist["period"] == period.key).any():
        from sync_pipeline.contracts.finance_tables import TranslatedResult

        return _empty_frame(TranslatedResult)
    require_rates(rates, [(c, cfg.reporting_currency) for c in set(hist["functional_currency"])], period.key,
                  kinds=("average", "closing", "opening"))
    con = _con({"finance_entity_results": _frame_table(hist, EntityResult), "finance_rates": _rates_table(rates)})
    out = models.run(con, ["finance_translated_results"], _period_params(cfg, period),
                     sources=["finance_entity_results", "finance_rates"])
    return out["finance_translated_results"].to_pandas()


def eliminate(translated: pd.DataFrame, entities: Iterable[str], cfg: FinanceConfig, period: Period,
              models: SqlModels | None = None) -> pd.DataFrame:
    """Elimination entries for intercompany lines between ``entities`` (the group)."""
    from sync_pipeline.contracts.finance_tables import TranslatedResult

    models = models or SqlModels()
    con = _con({"finance_translated_results": _frame_table(translated, TranslatedResult),
                "finance_group_entities": pa.table({"entity": pa.array(sorted(set(entities)), pa.string())})})
    out = models.run(con, ["finance_eliminations"], _period_params(cfg, period),
                     sources=["finance_translated_results", "finance_group_entities"])
    return out["finance_eliminations"].to_pandas()


def consolidated_totals(translated: pd.DataFrame, eliminations: pd.DataFrame, cfg: FinanceConfig, period: Period,
                        models: SqlModels | None = None) -> pd.DataFrame:
    from sync_pipeline.contracts.finance_tables import Elimination, TranslatedResult

    models = models or SqlModels()
    con = _con({"finance_translated_results": _frame_table(translated, TranslatedResult),
                "finance_eliminations": _frame_table(eliminations, Elimination)})
    out = models.run(con, ["finance_consolidated"], _period_params(cfg, period),
                     sources=["finance_translated_results", "finance_eliminations"])
    return out["finance_consolidated"].to_pandas()


def consolidate(results_history: pd.DataFrame, rates: pd.DataFrame, cfg: FinanceConfig, entities: Iterable[str],
                period: Period, models: SqlModels | None = None) -> Consolidation:
    """Translate, eliminate intercompany and total the group for one period."""
    models = models or SqlModels()
    translated = translate(results_history, rates, cfg, period, models)
    eliminations = eliminate(translated, entities, cfg, period, models)
    return Consolidation(translated, eliminations, consolidated_totals(translated, eliminations, cfg, period, models))
