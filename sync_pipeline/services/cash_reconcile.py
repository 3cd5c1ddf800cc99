"""Cash reconciliation of one entity × period: read, match, log, settle.

- ``load_receivables``: open and paid sales invoices and the recorded payments, from the accounting API;
- ``match_period``: the period's bank lines (statement files) that no earlier run has finished with,
  matched by the cascade (``services.cash_matching``), every decision written to the matching log;
- ``settle``: what is ``to_settle`` in the log (automatic matches, and matches a person accepted in the
  workbench) applied in the accounting system — one payment per invoice, dated and referenced like the
  bank line, marked reconciled; the difference within tolerance as a bank transaction (SPEND for a fee
  or short payment, RECEIVE for a small surplus) on the configured write-off account. Batches carry
  Idempotency-Keys derived from the bank line and invoice, so a retried or re-run settlement never pays
  an invoice twice; an item the accounting system refuses marks its decision ``failed`` with the reason.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd

from sync_pipeline.connectors.accounting import AccountingTarget, Listing
from sync_pipeline.connectors.strict import Rejected
from sync_pipeline.contracts.payloads.accounting import BankTransactionDraftV1, Document, PaymentDraftV1
from sync_pipeline.domain import cash_matching as cm
from sync_pipeline.domain.money import from_minor, to_minor
from sync_pipeline.services.cash_matching import CashInputs, decisions_frame, ecb_fx_rates, match_cash
from sync_pipeline.store import matching_log as ml

log = logging.getLogger(__name__)

MODEL_NAME = "fellegi-sunter/splink-5.0.0 (u: random sampling, m: EM on the run's candidate pairs)"
INVOICE_COLUMNS = ["invoice_id", "invoice_number", "reference", "contact_id", "contact_name", "currency",
                   "total_minor", "amount_due_minor", "date", "due_date"]
PAYMENT_COLUMNS = ["payment_id", "invoice_id", "amount_minor", "currency", "bank_amount_minor", "date", "reference"]


def _day(d: date | None) -> str | None:
    return d.isoformat() if d else None


def invoice_rows(docs: list[Document]) -> pd.DataFrame:
    rows = []
    for d in docs:
        if d.kind != "invoice" or d.status not in ("AUTHORISED", "PAID"):
            continue
        ccy = str(d.currency)
        rows.append({"invoice_id": d.id, "invoice_number": d.number, "reference": d.reference,
                     "contact_id": d.contact_id, "contact_name": d.contact_name, "currency": ccy,
                     "total_minor": to_minor(d.total or Decimal(0), ccy),
                     "amount_due_minor": to_minor(d.amount_due or Decimal(0), ccy),
                     "date": _day(d.date), "due_date": _day(d.due_date)})
    return pd.DataFrame(rows, columns=INVOICE_COLUMNS)


def payment_rows(docs: list[Document], invoices: pd.DataFrame, bank_currency: str) -> pd.DataFrame:
    """Recorded customer payments not yet reconciled to a bank line."""
    ccy_of = dict(zip(invoices["invoice_id"], invoices["currency"], strict=True))
    rows = []
    for p in docs:
        if p.status == "DELETED" or p.reconciled or p.invoice_id not in ccy_of:
            continue
        ccy = ccy_of[p.invoice_id]
        bank_amount = p.bank_amount if p.bank_amount is not None else p.total
        rows.append({"payment_id": p.id, "invoice_id": p.invoice_id, "amount_minor": to_minor(p.total or Decimal(0), ccy),
                     "currency": ccy, "bank_amount_minor": to_minor(bank_amount or Decimal(0), bank_currency),
                     "date": _day(p.date), "reference": p.reference})
    return pd.DataFrame(rows, columns=PAYMENT_COLUMNS)


def read_receivables(invoices: Listing, payments: Listing, bank_currency: str,
                     rejected: list[Rejected] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Invoices and payments as the matcher's frames, read strictly (``AccountingTarget.documents``): a document
    that does not read is never matched against (its amount could be anything); it is appended to ``rejected``."""
    bad_invoices, bad_payments = invoices.rejected, payments.rejected
    if rejected is not None:
        rejected.extend(bad_invoices + bad_payments)
    if bad_invoices or bad_payments:
        log.warning("%d invoice(s) and %d payment(s) did not read strictly and are left out of matching: %s",
                    len(bad_invoices), len(bad_payments),
                    "; ".join(f"{r.record}: {r.summary}" for r in (bad_invoices + bad_payments)[:5]))
    inv = invoice_rows(invoices.documents)
    return inv, payment_rows(payments.documents, inv, bank_currency)


