"""Billing rules that turn aggregated time lines into invoice-ready lines, and the conservation law.

Pure functions over small pandas frames (one row per invoice line, never per entry): no I/O.

The accounting system's arithmetic is the contract (Xero): ``Quantity`` and ``UnitAmount`` have at most
four decimals and ``LineAmount = round(Quantity x UnitAmount)`` to the currency's minor unit. So every line
is built as: billed time → quantity (4 dp) ; rate (converted when the invoice currency differs) → unit
amount (4 dp) ; line amount = round(quantity x unit amount) once, with the mode named. What the exact
rules would have billed and what the line says differ by the *rounding remainder*, which is reported.

Tax follows the same rules: per line (Xero's default) or once per invoice, exclusive or inclusive.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from typing import Any

import pandas as pd

from sync_pipeline.domain import ids
from sync_pipeline.domain.fx import FxRate, identity
from sync_pipeline.domain.money import ROUNDING_MODES, from_minor, minor_units, quantize, to_minor

TU_PER_HOUR = 60_000_000  # time units: 1 tu = 1 microminute (see dbt_like_sql/billables.sql)
_TU = Decimal(TU_PER_HOUR)
XERO_PLACES = 4  # Quantity and UnitAmount decimals the accounting system keeps
LINE_KINDS = ("time", "fee", "retainer", "discount", "expense")


def _q4(x: Decimal, mode: str = "half_up") -> Decimal:
    return x.quantize(Decimal("0.0001"), rounding=ROUNDING_MODES[mode])


_CTX = Context(prec=60)  # exact enough: 60 significant digits, then one named rounding


def _exact(fn: Callable[[], Decimal]) -> Decimal:
    with localcontext(_CTX):
        return fn()


def hours_of(tu: int) -> Decimal:
    """Time units → hours, exact to 60 significant digits (20 min = 0.3333...)."""
    return _CTX.divide(Decimal(int(tu)), _TU)


@dataclass(frozen=True)
class TaxCodeRule:
    tax_type: str
    rate_percent: Decimal


@dataclass(frozen=True)
class ClientTerms:
    client_id: str
    tax: TaxCodeRule
    discount_percent: Decimal = Decimal(0)
    contact_number: str | None = None
    payment_terms_days: int | None = None


@dataclass(frozen=True)
class ProjectTerms:
    project_id: str
    client_id: str | None = None
    name: str | None = None
    billing: str = "hourly"
    item_code: str | None = None
    tracking_category: str | None = None
    tracking_option: str | None = None
    account_code: str | None = None
    milestones: tuple[tuple[str, Decimal, date], ...] = ()
    retainer_fee: Decimal | None = None
    retainer_hours: Decimal | None = None
    currency: str | None = None


@dataclass(frozen=True)
class TaskTerms:
    task_id: str
    item_code: str | None = None
    account_code: str | None = None


@dataclass(frozen=True)
class LineRules:
    account_code: str
    tax_type: str
    tax_rate_percent: Decimal = Decimal(0)
    amounts: str = "exclusive"  # exclusive | inclusive
    tax_rounding: str = "line"  # line | invoice
    rounding_mode: str = "half_up"
    discount_account_code: str | None = None
    base_currency: str | None = None
    expense_account_code: str | None = None  # the mapping's expenses.account_code (default: project's, then sales)
    expense_tax: TaxCodeRule | None = None  # the mapping's expenses.tax_jurisdiction (default: the client's tax)
    grouping: str = "client"
    revision: int = 1
    clients: dict[str, ClientTerms] = field(default_factory=dict)
    projects: dict[str, ProjectTerms] = field(default_factory=dict)
    tasks: dict[str, TaskTerms] = field(default_factory=dict)

    def tax_for(self, client_id: str) -> TaxCodeRule:
        c = self.clients.get(client_id)
        return c.tax if c else TaxCodeRule(self.tax_type, self.tax_rate_percent)


FxLookup = Callable[[str, str, str], FxRate]  # (client_id, from currency, to currency) -> rate


DRAFT_COLUMNS = [
    "entity", "period", "invoice_key", "reference", "client_id", "client_name", "currency", "line_no", "kind",
    "project_id", "project_name", "task_id", "task_name", "description", "item_code", "tracking_category",
    "tracking_option", "quantity", "unit", "unit_amount", "line_amount_minor", "account_code", "tax_type",
    "tax_rate_percent", "tax_amount_minor", "line_amount_types", "source_currency", "source_rate", "list_rate",
    "billable_percent", "rate_source", "worked_hours", "billed_hours", "retainer_hours", "source_value",
    "billed_value", "rounding_remainder", "fx_rate", "fx_rate_date", "fx_rate_source", "fx_retrieved_at",
    "base_currency", "base_rate", "base_rate_date", "base_rate_source", "base_retrieved_at",
    "line_amount_base_minor", "approved_by", "approved_at", "entry_count", "source_entry_ids", "markup_percent",
]


def xero_line(quantity: Decimal, unit_amount: Decimal, currency: str, mode: str = "half_up") -> int:
    """LineAmount in minor units exactly as the accounting system computes it from the 4-dp fields."""
    if _q4(quantity) != quantity or _q4(unit_amount) != unit_amount:
        raise ValueError(f"quantity {quantity} / unit amount {unit_amount} have more than 4 decimals")
    return to_minor(quantity * unit_amount, currency, mode)


def line_tax_minor(line_minor: int, percent: Decimal, currency: str, amounts: str, mode: str = "half_up") -> int:
    """Tax of one line: exclusive = amount x p; inclusive = amount x p / (100 + p) (the tax inside)."""
    amount = from_minor(int(line_minor), currency)
    if amounts == "inclusive":
        tax = _exact(lambda: amount * percent / (Decimal(100) + percent))
    else:
        tax = amount * percent / Decimal(100)
    return to_minor(tax, currency, mode)


def _exact_tax_minor(line_minor: int, percent: Decimal, amounts: str) -> Decimal:
    """A line's tax in minor units, unrounded (60 significant digits)."""
    m = Decimal(int(line_minor))
    return _exact(lambda: m * percent / (Decimal(100) + percent) if amounts == "inclusive"
                  else m * percent / Decimal(100))


