"""Cash matching: bank lines ↔ open invoices ↔ recorded payments, the cascade end to end.

Candidate generation and features are SQL models (``dbt_like_sql/cash_*.sql``) run in DuckDB; the
probabilistic stage is a Fellegi–Sunter model in Splink 5 on the same DuckDB connection, whose
parameters are estimated on the run's own candidate pairs (u by random sampling, m by expectation
maximisation, both seeded, so a rerun gives the same scores). Splink scores exactly the pairs our SQL
found: each pair becomes one row on each side sharing a ``pair_key``, and the model blocks on it.
The decisions themselves are pure functions in ``sync_pipeline.domain.cash_matching``.
"""

from __future__ import annotations

import logging
import math
import random
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from sync_pipeline.domain import cash_matching as cm
from sync_pipeline.domain.fx import RateTable
from sync_pipeline.domain.money import minor_units
from sync_pipeline.store.sql import SQL_DIR, SqlModels

log = logging.getLogger(__name__)

MACROS = SQL_DIR / "macros" / "cash_matching.sql"
SOURCES = ("cash_bank_lines", "cash_invoices", "cash_payments", "cash_alias_names", "cash_rejected_pairs",
           "cash_fx_rates")
BANK_COLUMNS = {"line_id": pa.string(), "account": pa.string(), "date": pa.string(), "amount_minor": pa.int64(),
                "currency": pa.string(), "payer_name": pa.string(), "description": pa.string()}
INVOICE_COLUMNS = {"invoice_id": pa.string(), "invoice_number": pa.string(), "reference": pa.string(),
                   "contact_id": pa.string(), "contact_name": pa.string(), "currency": pa.string(),
                   "total_minor": pa.int64(), "amount_due_minor": pa.int64(), "date": pa.string(),
                   "due_date": pa.string()}
PAYMENT_COLUMNS = {"payment_id": pa.string(), "invoice_id": pa.string(), "amount_minor": pa.int64(),
                   "currency": pa.string(), "bank_amount_minor": pa.int64(), "date": pa.string(),
                   "reference": pa.string()}
ALIAS_COLUMNS = {"payer_name": pa.string(), "contact_id": pa.string()}
REJECTED_COLUMNS = {"line_id": pa.string(), "invoice_id": pa.string()}
FX_COLUMNS = {"from_currency": pa.string(), "to_currency": pa.string(), "rate_date": pa.date32(),
              "minor_rate": pa.decimal128(28, 12)}


@dataclass
class CashInputs:
    """What one run matches. Frames with the columns above; amounts in integer minor units."""

    bank_lines: pd.DataFrame
    invoices: pd.DataFrame
    payments: pd.DataFrame | None = None
    aliases: pd.DataFrame | None = None  # payer_name as the bank shows it -> contact_id (rule templates)
    rejected: pd.DataFrame | None = None  # (line_id, invoice_id) pairs a person rejected
    fx_rates: pd.DataFrame | None = None
    bank_currency: str = "GBP"


@dataclass
class MatchRun:
    decisions: list[cm.Decision]
    stats: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    candidates: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def _table(df: pd.DataFrame | None, columns: dict[str, pa.DataType]) -> pa.Table:
    """An Arrow table with exactly these columns and types (plain objects, never floats for money)."""
    if df is None or not len(df):
        return pa.table({k: pa.array([], type=t) for k, t in columns.items()})
    arrays = {}
    for k, t in columns.items():
        values = df[k].tolist() if k in df.columns else [None] * len(df)
        if pa.types.is_string(t):
            values = [None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v) for v in values]
        elif pa.types.is_integer(t):
            values = [None if v is None else int(v) for v in values]
        arrays[k] = pa.array(values, type=t)
    return pa.table(arrays)


def fx_minor_rates(rates: RateTable, currencies: Iterable[str], bank_currency: str, start: date,
                   end: date) -> pd.DataFrame:
    """Daily factors turning minor units of each currency into minor units of the bank's currency (and back)."""
    rows = []
    for ccy in sorted(set(currencies) - {bank_currency}):
        d = start
        while d <= end:
            for a, b in ((ccy, bank_currency), (bank_currency, ccy)):
                try:
                    r = rates.rate(a, b, d)
                except ValueError:
                    break
                factor = r.rate * Decimal(10) ** (minor_units(b) - minor_units(a))
                rows.append({"from_currency": a, "to_currency": b, "rate_date": d,
                             "minor_rate": factor.quantize(Decimal("1e-12"))})
            d += timedelta(days=1)
    return pd.DataFrame(rows, columns=list(FX_COLUMNS))