def load_receivables(target: AccountingTarget, bank_currency: str,
                     rejected: list[Rejected] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Open and paid sales invoices and the recorded payments, read strictly (:func:`read_receivables`)."""
    invoices = target.documents("invoice", statuses=("AUTHORISED", "PAID"))
    return read_receivables(invoices, target.documents("payment"), bank_currency, rejected)


def _decision_record(d: cm.Decision, line: dict[str, Any], inv: dict[str, dict[str, Any]],
                     policy: cm.CashPolicy) -> dict[str, Any]:
    rec = asdict(d)
    rec["allocations"] = [{"invoice_id": a.invoice_id, "invoice_number": inv.get(a.invoice_id, {}).get("invoice_number"),
                           "contact_name": inv.get(a.invoice_id, {}).get("contact_name"),
                           "applied_minor": a.applied_minor, "currency": a.currency,
                           "line_share_minor": a.line_share_minor} for a in d.allocations]
    for c in rec["candidates"]:
        i = inv.get(c.get("invoice_id"), {})
        # the contact id too: the workbench's alias template and alias learning on accept match by contact
        c["invoice_number"], c["contact_name"], c["contact_id"] = (i.get("invoice_number"), i.get("contact_name"),
                                                                   i.get("contact_id"))
    rec.update(line_date=line.get("date"), account=line.get("account"), payer_name=line.get("payer_name"),
               description=line.get("description"),
               writeoff_account=policy.writeoff_account if d.writeoff_minor else None)
    return rec


def match_period(lines: pd.DataFrame, invoices: pd.DataFrame, payments: pd.DataFrame, *, entity: str, period: str,
                 log_: ml.MatchingLog, policy: cm.CashPolicy, bank_currency: str, actor: str,
                 run_id: str | None = None, fx_rates: pd.DataFrame | None = None, seed: int = 42,
                 trace_id: str | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Match the lines no earlier run finished with; log every decision. Returns the decisions frame."""
    done = log_.final_lines(entity, lines["line_id"]) if len(lines) else set()
    todo = lines[~lines["line_id"].isin(done)].reset_index(drop=True)
    if fx_rates is None and len(todo):
        ccys = set(invoices["currency"]) | set(todo["currency"])
        first = min(pd.to_datetime(invoices["date"]).min().date() if len(invoices) else date.today(),
                    date.fromisoformat(min(todo["date"])))
        fx_rates = ecb_fx_rates(ccys, bank_currency, first - timedelta(days=7), date.fromisoformat(max(todo["date"])))
    # aliases are kept as keyed hashes: resolved against this run's (decrypted) payer names
    payers = todo["payer_name"].dropna().tolist() if len(todo) else []
    aliases = pd.DataFrame(log_.alias_names(entity, payers), columns=["payer_name", "contact_id"])
    rejected = pd.DataFrame(log_.rejected_pairs(entity), columns=["line_id", "invoice_id"])
    run = match_cash(CashInputs(todo, invoices, payments, aliases=aliases, rejected=rejected, fx_rates=fx_rates,
                                bank_currency=bank_currency), policy, seed=seed)
    by_line = {r["line_id"]: r for r in todo.to_dict("records")}
    inv = {r["invoice_id"]: r for r in invoices.to_dict("records")}
    records = [_decision_record(d, by_line.get(d.line_id, {}), inv, policy) for d in run.decisions]
    log_.record(entity, period, records, actor=actor, run_id=run_id, model=MODEL_NAME, trace_id=trace_id)
    frame = decisions_frame(run.decisions)
    stats = {**run.stats, "already_final": len(done)}
    return frame, stats


def _payment(d: dict[str, Any], a: dict[str, Any], policy: cm.CashPolicy) -> PaymentDraftV1:
    """One invoice's share of a bank line, as a reconciled payment dated and referenced like the line."""
    amount = from_minor(int(a["applied_minor"]), a["currency"])
    rate = None
    if a["currency"] != d["line_currency"] and a["line_share_minor"]:
        rate = (amount / from_minor(int(a["line_share_minor"]), d["line_currency"])).quantize(Decimal("0.000001"))
    return PaymentDraftV1(account_code=d["account"] or policy.bank_account, date=d["line_date"], amount=amount,
                          invoice_id=a["invoice_id"], reference=(d["description"] or d["payer_name"] or "")[:255],
                          currency_rate=rate, reconciled=True)


def _writeoff(d: dict[str, Any], policy: cm.CashPolicy) -> BankTransactionDraftV1:
    """The difference within tolerance: SPEND for a fee or short payment, RECEIVE for a small surplus."""
    diff = int(d["writeoff_minor"])
    amount = from_minor(abs(diff), d["line_currency"])
    return BankTransactionDraftV1(
        type="SPEND" if diff < 0 else "RECEIVE", bank_account_code=d["account"] or policy.bank_account,
        date=d["line_date"], currency=d["line_currency"],
        reference=f"difference on {d['payer_name'] or ''} {d['description'] or ''}".strip()[:255],
        lines=[{"description": ("Bank fee / short payment" if diff < 0 else "Small over-payment")
                + f" on bank line {d['line_id']}", "quantity": 1, "unit_amount": amount, "line_amount": amount,
                "account_code": d["writeoff_account"] or policy.writeoff_account, "tax_type": "NONE"}])


def settle(target: AccountingTarget, log_: ml.MatchingLog, *, entity: str, policy: cm.CashPolicy, actor: str,
           role: str = "system", decision_ids: list[int] | None = None) -> dict[str, int]:
    """Apply ``to_settle`` decisions in the accounting system; returns counts of settled / failed."""
    pending = log_.decisions(entity=entity, statuses=[ml.TO_SETTLE], limit=1_000_000)
    if decision_ids is not None:
        wanted = set(decision_ids)
        pending = [d for d in pending if d["decision_id"] in wanted]
    payments: list[tuple[str, PaymentDraftV1]] = []
    where: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    txns: list[tuple[str, BankTransactionDraftV1]] = []
    for d in pending:
        for a in d["allocations"]:
            if a["target_payment_id"]:
                continue  # applied by an earlier, interrupted settlement
            key = f"{d['line_id']}|{a['invoice_id']}"
            payments.append((key, _payment(d, a, policy)))
            where[key] = (d, a)
        if d["writeoff_minor"]:
            txns.append((f"{d['line_id']}|writeoff", _writeoff(d, policy)))
    failed: dict[int, list[str]] = {}
    for r in target.post("payment", payments, key_prefix=f"cash-pay-{entity}"):
        d, a = where[r.source_key]
        if r.ok and r.document:
            log_.mark_allocation_settled(a["id"], r.document.id)
            a["target_payment_id"] = r.document.id
        else:
            failed.setdefault(d["decision_id"], []).extend(r.errors or ["refused"])
    txn_of = {d["line_id"]: d for d in pending}
    writeoff_ids: dict[int, str] = {}
    for r in target.post("bank_transaction", txns, key_prefix=f"cash-wo-{entity}"):
        d = txn_of[r.source_key.split("|", 1)[0]]
        if r.ok and r.document:
            writeoff_ids[d["decision_id"]] = r.document.id
        else:
            failed.setdefault(d["decision_id"], []).extend(r.errors or ["refused"])
    settled = 0
    for d in pending:
        if d["decision_id"] in failed:
            log_.set_status(d["decision_id"], ml.FAILED, actor=actor, role=role, action="settlement_failed",
                            text="; ".join(failed[d["decision_id"]]))
            continue
        settled += 1
        log_.set_status(d["decision_id"], ml.SETTLED, actor=actor, role=role, action="settled",
                        text="applied in the accounting system",
                        detail={"payments": [a["target_payment_id"] for a in d["allocations"]],
                                "writeoff_bank_transaction": writeoff_ids.get(d["decision_id"]),
                                "writeoff_minor": d["writeoff_minor"], "writeoff_account": d["writeoff_account"]})
    return {"settled": settled, "failed": len(failed), "payments": len(payments), "writeoffs": len(txns)}