def allocate_invoice_tax(rows: list[dict[str, Any]], amounts: str, mode: str = "half_up") -> None:
    """Tax rounded once per invoice and tax rate, spread over the lines so that the lines add up to it.

    The accounting system stores a tax amount per line (Xero lets a line's ``TaxAmount`` override its
    computed one); with invoice-level rounding the invoice's tax is ``round(sum of the lines' exact tax)``
    per rate. Each line starts from its own rounded tax; the difference to the invoice's (at most half a
    minor unit per line) moves one minor unit at a time onto the lines whose rounding went furthest the
    other way (ties: the first line). Every line's tax stays within one minor unit of its exact tax.
    Rows need ``invoice_key``, ``currency``, ``tax_rate_percent``, ``line_amount_minor``, ``tax_amount_minor``
    and ``_sort``; ``tax_amount_minor`` is rewritten in place.
    """
    groups: dict[tuple[str, Decimal], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["invoice_key"], Decimal(row["tax_rate_percent"])), []).append(row)
    for (_key, pct), grp in groups.items():
        ccy = grp[0]["currency"]
        exact = [_exact_tax_minor(r["line_amount_minor"], pct, amounts) for r in grp]
        # the invoice's tax from the summed amounts (one division: a tie such as x.5 stays exact)
        total = _exact_tax_minor(sum(int(r["line_amount_minor"]) for r in grp), pct, amounts)
        target = to_minor(total.scaleb(-minor_units(ccy)), ccy, mode)
        diff = target - sum(int(r["tax_amount_minor"]) for r in grp)
        if not diff:
            continue
        step = 1 if diff > 0 else -1
        # how far each line's rounding went against the direction we need to move (largest first)
        order = sorted(range(len(grp)), key=lambda i: (-(exact[i] - int(grp[i]["tax_amount_minor"])) * step,
                                                         grp[i]["_sort"]))
        for i in order[:abs(diff)]:
            grp[i]["tax_amount_minor"] = int(grp[i]["tax_amount_minor"]) + step


def _fx_fields(prefix: str, r: FxRate) -> dict[str, Any]:
    return {f"{prefix}_rate": r.rate, f"{prefix}_rate_date": r.rate_date.isoformat(),
            f"{prefix}_rate_source": r.source, f"{prefix}_retrieved_at": r.retrieved_at}