def ecb_fx_rates(currencies: Iterable[str], bank_currency: str, start: date, end: date) -> pd.DataFrame:
    """``fx_minor_rates`` from the ECB reference rates bundled offline (the default provider)."""
    from sync_pipeline.connectors.fx import EcbBundledProvider

    ccys = set(currencies) | {bank_currency}
    if ccys == {bank_currency}:
        return pd.DataFrame(columns=list(FX_COLUMNS))
    provider = EcbBundledProvider()
    last = min(end, provider.last_date())
    table = RateTable(provider.published_rates(ccys, start - timedelta(days=10), last), max_age_days=3650)
    return fx_minor_rates(table, ccys, bank_currency, start, end)


def _run_macros(con: duckdb.DuckDBPyConnection) -> None:
    for stmt in MACROS.read_text(encoding="utf-8").split(";\n"):
        body = "\n".join(line for line in stmt.splitlines() if not line.strip().startswith("--")).strip()
        if body:
            con.execute(body)


CANDIDATE_COLUMNS = ("line_id, invoice_id, by_ref, by_fuzzy, by_name, by_amount, digits_hit, line_amount_minor, "
                     "line_currency, invoice_currency, amount_due_minor, contact_id, name_similarity, "
                     "same_counterparty, days_after_invoice, expected_line_minor")


def _register_ids(con: duckdb.DuckDBPyConnection, name: str, ids: list[str]) -> None:
    con.register(f"{name}_arrow", pa.table({"line_id": pa.array(ids, pa.string())}))
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT DISTINCT line_id FROM {name}_arrow")
    con.unregister(f"{name}_arrow")


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    return con.sql(sql).to_arrow_table().to_pylist()


# -- the probabilistic stage -----------------------------------------------------------------------------------
SIDE_COLUMNS = ("unique_id", "pair_key", "name_key", "alias_contacts", "contact_id", "amount_minor", "due_bank_minor",
                "currency", "date", "ref_numbers", "ref_ours", "digit_tokens", "fuzzy_keys", "inv_no", "ref_upper")


def _side_sql(side: str, pairs: str) -> str:
    if side == "l":
        return f"""
        SELECT p.line_id || '|' || p.invoice_id AS unique_id, p.line_id || '|' || p.invoice_id AS pair_key,
               b.payer_key AS name_key,
               coalesce((SELECT list(a.contact_id) FROM cash_aliases a WHERE a.payer_key = b.payer_key), []) AS alias_contacts,
               NULL::VARCHAR AS contact_id, b.amount_minor, NULL::BIGINT AS due_bank_minor, b.currency, b.date,
               b.ref_numbers, b.ref_ours, b.digit_tokens, b.ref_fuzzy_keys AS fuzzy_keys, NULL::BIGINT AS inv_no,
               NULL::VARCHAR AS ref_upper
        FROM {pairs} p JOIN cash_bank_norm b USING (line_id)"""
    return f"""
        SELECT p.line_id || '|' || p.invoice_id AS unique_id, p.line_id || '|' || p.invoice_id AS pair_key,
               i.contact_key AS name_key, []::VARCHAR[] AS alias_contacts, i.contact_id, i.amount_due_minor AS amount_minor,
               i.due_bank_minor, i.currency, i.date, []::BIGINT[] AS ref_numbers, []::VARCHAR[] AS ref_ours,
               []::BIGINT[] AS digit_tokens, i.ref_fuzzy_keys AS fuzzy_keys, i.inv_no, i.ref_upper
        FROM {pairs} p JOIN cash_invoice_norm i USING (invoice_id)"""


# Splink warns "m probability not trained for <level>" for every comparison level no labelled pair reaches;
# here that is expected (such a level keeps its configured starting m, floored at M_FLOOR), so those warnings
# are counted into one log line instead of cluttering every run's output.
SPLINK_LOG_LEVEL = logging.WARNING  # Splink's progress lines (INFO) are not ours to print; its warnings are
_SPLINK_TRAINING_LOGGERS = ("splink.internals.m_u_records_to_parameters", "splink.internals.em_training_session")