def finalize_draft_lines(lines: pd.DataFrame, entity: str, period: str, rules: LineRules,
                         fx: FxLookup | None = None, period_start: date | None = None,
                         period_end: date | None = None, expense_lines: pd.DataFrame | None = None) -> pd.DataFrame:
    """Aggregated time lines (``dbt_like_sql/invoice_draft_lines.sql``) → invoice-ready lines.

    Adds expense lines (``dbt_like_sql/expense_draft_lines.sql``: 1 x the marked-up amount, converted to the
    invoice currency), fee lines (milestones of fixed-fee projects due in the period, retainer fees) and one
    discount line per invoice for clients with a discount (of the time and fee lines: expenses are passed
    on at their marked-up amount, not discounted); numbers lines; computes tax and base-currency amounts.
    """
    fx = fx or (lambda _c, a, b: _no_fx(a, b))
    rows: list[dict[str, Any]] = []
    invoice_ccy: dict[str, str] = {}
    names: dict[str, str] = {}
    for r in lines.astype(object).itertuples(index=False):
        if hasattr(r, "key_consistent") and not r.key_consistent:
            raise ValueError(f"invoice line grouping collided for client {r.client_id} project {r.project_id} task "
                             f"{r.task_id}: two different line keys hashed alike; re-run to regroup")
        cid = str(r.client_id)
        ccy = str(r.invoice_currency)
        names[cid] = r.client_name
        if invoice_ccy.setdefault(cid, ccy) != ccy:
            raise ValueError(f"client {cid} has lines in {invoice_ccy[cid]} and {ccy}: one invoice currency per client")
        rate_fx = fx(cid, str(r.currency), ccy)
        billed_h = hours_of(r.billed_tu)
        hpd = Decimal(r.hours_per_day)
        rate = Decimal(r.rate)
        if r.unit == "days":
            q_exact = _CTX.divide(billed_h, hpd)
            unit_src = rate * hpd
        else:
            q_exact, unit_src = billed_h, rate
        quantity = _q4(q_exact, rules.rounding_mode)
        unit_amount = _q4(_CTX.multiply(unit_src, rate_fx.rate), rules.rounding_mode)
        amount_minor = xero_line(quantity, unit_amount, ccy, rules.rounding_mode)
        billed_value = _q12(_CTX.multiply(_CTX.multiply(billed_h, rate), rate_fx.rate))
        proj = rules.projects.get(str(r.project_id))
        task = rules.tasks.get(str(r.task_id))
        retainer_h = hours_of(r.retainer_tu)
        desc = f"{_name_or_id(r.project_name, r.project_id)} — {_name_or_id(r.task_name, r.task_id)}"
        if retainer_h:
            desc += f" (overage; {_fmt_h(retainer_h)} h covered by the retainer)"
        rows.append({
            "client_id": cid, "client_name": r.client_name, "currency": ccy, "kind": "time",
            "project_id": str(r.project_id), "project_name": r.project_name, "task_id": str(r.task_id),
            "task_name": r.task_name, "description": desc,
            "item_code": (task.item_code if task and task.item_code else proj.item_code if proj else None),
            "tracking_category": proj.tracking_category if proj else None,
            "tracking_option": proj.tracking_option if proj else None,
            "quantity": quantity, "unit": r.unit, "unit_amount": unit_amount, "line_amount_minor": amount_minor,
            "account_code": (task.account_code if task and task.account_code else
                             proj.account_code if proj and proj.account_code else rules.account_code),
            "source_currency": str(r.currency), "source_rate": rate, "list_rate": Decimal(r.list_rate),
            "billable_percent": Decimal(r.billable_percent), "rate_source": r.rate_source,
            "worked_hours": Decimal(r.hours), "billed_hours": _q6(billed_h), "retainer_hours": _q6(retainer_h),
            "source_value": Decimal(r.source_value), "billed_value": billed_value,
            **_fx_fields("fx", rate_fx),
            "approved_by": r.approved_by or None, "approved_at": r.approved_at,
            "entry_count": int(r.entry_count), "source_entry_ids": r.source_entry_ids, "markup_percent": None,
            "_sort": (0, str(r.project_id), str(r.task_id), rate),
        })
    exp = expense_lines.astype(object).itertuples(index=False) if expense_lines is not None else ()
    for r in exp:
        cid, ccy = str(r.client_id), str(r.invoice_currency)
        names.setdefault(cid, r.client_name)
        if invoice_ccy.setdefault(cid, ccy) != ccy:
            raise ValueError(f"client {cid} has lines in {invoice_ccy[cid]} and {ccy}: one invoice currency per client")
        rows.append(_expense_line(r, rules, fx(cid, str(r.currency), ccy)))
    rows.extend(_fee_lines(rules, invoice_ccy, names, period_start, period_end))
    rows.extend(_discount_lines(rows, rules))
    if not rows:
        return pd.DataFrame(columns=DRAFT_COLUMNS)
    # every per-line field is computed on plain dicts: iterating pandas' Arrow-backed columns is slow
    keys: dict[str, tuple[str, str]] = {}
    line_types = "Inclusive" if rules.amounts == "inclusive" else "Exclusive"
    for row in rows:
        cid, ccy = row["client_id"], row["currency"]
        if cid not in keys:
            keys[cid] = (ids.invoice_key(entity, cid, period, rules.grouping, rules.revision),
                         ids.invoice_reference(entity, cid, period, rules.revision))
        row["invoice_key"], row["reference"] = keys[cid]
        tax = row.pop("_tax", None) or rules.tax_for(cid)
        row["tax_type"], row["tax_rate_percent"], row["line_amount_types"] = tax.tax_type, tax.rate_percent, line_types
        row["tax_amount_minor"] = line_tax_minor(row["line_amount_minor"], tax.rate_percent, ccy, rules.amounts,
                                                 rules.rounding_mode)
        row["rounding_remainder"] = (row["billed_value"] - from_minor(int(row["line_amount_minor"]), ccy)
                                     if row["kind"] in ("time", "expense") else Decimal(0))
        base_rate = fx(cid, ccy, rules.base_currency) if rules.base_currency else identity(ccy, period_end or date.today())
        row["base_currency"] = base_rate.quote
        row.update(_fx_fields("base", base_rate))
        row["line_amount_base_minor"] = to_minor(_CTX.multiply(from_minor(int(row["line_amount_minor"]), ccy),
                                                               base_rate.rate), base_rate.quote, rules.rounding_mode)
        row["entity"], row["period"] = entity, period
    rows.sort(key=lambda r: (r["invoice_key"], r["_sort"]))
    if rules.tax_rounding == "invoice":
        allocate_invoice_tax(rows, rules.amounts, rules.rounding_mode)
    n_by_invoice: dict[str, int] = {}
    for row in rows:
        n_by_invoice[row["invoice_key"]] = row["line_no"] = n_by_invoice.get(row["invoice_key"], 0) + 1
    out = pd.DataFrame(rows)
    return out[DRAFT_COLUMNS].reset_index(drop=True)


def _q12(x: Decimal) -> Decimal:
    return x.quantize(Decimal("0.000000000001"), rounding=ROUND_HALF_UP)


def _q6(x: Decimal) -> Decimal:
    return x.quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)


def _fmt_h(h: Decimal) -> str:
    return format(_q6(h).normalize(), "f")


def _no_fx(a: str, b: str) -> FxRate:
    if a != b:
        raise ValueError(f"converting {a} to {b} needs stored FX rates: materialize fx_rates for the partition")
    return identity(a, date(1970, 1, 1))


def _name_or_id(name: Any, ident: Any) -> Any:
    """The name when it is a non-empty text, else the id: a missing name arrives as NaN, which is truthy."""
    return name if isinstance(name, str) and name else ident


def _expense_line(r: Any, rules: LineRules, rate_fx: FxRate) -> dict[str, Any]:
    """One expense line: quantity 1 x the marked-up total converted to the invoice currency (4 dp), rounded once."""
    ccy = str(r.invoice_currency)
    value, cost, markup = Decimal(r.value), Decimal(r.total_cost), Decimal(r.markup_percent)
    proj = rules.projects.get(str(r.project_id))
    unit_amount = _q4(_CTX.multiply(value, rate_fx.rate), rules.rounding_mode)
    what = r.category if isinstance(r.category, str) and r.category else "other"
    desc = f"{_name_or_id(r.project_name, r.project_id)} — {'expense refunds' if r.refund else 'expenses'}: {what}"
    if markup:
        desc += f" (incl. {format(markup.normalize(), 'f')} % markup)"
    return {
        "client_id": str(r.client_id), "client_name": r.client_name, "currency": ccy, "kind": "expense",
        "project_id": str(r.project_id), "project_name": r.project_name, "task_id": None, "task_name": None,
        "description": desc, "item_code": None,
        "tracking_category": proj.tracking_category if proj else None,
        "tracking_option": proj.tracking_option if proj else None,
        "quantity": Decimal(1), "unit": "item", "unit_amount": unit_amount,
        "line_amount_minor": xero_line(Decimal(1), unit_amount, ccy, rules.rounding_mode),
        "account_code": rules.expense_account_code or (proj.account_code if proj and proj.account_code
                                                       else rules.account_code),
        "source_currency": str(r.currency), "source_rate": _q6(value), "list_rate": _q6(cost),
        "billable_percent": Decimal(100), "rate_source": f"expense_markup:{r.markup_source}",
        "worked_hours": Decimal(0), "billed_hours": Decimal(0), "retainer_hours": Decimal(0),
        "source_value": cost, "billed_value": _q12(_CTX.multiply(value, rate_fx.rate)), **_fx_fields("fx", rate_fx),
        "approved_by": r.approved_by or None, "approved_at": r.approved_at,
        "entry_count": int(r.expense_count), "source_entry_ids": r.source_entry_ids, "markup_percent": markup,
        "_sort": (1, str(r.project_id), f"~expense:{what}:{int(bool(r.refund))}", markup),
        "_tax": rules.expense_tax,
    }