class _UntrainedLevels(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if "probability not trained for" in record.getMessage():
            self.count += 1
            return False
        return True


_UNTRAINED = _UntrainedLevels()
for _name in _SPLINK_TRAINING_LOGGERS:
    logging.getLogger(_name).addFilter(_UNTRAINED)


def fs_settings(policy: cm.CashPolicy) -> dict[str, Any]:
    """The Fellegi–Sunter model: four comparisons, each level's m and u estimated from the data."""
    import splink.comparison_level_library as splink_levels
    from splink import SettingsCreator, block_on
    from splink.comparison_library import CustomComparison

    class cll:  # noqa: N801 - the levels below are written with l./r. for reading; Splink wants x_l / x_r
        ElseLevel = splink_levels.ElseLevel

        @staticmethod
        def CustomLevel(sql: str, label_for_charts: str | None = None, m: float | None = None):  # noqa: N802
            level = splink_levels.CustomLevel(re.sub(r"\b([lr])\.(\w+)", r"\2_\1", sql),
                                              label_for_charts=label_for_charts)
            return level.configure(m_probability=m) if m is not None else level  # a starting value for EM

    expected = "(CASE WHEN l.currency = r.currency THEN r.amount_minor ELSE r.due_bank_minor END)"
    diff = f"abs(l.amount_minor - {expected})"
    tol = policy.writeoff_max_minor
    ratio = float(policy.writeoff_max_ratio)
    fx_ratio = float(policy.fx_tolerance_ratio)
    days = "datediff('day', r.date, l.date)"
    counterparty = CustomComparison(output_column_name="counterparty", comparison_levels=[
        cll.CustomLevel("l.name_key IS NULL OR l.name_key = '' OR r.name_key IS NULL OR r.name_key = ''",
                        label_for_charts="payer unknown").configure(is_null_level=True),
        cll.CustomLevel("l.name_key = r.name_key", label_for_charts="same name", m=0.55),
        cll.CustomLevel("list_contains(l.alias_contacts, r.contact_id) OR list_contains(r.alias_contacts, l.contact_id)",
                        label_for_charts="known alias", m=0.05),
        cll.CustomLevel("jaro_winkler_similarity(l.name_key, r.name_key) >= 0.92", label_for_charts="name ~0.92", m=0.15),
        cll.CustomLevel("jaro_winkler_similarity(l.name_key, r.name_key) >= 0.80", label_for_charts="name ~0.80", m=0.1),
        cll.ElseLevel(),
    ])
    amount = CustomComparison(output_column_name="amount", comparison_levels=[
        cll.CustomLevel(f"{expected} IS NULL OR l.amount_minor IS NULL",
                        label_for_charts="no rate").configure(is_null_level=True),
        cll.CustomLevel(f"l.amount_minor = {expected}", label_for_charts="exact", m=0.8),
        cll.CustomLevel(f"{diff} <= least({tol}, {expected} * {ratio})", label_for_charts="within write-off tolerance", m=0.06),
        cll.CustomLevel(f"{diff} <= {expected} * {fx_ratio} + {tol}", label_for_charts="within FX tolerance", m=0.06),
        cll.CustomLevel(f"l.amount_minor < {expected}", label_for_charts="less than due", m=0.05),
        cll.ElseLevel(),
    ])
    dates = CustomComparison(output_column_name="date", comparison_levels=[
        cll.CustomLevel("l.date IS NULL OR r.date IS NULL").configure(is_null_level=True),
        cll.CustomLevel(f"{days} BETWEEN 0 AND 45", label_for_charts="0-45 days after", m=0.8),
        cll.CustomLevel(f"{days} BETWEEN -7 AND 120", label_for_charts="-7..120 days", m=0.18),
        cll.ElseLevel(),
    ])
    reference = CustomComparison(output_column_name="reference", comparison_levels=[
        cll.CustomLevel("len(coalesce(l.ref_numbers, [])) + len(coalesce(l.ref_ours, [])) + "
                        "len(coalesce(l.digit_tokens, [])) = 0 AND len(coalesce(r.ref_numbers, [])) + "
                        "len(coalesce(r.ref_ours, [])) + len(coalesce(r.digit_tokens, [])) = 0",
                        label_for_charts="no reference").configure(is_null_level=True),
        cll.CustomLevel("list_contains(l.ref_numbers, r.inv_no) OR list_contains(l.ref_ours, r.ref_upper) OR "
                        "list_contains(r.ref_numbers, l.inv_no) OR list_contains(r.ref_ours, l.ref_upper)",
                        label_for_charts="invoice number", m=0.7),
        cll.CustomLevel("list_contains(l.digit_tokens, r.inv_no) OR list_contains(r.digit_tokens, l.inv_no)",
                        label_for_charts="its digits", m=0.05),
        cll.CustomLevel("list_has_any(l.fuzzy_keys, r.fuzzy_keys)", label_for_charts="one typo away", m=0.12),
        cll.CustomLevel("len(coalesce(l.ref_numbers, [])) + len(coalesce(l.ref_ours, [])) + "
                        "len(coalesce(r.ref_numbers, [])) + len(coalesce(r.ref_ours, [])) > 0",
                        label_for_charts="names another invoice", m=0.02),
        cll.ElseLevel(),
    ])
    settings = SettingsCreator(
        link_type="link_only",
        comparisons=[counterparty, amount, dates, reference],
        blocking_rules_to_generate_predictions=[block_on("pair_key")],
        retain_intermediate_calculation_columns=True,
        retain_matching_columns=False,
        probability_two_random_records_match=1e-4,
        max_iterations=12,
        em_convergence=0.001,
    )
    return settings


MIN_LABELS = 20
M_FLOOR = 1e-3


def score_pairs(con: duckdb.DuckDBPyConnection, predict: str, labels: dict[str, str], policy: cm.CashPolicy, *,
                seed: int, prior: float) -> tuple[dict[tuple[str, str], dict[str, Any]], dict[str, Any]]:
    """Fit the model and score the ``predict`` pairs. Returns scores and the model (as Splink's settings dict).

    u: Splink's random sampling over the run's lines × invoices (seeded). m: Splink's estimate from pairwise
    labels — the pairs the deterministic rules settled in this run, each comparison estimated only from
    pairs that were not selected on it (``labels["by_reference"]`` for counterparty, amount and date;
    ``labels["by_amount"]`` for the reference), floored at ``M_FLOOR`` so no level is impossible. A
    comparison with fewer than ``MIN_LABELS`` labels keeps its configured starting m.
    """
    from splink import DuckDBAPI, Linker

    untrained = _UNTRAINED
    untrained.count = 0
    # the labelled pairs and the pairs to score: u is sampled from random line × invoice pairs of these
    con.execute("CREATE OR REPLACE TEMP TABLE cash_train_pairs AS "
                + " UNION ".join(f"SELECT line_id, invoice_id FROM {t}" for t in [*labels.values(), predict]))
    for name, pairs in (("train", "cash_train_pairs"), ("predict", predict)):
        for side in ("l", "r"):
            con.execute(f"CREATE OR REPLACE TEMP TABLE cash_fs_{name}_{side} AS {_side_sql(side, pairs)}")
    db = DuckDBAPI(connection=con)
    base = Linker([db.register("cash_fs_train_l", dataset_display_name="cash_fs_train_l"),
                   db.register("cash_fs_train_r", dataset_display_name="cash_fs_train_r")], fs_settings(policy),
                  log_level=SPLINK_LOG_LEVEL)
    t = time.perf_counter()
    base.training.estimate_u_using_random_sampling(max_pairs=2e5, seed=seed, num_chunks=1)
    model = base.misc.save_model_to_json()
    t_u = time.perf_counter() - t
    use = {"by_reference": ("counterparty", "amount", "date"), "by_amount": ("reference",)}
    n_labels = {}
    for kind, table in labels.items():
        n = int(con.sql(f"SELECT count(*) FROM {table}").fetchall()[0][0])
        n_labels[kind] = n
        if n < MIN_LABELS:
            continue
        con.execute(f"CREATE OR REPLACE TEMP TABLE cash_labels_{kind} AS SELECT 'cash_fs_train_l' AS source_dataset_l, "
                    f"line_id || '|' || invoice_id AS unique_id_l, 'cash_fs_train_r' AS source_dataset_r, "
                    f"line_id || '|' || invoice_id AS unique_id_r FROM {table}")
        linker = Linker([db.register("cash_fs_train_l", dataset_display_name="cash_fs_train_l",
                                     table_name=f"cash_fs_train_l_{kind}"),
                         db.register("cash_fs_train_r", dataset_display_name="cash_fs_train_r",
                                     table_name=f"cash_fs_train_r_{kind}")], model, log_level=SPLINK_LOG_LEVEL)
        linker.training.estimate_m_from_pairwise_labels(f"cash_labels_{kind}")
        trained = linker.misc.save_model_to_json()
        for comp in trained["comparisons"]:
            if comp["output_column_name"] in use[kind]:
                target = next(c for c in model["comparisons"] if c["output_column_name"] == comp["output_column_name"])
                for lv_new, lv in zip(comp["comparison_levels"], target["comparison_levels"], strict=True):
                    if not lv.get("is_null_level") and lv_new.get("m_probability") is not None:
                        lv["m_probability"] = lv_new["m_probability"]
    for comp in model["comparisons"]:
        for lv in comp["comparison_levels"]:
            if not lv.get("is_null_level"):
                lv["m_probability"] = max(float(lv.get("m_probability") or 0.0), M_FLOOR)
                lv["u_probability"] = max(float(lv.get("u_probability") or 0.0), M_FLOOR / 10)
    log.info("cash model: u estimated in %.1fs, m from %s silver labels in %.1fs; %d comparison level(s) had no "
             "labelled pair and kept their starting m (floored at %s)", t_u, n_labels,
             time.perf_counter() - t - t_u, untrained.count, M_FLOOR)
    model["probability_two_random_records_match"] = prior
    model["retain_intermediate_calculation_columns"] = True
    model["training_labels"] = n_labels
    scorer = Linker([db.register("cash_fs_predict_l"), db.register("cash_fs_predict_r")],
                    {k: v for k, v in model.items() if k != "training_labels"}, log_level=SPLINK_LOG_LEVEL)
    out = scorer.inference.predict(threshold_match_probability=0.0)
    table = con.sql(f"SELECT unique_id_l, match_probability, match_weight, mw_counterparty, mw_amount, mw_date, "
                    f"mw_reference FROM {out.physical_name}").to_arrow_table()
    comps = ("counterparty", "amount", "date", "reference")
    level_of = {c: _level_weights(model, c) for c in comps}
    cols = {c: table.column(f"mw_{c}").to_pylist() for c in comps}
    ids_l = table.column("unique_id_l").to_pylist()
    probs = table.column("match_probability").to_pylist()
    weights = table.column("match_weight").to_pylist()
    scores: dict[tuple[str, str], dict[str, Any]] = {}
    for i, uid in enumerate(ids_l):
        line_id, invoice_id = uid.split("|", 1)
        expl = {c: {"level": _label(level_of[c], cols[c][i]), "weight": round(float(cols[c][i]), 3)} for c in comps}
        scores[(line_id, invoice_id)] = {"match_probability": float(probs[i]), "match_weight": float(weights[i]),
                                         "weights": expl}
    return scores, model


def _level_weights(model: dict[str, Any], comparison: str) -> list[tuple[float, str]]:
    """(match weight, label) of each level of a comparison in a trained model."""
    comp = next(c for c in model["comparisons"] if c["output_column_name"] == comparison)
    out = []
    for lv in comp["comparison_levels"]:
        label = lv.get("label_for_charts") or lv["sql_condition"]
        if lv.get("is_null_level"):
            out.append((0.0, f"{label} (no evidence)"))
            continue
        m, u = lv.get("m_probability"), lv.get("u_probability")
        out.append((math.log2(m / u) if m and u else 0.0, label))
    return out


def _label(levels: list[tuple[float, str]], weight: float) -> str:
    return min(levels, key=lambda lw: abs(lw[0] - weight))[1]


# -- the cascade ---------------------------------------------------------------------------------------------
DUCKDB_MEMORY_LIMIT = "2500MB"  # candidates spill to disk beyond this rather than grow the process


def match_cash(inputs: CashInputs, policy: cm.CashPolicy | None = None, *, seed: int = 42,
               con: duckdb.DuckDBPyConnection | None = None) -> MatchRun:
    policy = policy or cm.CashPolicy()
    own = con is None
    if con is None:
        con = duckdb.connect(config={"memory_limit": DUCKDB_MEMORY_LIMIT, "preserve_insertion_order": False})
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    try:
        _run_macros(con)
        sources = {"cash_bank_lines": _table(inputs.bank_lines, BANK_COLUMNS),
                   "cash_invoices": _table(inputs.invoices, INVOICE_COLUMNS),
                   "cash_payments": _table(inputs.payments, PAYMENT_COLUMNS),
                   "cash_alias_names": _table(inputs.aliases, ALIAS_COLUMNS),
                   "cash_rejected_pairs": _table(inputs.rejected, REJECTED_COLUMNS),
                   "cash_fx_rates": _table(inputs.fx_rates, FX_COLUMNS)}
        for name, tbl in sources.items():
            con.register(f"{name}_arrow", tbl)
            con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {name}_arrow")
            con.unregister(f"{name}_arrow")
        params = {"bank_currency": inputs.bank_currency, "days_before": policy.days_before,
                  "days_after": policy.days_after, "payment_days_before": policy.payment_days_before,
                  "payment_days_after": policy.payment_days_after, "max_name_candidates": policy.max_name_candidates,
                  "max_amount_candidates": policy.max_amount_candidates,
                  "min_name_similarity": policy.min_name_similarity}
        SqlModels().run(con, ["cash_candidates", "cash_payment_candidates", "cash_paid_references"], params,
                        sources=SOURCES, fetch=False)
        timings["candidates_s"] = time.perf_counter() - t0
        n_candidates = int(con.sql("SELECT count(*) FROM cash_candidates").fetchall()[0][0])

        lines = _rows(con, "SELECT line_id, date, amount_minor AS line_amount_minor, currency AS line_currency, "
                           "len(ref_numbers) + len(ref_ours) > 0 AS names_invoice "
                           "FROM cash_bank_norm ORDER BY date, line_id")
        inv = con.sql("SELECT invoice_id, amount_due_minor, currency FROM cash_invoice_norm").to_arrow_table()
        ledger = cm.Ledger(dict(zip(inv.column("invoice_id").to_pylist(), inv.column("amount_due_minor").to_pylist(),
                                    strict=True)),
                           dict(zip(inv.column("invoice_id").to_pylist(), inv.column("currency").to_pylist(),
                                    strict=True)))
        # the deterministic rules need the pairs found by reference, near reference or amount; the pairs found
        # by name alone are fetched later, for the lines still open (they are the bulk of the candidates)
        # pairs whose amounts cannot be compared (no rate between the two currencies) are counted, not judged
        no_rate = int(con.sql("SELECT count(*) FROM cash_candidates WHERE expected_line_minor IS NULL").fetchall()[0][0])
        cands = cm.group_by(_rows(con, f"SELECT {CANDIDATE_COLUMNS} FROM cash_candidates "
                                       "WHERE (by_ref OR by_fuzzy OR by_amount OR digits_hit) "
                                       "AND expected_line_minor IS NOT NULL ORDER BY line_id, invoice_id"), "line_id")
        pay_rows = _rows(con, "SELECT * FROM cash_payment_candidates")
        # a recorded payment found by counterparty alone must be the only such line for it, and the line must
        # not also be exactly the amount of an open invoice of that contact: else it is ambiguous
        lines_per_payment: dict[str, int] = {}
        for p in pay_rows:
            if (p["same_counterparty"] or p["name_similarity"] >= 0.9) and not p["line_has_reference"]:
                lines_per_payment[p["payment_id"]] = lines_per_payment.get(p["payment_id"], 0) + 1
        for p in pay_rows:
            p["unique_to_line"] = lines_per_payment.get(p["payment_id"], 0) <= 1
        pays = cm.group_by(pay_rows, "line_id")
        paid_refs = {r["line_id"]: r["invoice_number"] for r in _rows(con, "SELECT * FROM cash_paid_references")}
        decisions: list[cm.Decision] = []
        t1 = time.perf_counter()

        # 1-4: deterministic rules, in date order so instalments consume what is due in turn
        residual: list[dict[str, Any]] = []
        held: dict[str, cm.Decision] = {}  # reference misfits a combination of invoices may still explain
        typo_only: set[str] = set()  # lines naming only settled invoices: a typo (fuzzy candidates) or a duplicate
        for line in lines:
            lid = line["line_id"]
            rows = cands.get(lid, [])
            line_pays = pays.get(lid, [])
            d = cm.decide_existing_payment(line, line_pays, ledger, by_reference=True)
            if d is None:
                d = cm.decide_named(line, rows, ledger, policy)
                if d is not None and d.outcome == "exception" and (d.amount_kind == "over" or len(d.allocations) > 1):
                    held[lid], d = d, None
            if d is None and lid not in held:
                competing = any(r["by_amount"] and r["same_counterparty"] and ledger.open(r["invoice_id"]) for r in rows)
                d = cm.decide_existing_payment(line, line_pays, ledger, by_reference=False, competing=competing)
            if d is None and lid not in held:
                d = cm.decide_near_reference(line, rows, ledger, policy)
            if d is None and lid not in held and cm.references_only_settled(rows, ledger):
                typo_only.add(lid)
            elif d is None and lid not in held and lid in paid_refs:
                d = ledger.apply(cm.Decision(
                    line_id=lid, outcome="exception", rule="exact_reference", confidence=0.0,
                    line_amount_minor=int(line["line_amount_minor"]), line_currency=line["line_currency"],
                    amount_kind="n/a", reason=f"references {paid_refs[lid]}, which is already paid: a duplicate "
                                              "payment? refund it or apply it elsewhere"))
            if d is None and lid not in held and lid not in typo_only:
                d = cm.decide_amount_counterparty(line, rows, ledger, policy)
            if d is None:
                residual.append(line)
                continue
            decisions.append(d)
        _register_ids(con, "cash_residual_lines", [ln["line_id"] for ln in residual])
        for r in _rows(con, f"SELECT {CANDIDATE_COLUMNS} FROM cash_candidates JOIN cash_residual_lines USING (line_id) "
                            "WHERE NOT (by_ref OR by_fuzzy OR by_amount OR digits_hit) "
                            "AND expected_line_minor IS NOT NULL ORDER BY line_id, invoice_id"):
            cands.setdefault(r["line_id"], []).append(r)
        # a payment for several invoices: the pool is all the payer's open invoices, not only the pairs kept
        # per line (big customers have hundreds); the payer must be one contact
        inv_meta = con.sql("SELECT invoice_id, contact_id, currency, date FROM cash_invoice_norm").to_arrow_table()
        by_contact: dict[str, list[tuple[str, str, date]]] = {}
        for iid, cid, ccy, d_ in zip(*(inv_meta.column(c).to_pylist() for c in ("invoice_id", "contact_id",
                                                                               "currency", "date")), strict=True):
            by_contact.setdefault(cid, []).append((iid, ccy, d_))

        def subset_pool(line: dict[str, Any]) -> list[dict[str, Any]]:
            rows = cands.get(line["line_id"], [])
            payer = {r["contact_id"]: r for r in rows if r["same_counterparty"]}  # the name itself, or an alias
            if not payer:
                payer = {r["contact_id"]: r for r in rows if r["name_similarity"] >= policy.counterparty_min_similarity}
            if len(payer) != 1:
                return rows
            (cid, like), = payer.items()
            ccy, day = line["line_currency"], line["date"]
            return [{**like, "invoice_id": iid, "invoice_currency": ccy, "amount_due_minor": ledger.due[iid],
                     "expected_line_minor": ledger.due[iid], "days_after_invoice": (day - d_).days,
                     "by_ref": False, "by_fuzzy": False, "by_amount": False, "digits_hit": False}
                    for iid, c_, d_ in by_contact.get(cid, []) if c_ == ccy and ledger.open(iid)]

        still: list[dict[str, Any]] = []
        for line in residual:
            lid = line["line_id"]
            if lid in typo_only:
                still.append(line)
                continue
            required = frozenset(held[lid].invoice_ids) if lid in held else frozenset()
            d = cm.decide_subset(line, subset_pool(line), ledger, policy, required)
            if d is not None:
                decisions.append(d)
            elif lid in held:
                decisions.append(ledger.apply(held[lid]))
            else:
                still.append(line)
        # amounts within tolerance only once every exact amount has taken its invoice
        after: list[dict[str, Any]] = []
        for line in still:
            d = None if line["line_id"] in typo_only else cm.decide_amount_tolerance(
                line, cands.get(line["line_id"], []), ledger, policy)
            if d is None:
                after.append(line)
            else:
                decisions.append(d)
        still = after
        timings["rules_s"] = time.perf_counter() - t1

        # 5: the probabilistic model on what is left
        t2 = time.perf_counter()
        model: dict[str, Any] = {}
        scores: dict[tuple[str, str], dict[str, Any]] = {}
        def live(line: dict[str, Any]) -> list[dict[str, Any]]:
            return [r for r in cands.get(line["line_id"], []) if ledger.open(r["invoice_id"])
                    and (line["line_id"] not in typo_only or r["by_fuzzy"])]

        predict_pairs = [(ln["line_id"], r["invoice_id"]) for ln in still for r in live(ln)]
        if predict_pairs:
            con.register("cash_predict_arrow", pa.table({"line_id": [p[0] for p in predict_pairs],
                                                         "invoice_id": [p[1] for p in predict_pairs]}))
            con.execute("CREATE OR REPLACE TEMP TABLE cash_predict_pairs AS SELECT * FROM cash_predict_arrow")
            con.unregister("cash_predict_arrow")
            silver = {"by_reference": [(d.line_id, d.allocations[0].invoice_id) for d in decisions
                                       if d.outcome == "auto_settled" and d.rule == "exact_reference"
                                       and len(d.allocations) == 1],
                      "by_amount": [(d.line_id, a.invoice_id) for d in decisions if d.outcome == "auto_settled"
                                    and d.rule in ("amount_counterparty", "amount_subset") for a in d.allocations]}
            labels = {}
            for kind, prs in silver.items():
                if len(prs) > policy.max_labels:
                    prs = random.Random(seed).sample(sorted(prs), policy.max_labels)
                con.register("cash_silver_arrow", pa.table({"line_id": pa.array([p[0] for p in prs], pa.string()),
                                                            "invoice_id": pa.array([p[1] for p in prs], pa.string())}))
                con.execute(f"CREATE OR REPLACE TEMP TABLE cash_silver_{kind} AS SELECT * FROM cash_silver_arrow")
                con.unregister("cash_silver_arrow")
                labels[kind] = f"cash_silver_{kind}"
            # prior: at most one true invoice per line among its candidates
            prior = min(0.5, len(still) / max(1, len(predict_pairs)))
            scores, model = score_pairs(con, "cash_predict_pairs", labels, policy, seed=seed, prior=prior)
        for line in still:
            scored = [{**r, **scores[(line["line_id"], r["invoice_id"])]} for r in live(line)
                      if (line["line_id"], r["invoice_id"]) in scores]
            d = cm.decide_scored(line, scored, ledger, policy)
            if line["line_id"] in typo_only and d.outcome != "auto_settled":
                d.reason = ("names only invoices already settled by other lines (a duplicate payment, or a typo "
                            "in the number): " + d.reason)
            decisions.append(d)
        timings["model_s"] = time.perf_counter() - t2

        out_of_scope = _rows(con, "SELECT line_id, amount_minor, currency FROM cash_bank_lines WHERE amount_minor <= 0")
        for r in out_of_scope:
            decisions.append(cm.Decision(line_id=r["line_id"], outcome="out_of_scope", rule="none", confidence=1.0,
                                         line_amount_minor=int(r["amount_minor"]), line_currency=r["currency"],
                                         amount_kind="n/a", reason="money out: not a customer receipt"))
        timings["total_s"] = time.perf_counter() - t0
        stats = {"lines": len(lines) + len(out_of_scope), "open_invoices": len(ledger.due),
                 "candidate_pairs": n_candidates, "pairs_without_fx_rate": no_rate, "scored_pairs": len(scores),
                 "by_rule": _count(decisions, "rule"), "by_outcome": _count(decisions, "outcome"), **timings}
        return MatchRun(decisions=decisions, stats=stats, model=model, candidates=cands)
    finally:
        if own:
            con.close()


def _count(decisions: list[cm.Decision], attr: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for d in decisions:
        out[getattr(d, attr)] = out.get(getattr(d, attr), 0) + 1
    return dict(sorted(out.items()))


def decisions_frame(decisions: list[cm.Decision]) -> pd.DataFrame:
    """One row per (decision, allocation): the shape of the ``cash_matches`` asset."""
    rows = []
    for d in decisions:
        allocs = d.allocations or [None]
        for a in allocs:
            rows.append({"line_id": d.line_id, "outcome": d.outcome, "rule": d.rule, "confidence": d.confidence,
                         "line_amount_minor": d.line_amount_minor, "line_currency": d.line_currency,
                         "invoice_id": a.invoice_id if a else None, "applied_minor": a.applied_minor if a else None,
                         "invoice_currency": a.currency if a else None,
                         "line_share_minor": a.line_share_minor if a else None, "payment_id": d.payment_id,
                         "writeoff_minor": d.writeoff_minor, "amount_kind": d.amount_kind, "reason": d.reason})
    return pd.DataFrame(rows)