def _fixed_line(cid: str, name: str, ccy: str, kind: str, desc: str, amount: Decimal, account: str,
                proj: ProjectTerms | None, sort: tuple, source_ids: str) -> dict[str, Any]:
    unit_amount = _q4(amount)
    ident = identity(ccy, date(1970, 1, 1))
    return {
        "client_id": cid, "client_name": name, "currency": ccy, "kind": kind,
        "project_id": proj.project_id if proj else None, "project_name": proj.name if proj else None,
        "task_id": None, "task_name": None, "description": desc,
        "item_code": proj.item_code if proj else None,
        "tracking_category": proj.tracking_category if proj else None,
        "tracking_option": proj.tracking_option if proj else None,
        "quantity": Decimal(1), "unit": "item", "unit_amount": unit_amount,
        "line_amount_minor": to_minor(unit_amount, ccy), "account_code": account,
        "source_currency": ccy, "source_rate": unit_amount, "list_rate": unit_amount, "billable_percent": Decimal(100),
        "rate_source": kind, "worked_hours": Decimal(0), "billed_hours": Decimal(0), "retainer_hours": Decimal(0),
        "source_value": Decimal(0), "billed_value": unit_amount, **_fx_fields("fx", ident),
        "approved_by": None, "approved_at": None, "entry_count": 0, "source_entry_ids": source_ids,
        "markup_percent": None, "_sort": sort,
    }


def _fee_lines(rules: LineRules, invoice_ccy: dict[str, str], names: dict[str, str],
               start: date | None, end: date | None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for p in sorted(rules.projects.values(), key=lambda p: p.project_id):
        if p.client_id is None:
            continue
        ccy = invoice_ccy.get(p.client_id) or p.currency
        if ccy is None:
            continue
        name = names.get(p.client_id, p.client_id)
        account = p.account_code or rules.account_code
        if p.billing == "fixed_fee" and start and end:
            for i, (mname, amount, on) in enumerate(p.milestones):
                if start <= on <= end:
                    out.append(_fixed_line(p.client_id, name, ccy, "fee", f"{p.name or p.project_id} — milestone: {mname}",
                                           amount, account, p, (1, p.project_id, f"{i:04d}", Decimal(0)),
                                           f"milestone:{p.project_id}:{i}"))
        if p.billing == "retainer" and p.retainer_fee is not None:
            out.append(_fixed_line(p.client_id, name, ccy, "retainer",
                                   f"{p.name or p.project_id} — monthly retainer ({_fmt_h(p.retainer_hours or Decimal(0))} h)",
                                   p.retainer_fee, account, p, (1, p.project_id, "retainer", Decimal(0)),
                                   f"retainer:{p.project_id}"))
    return out


def _discount_lines(rows: list[dict[str, Any]], rules: LineRules) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    by_client: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        if r["kind"] != "expense":  # expenses are passed on, not discounted
            by_client.setdefault(r["client_id"], []).append(r)
    for cid, lst in sorted(by_client.items()):
        terms = rules.clients.get(cid)
        if not terms or not terms.discount_percent:
            continue
        ccy = lst[0]["currency"]
        subtotal = sum((from_minor(int(r["line_amount_minor"]), ccy) for r in lst), Decimal(0))
        disc = quantize(subtotal * terms.discount_percent / Decimal(100), ccy, rules.rounding_mode)
        if disc:
            out.append(_fixed_line(cid, lst[0]["client_name"], ccy, "discount",
                                   f"Discount {format(terms.discount_percent.normalize(), 'f')} %", -disc,
                                   rules.discount_account_code or rules.account_code, None, (2, "", "", Decimal(0)),
                                   f"discount:{cid}"))
    return out


def invoice_headers(lines: pd.DataFrame, tax_rounding: str = "line") -> list[dict[str, Any]]:
    """Group finalized lines into invoices (one dict per invoice, lines in order).

    ``tax_rounding = line`` (Xero's default) sums the lines' rounded taxes; ``invoice`` rounds once per tax
    rate over the invoice (the mapping's ``tax.rounding``).
    """
    invoices: list[dict[str, Any]] = []
    if lines.empty:
        return invoices
    inclusive_all = "line_amount_types" in lines and (lines["line_amount_types"] == "Inclusive").all()
    per_invoice = (invoice_level_tax(lines, "inclusive" if inclusive_all else "exclusive")
                   if tax_rounding == "invoice" else {})
    for key, grp in lines.groupby("invoice_key", sort=True):
        first = grp.iloc[0]
        ccy = first["currency"]
        subtotal = int(grp["line_amount_minor"].sum())
        tax = int(grp["tax_amount_minor"].sum()) if "tax_amount_minor" in grp else 0
        tax = per_invoice.get(str(key), tax)
        inclusive = "line_amount_types" in grp and first["line_amount_types"] == "Inclusive"
        invoices.append({
            "invoice_key": key,
            "reference": first["reference"],
            "client_id": first["client_id"],
            "client_name": first["client_name"],
            "currency": ccy,
            "line_amount_types": "Inclusive" if inclusive else "Exclusive",
            "subtotal_minor": subtotal - tax if inclusive else subtotal,
            "total_tax_minor": tax,
            "total_minor": subtotal if inclusive else subtotal + tax,
            "lines": [
                {
                    "line_no": int(r.line_no),
                    "description": r.description,
                    "quantity": Decimal(r.quantity),
                    "unit_amount": Decimal(r.unit_amount),
                    "line_amount": from_minor(int(r.line_amount_minor), ccy),
                    "account_code": r.account_code,
                    "tax_type": r.tax_type,
                    "tax_amount": from_minor(int(getattr(r, "tax_amount_minor", 0) or 0), ccy),
                    "item_code": getattr(r, "item_code", None),
                    "tracking_category": getattr(r, "tracking_category", None),
                    "tracking_option": getattr(r, "tracking_option", None),
                    "rate_source": getattr(r, "rate_source", None),
                    "approved_by": getattr(r, "approved_by", None),
                    "approved_at": getattr(r, "approved_at", None),
                    "source_entry_ids": r.source_entry_ids,
                }
                for r in grp.sort_values("line_no").itertuples()
            ],
        })
    return invoices


def invoice_level_tax(lines: pd.DataFrame, amounts: str = "exclusive", mode: str = "half_up") -> dict[str, int]:
    """Tax rounded once per invoice and tax rate (the alternative to Xero's per-line rounding)."""
    out: dict[str, int] = {}
    for key, grp in lines.groupby("invoice_key", sort=True):
        ccy = grp["currency"].iloc[0]
        total = 0
        for pct, g in grp.groupby("tax_rate_percent"):
            base = sum((from_minor(int(m), ccy) for m in g["line_amount_minor"]), Decimal(0))
            p = Decimal(pct)
            tax = _exact(lambda base=base, p=p: base * p / (Decimal(100) + p)) if amounts == "inclusive" \
                else base * p / Decimal(100)
            total += to_minor(tax, ccy, mode)
        out[str(key)] = total
    return out


@dataclass(frozen=True)
class ConservationResult:
    passed: bool
    counts: dict[str, int]
    per_currency: dict[str, dict[str, str]]
    problems: list[str]


@dataclass
class EntryFacts:
    """What conservation needs to know about a partition's entries, however it was computed (pandas or SQL).

    ``source_value``/``held_value``: per source currency, Σ value of the billable entries and Σ hours x rate
    of the held ones. ``drafted_ids``: how many source entry ids the time lines cite (with repeats) and how
    many distinct; ``missing``/``extra``: a few billable entries on no line, and ids on lines that are not
    billable entries.
    """

    raw_count: int
    clean_count: int
    clean_distinct: int
    counts: dict[str, int]
    billable_rows: int
    source_value: dict[str, Decimal]
    held_value: dict[str, Decimal]
    drafted_ids: int
    drafted_distinct: int
    missing: list[str]
    extra: list[str]
    billable_distinct: int | None = None  # distinct entry ids among the billable rows (None: as many as rows)


def entry_facts(raw_count: int, clean: pd.DataFrame, billables: pd.DataFrame, drafts: pd.DataFrame) -> EntryFacts:
    counts = {str(k): int(v) for k, v in clean["disposition"].value_counts().items()} if len(clean) else {}
    time = drafts[drafts["kind"] == "time"] if len(drafts) and "kind" in drafts else drafts
    drafted = [i for s in time["source_entry_ids"] for i in str(s).split(",") if i] if len(time) else []
    billable_ids = set(billables["entry_id"])
    held = clean[clean["disposition"] == "held"] if len(clean) else clean
    source = {str(c): sum((Decimal(v) for v in billables.loc[billables["currency"] == c, "value"]), Decimal(0))
              for c in set(billables["currency"])}
    held_value = {}
    for c in set(held["currency"].dropna()) if len(held) else set():
        h = held[held["currency"] == c]
        held_value[str(c)] = sum((Decimal(a) * Decimal(b) for a, b in zip(h["hours"], h["rate"], strict=True)
                                  if a is not None and b is not None and a == a and b == b), Decimal(0))
    return EntryFacts(raw_count=raw_count, clean_count=len(clean), clean_distinct=int(clean["entry_id"].nunique()),
                      counts=counts, billable_rows=len(billables), source_value=source, held_value=held_value,
                      drafted_ids=len(drafted), drafted_distinct=len(set(drafted)),
                      missing=sorted(billable_ids - set(drafted))[:10], extra=sorted(set(drafted) - billable_ids)[:10],
                      billable_distinct=len(billable_ids))


def check_conservation(raw_count: int, clean: pd.DataFrame, billables: pd.DataFrame,
                       drafts: pd.DataFrame, raw_expense_count: int | None = None,
                       clean_expenses: pd.DataFrame | None = None,
                       expense_billables: pd.DataFrame | None = None) -> ConservationResult:
    """Conservation of a partition held in frames (see :func:`check_conservation_facts`)."""
    return check_conservation_facts(entry_facts(raw_count, clean, billables, drafts), drafts,
                                    raw_expense_count=raw_expense_count, clean_expenses=clean_expenses,
                                    expense_billables=expense_billables)


def check_conservation_facts(facts: EntryFacts, drafts: pd.DataFrame, raw_expense_count: int | None = None,
                             clean_expenses: pd.DataFrame | None = None,
                             expense_billables: pd.DataFrame | None = None) -> ConservationResult:
    """Every source entry in exactly one disposition; the money adds up to the cent per currency.

    Per source (transaction) currency: the value of the billable entries (Σ hours x rate) is carried
    whole by the time lines, and the held entries' value is reported beside it. Per invoice currency:
    drafted (Σ rounded time-line amounts) + rounding remainder = billed value, the exact value of the
    billed time after the time rules (increments, minimums, retainer drawdown) and conversion; each
    line's remainder is within the rounding of a 4-dp quantity and unit amount and half a minor unit.
    Fee, retainer and discount lines are reported separately (they carry no time).

    Expenses (when given) obey the same law: every raw expense in exactly one disposition, every billable
    expense on exactly one expense line; per source currency the lines carry the billable amounts (before
    markup) whole; per invoice currency drafted expenses + rounding remainder = the marked-up, converted value.
    """
    problems: list[str] = []
    counts = dict(facts.counts)
    if facts.clean_count != facts.raw_count:
        problems.append(f"{facts.raw_count} raw entries but {facts.clean_count} classified entries")
    if facts.clean_distinct != facts.clean_count:
        problems.append("an entry is classified more than once")
    n_billable = counts.get("billable", 0)
    if facts.billable_rows != n_billable:
        problems.append(f"{n_billable} billable entries but {facts.billable_rows} billable rows")
    if facts.billable_distinct is not None and facts.billable_distinct != facts.billable_rows:
        problems.append(f"a billable entry has more than one row ({facts.billable_rows} rows, "
                        f"{facts.billable_distinct} entries)")
    time = drafts[drafts["kind"] == "time"] if len(drafts) and "kind" in drafts else drafts
    if facts.drafted_ids != facts.drafted_distinct:
        problems.append("an entry appears on more than one invoice line")
    if facts.missing or facts.extra:
        problems.append(f"billable entries not on a line: {facts.missing}; lines citing non-billable "
                        f"entries: {facts.extra}")
    per_currency: dict[str, dict[str, str]] = {}
    for ccy in sorted(set(facts.source_value) | set(facts.held_value)):
        source = facts.source_value.get(ccy, Decimal(0))
        held_value = facts.held_value.get(ccy, Decimal(0))
        tl = time[time["source_currency"] == ccy] if len(time) else time
        line_source = sum((Decimal(v) for v in tl["source_value"]), Decimal(0)) if len(tl) else Decimal(0)
        if line_source != source:
            problems.append(f"{ccy}: time lines carry {line_source} of source value but billable entries total {source}")
        per_currency.setdefault(ccy, {})
        per_currency[ccy].update({"source_billable": str(source), "held": str(held_value),
                                  "source_total": str(source + held_value)})
    for ccy in sorted(set(drafts["currency"]) if len(drafts) else []):
        dl = drafts[drafts["currency"] == ccy]
        tl = dl[dl["kind"] == "time"]
        drafted_time, billed, remainder = _line_remainders(tl, ccy, "line", problems)
        fees = sum((from_minor(int(m), ccy) for m in dl.loc[dl["kind"].isin(["fee", "retainer"]), "line_amount_minor"]),
                   Decimal(0))
        discounts = sum((from_minor(int(m), ccy) for m in dl.loc[dl["kind"] == "discount", "line_amount_minor"]),
                        Decimal(0))
        el = dl[dl["kind"] == "expense"]
        drafted_exp = sum((from_minor(int(m), ccy) for m in el["line_amount_minor"]), Decimal(0))
        per_currency.setdefault(ccy, {})
        per_currency[ccy].update({"billed_value": str(billed), "drafted_time": str(drafted_time),
                                  "rounding_remainder": str(remainder), "fees": str(fees), "discounts": str(discounts),
                                  "drafted_total": str(drafted_time + fees + discounts + drafted_exp)})
    if clean_expenses is not None:
        _expense_conservation(raw_expense_count, clean_expenses, expense_billables, drafts, counts, per_currency,
                              problems)
    return ConservationResult(not problems, counts, per_currency, problems)


def _expense_conservation(raw_count: int | None, clean: pd.DataFrame, billables: pd.DataFrame | None,
                          drafts: pd.DataFrame, counts: dict[str, int], per_currency: dict[str, dict[str, str]],
                          problems: list[str]) -> None:
    billables = billables if billables is not None else clean.iloc[0:0]
    for k, v in (clean["disposition"].value_counts().items() if len(clean) else []):
        counts[f"expense_{k}"] = int(v)
    if raw_count is not None and len(clean) != raw_count:
        problems.append(f"{raw_count} raw expenses but {len(clean)} classified expenses")
    if clean["expense_id"].duplicated().any():
        problems.append("an expense is classified more than once")
    n_billable = int((clean["disposition"] == "billable").sum()) if len(clean) else 0
    if len(billables) != n_billable:
        problems.append(f"{n_billable} billable expenses but {len(billables)} expense billable rows")
    el = drafts[drafts["kind"] == "expense"] if len(drafts) else drafts
    cited = [i.removeprefix("expense:") for s in (el["source_entry_ids"] if len(el) else [])
             for i in str(s).split(",") if i]
    if len(cited) != len(set(cited)):
        problems.append("an expense appears on more than one invoice line")
    wanted = set(billables["expense_id"]) if len(billables) else set()
    if set(cited) != wanted:
        problems.append(f"billable expenses not on a line: {sorted(wanted - set(cited))[:10]}; expense lines citing "
                        f"non-billable expenses: {sorted(set(cited) - wanted)[:10]}")
    held = clean[clean["disposition"] == "held"] if len(clean) else clean
    src = set(billables["currency"]) if len(billables) else set()
    src |= set(held["currency"].dropna()) if len(held) else set()
    for ccy in sorted(src):
        amount = sum((Decimal(v) for v in billables.loc[billables["currency"] == ccy, "total_cost"]), Decimal(0))
        h = held[held["currency"] == ccy] if len(held) else held
        held_amount = sum((Decimal(v) for v in h["total_cost"] if v is not None and v == v), Decimal(0))
        lines = el[el["source_currency"] == ccy] if len(el) else el
        carried = sum((Decimal(v) for v in lines["source_value"]), Decimal(0)) if len(lines) else Decimal(0)
        if carried != amount:
            problems.append(f"{ccy}: expense lines carry {carried} of expenses but billable expenses total {amount}")
        per_currency.setdefault(ccy, {}).update({"expense_source_billable": str(amount),
                                                 "expense_held": str(held_amount)})
    for ccy in sorted(set(el["currency"]) if len(el) else []):
        lines = el[el["currency"] == ccy]
        drafted, billed, remainder = _line_remainders(lines, ccy, "expense line", problems)
        per_currency.setdefault(ccy, {}).update({"expense_billed_value": str(billed), "drafted_expenses": str(drafted),
                                                 "expense_rounding_remainder": str(remainder)})


def _line_remainders(lines: pd.DataFrame, ccy: str, kind: str,
                     problems: list[str]) -> tuple[Decimal, Decimal, Decimal]:
    """Drafted and billed value of one currency's lines of a kind, and the rounding remainder between them; the
    lines' own remainders must add up to it and each stay within its rounding bound (problems appended)."""
    drafted = sum((from_minor(int(m), ccy) for m in lines["line_amount_minor"]), Decimal(0))
    billed = sum((Decimal(v) for v in lines["billed_value"]), Decimal(0))
    remainder = billed - drafted
    if sum((Decimal(v) for v in lines["rounding_remainder"]), Decimal(0)) != remainder:
        problems.append(f"{ccy}: {kind} remainders do not add up to billed - drafted ({remainder})")
    for r in lines.itertuples(index=False):
        bound = _remainder_bound(r, ccy)
        if abs(Decimal(r.rounding_remainder)) > bound:
            problems.append(f"{ccy}: {kind} {r.reference}#{r.line_no} remainder {r.rounding_remainder} exceeds "
                            f"the rounding bound {bound}")
    return drafted, billed, remainder


def _remainder_bound(r: Any, ccy: str) -> Decimal:
    """|billed value - line amount| ≤ half a minor unit + the effect of the 4-dp quantity and unit amount."""
    half_unit = from_minor(1, ccy) / 2
    q, u = abs(Decimal(r.quantity)), abs(Decimal(r.unit_amount))
    step = Decimal("0.00005")
    return half_unit + u * step + (q + step) * step
