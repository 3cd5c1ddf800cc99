"""Sales tax of an Invoice or CreditMemo, as Intuit documents the two models.

US companies (automated sales tax): lines are ``TAX`` / ``NON``; the transaction's ``TxnTaxDetail.TxnTaxCodeRef``
names the tax code, whose rates apply to the taxable lines; ``TotalTax`` may be overridden. ``GlobalTaxCalculation``
is not applicable to them: ``TaxInclusive`` is refused.

Other companies ("Manage sales tax for non-US locales"): every sales line names a ``TaxCodeRef``; the document says
how its amounts relate to tax in ``GlobalTaxCalculation``:

- ``TaxExcluded`` (the default): line ``Amount`` is net; each rate's tax is its rate of the net amounts it applies to,
  rounded half up to the cent once per rate (``TxnTaxDetail.TaxLine``);
- ``TaxInclusive``: line ``Amount`` is still the net amount (QuickBooks' amounts exclude tax), and
  ``SalesItemLineDetail.TaxInclusiveAmt`` the amount including tax (derived from the net when not sent); the
  ``UnitPrice`` is the price including tax, so ``Qty × UnitPrice`` is checked against ``TaxInclusiveAmt``. A net
  that is not the inclusive amount without its tax (within a cent) is refused. Each rate's tax is taken out of the
  inclusive amounts it applies to: ``Σ inclusive × rate / (100 + rate)``, rounded once per rate;
- ``NotApplicable``: no tax.

A non-US ``TxnTaxDetail.TaxLine`` sent for a rate (``TaxLineDetail.TaxRateRef`` and ``Amount``) overrides that
rate's calculated tax; the line records ``OverrideDeltaAmount``, the override less the calculation, as QuickBooks
does when a user edits the tax. ``TotalAmt`` is the net lines plus ``TotalTax``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sync_pipeline.sandbox.qbo_faults import invalid_reference, validation

CENT = Decimal("0.01")
MODES = ("TaxExcluded", "TaxInclusive", "NotApplicable")


def cents(d: Decimal) -> Decimal:
    return d.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Taxable:
    """One sales line as tax sees it: net amount, tax code id, amount including tax (None: not sent)."""

    net: Decimal
    code: str
    gross: Decimal | None = None


def calculation(company_us: bool, item: dict[str, Any]) -> str | None:
    """The document's ``GlobalTaxCalculation`` (None for a US company), refused when it is not one Intuit lists or
    when a US company is sent ``TaxInclusive``."""
    given = item.get("GlobalTaxCalculation")
    if given is not None and given not in MODES:
        raise validation(f"GlobalTaxCalculation {given!r} is not one of {', '.join(MODES)}", "GlobalTaxCalculation")
    if company_us:
        if given == "TaxInclusive":
            raise validation("GlobalTaxCalculation TaxInclusive is not supported for a US company (automated sales "
                             "tax); send line amounts without tax", "GlobalTaxCalculation")
        return None
    return given or "TaxExcluded"


def inclusive_line(detail: dict[str, Any], net: Decimal, rate_percent: Decimal) -> Decimal:
    """A ``TaxInclusive`` line's amount including tax (sent, or derived from its net), its net checked."""
    if detail.get("TaxInclusiveAmt") is None:
        return cents(net * (100 + rate_percent) / 100)
    gross = cents(Decimal(str(detail["TaxInclusiveAmt"])))
    exact = gross * 100 / (100 + rate_percent)
    if abs(net - exact) >= CENT:
        raise validation(f"Line Amount {net} is not TaxInclusiveAmt {gross} without its {rate_percent}% tax "
                         f"({cents(exact)})", "Line.Amount")
    return gross


def txn_tax(us: bool, mode: str | None, item: dict[str, Any], taxable: list[Taxable],
            code: Callable[[Any, str], dict[str, Any]], rate: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    """``TxnTaxDetail`` of the document: ``code(ref, field)`` resolves a TaxCode reference (raising 2500),
    ``rate(id)`` reads a TaxRate."""
    given = item.get("TxnTaxDetail") or {}
    base: dict[str, Decimal] = {}  # tax rate id → amount the rate applies to (net, or inclusive)
    net_of: dict[str, Decimal] = {}  # tax rate id → net amount taxable
    detail: dict[str, Any] = {}
    if us:
        if given.get("TxnTaxCodeRef") is not None and given["TxnTaxCodeRef"].get("value") not in (None, ""):
            tc = code(given["TxnTaxCodeRef"], "TxnTaxCodeRef")
            if tc["Id"] in ("TAX", "NON"):
                raise invalid_reference("TxnTaxCodeRef", tc["Id"])
            detail["TxnTaxCodeRef"] = {"value": tc["Id"]}
            net = sum((t.net for t in taxable if t.code == "TAX"), Decimal(0))
            for d in tc["SalesTaxRateList"]["TaxRateDetail"]:
                rid = d["TaxRateRef"]["value"]
                base[rid] = net_of[rid] = base.get(rid, Decimal(0)) + net
    elif mode in ("TaxExcluded", "TaxInclusive"):
        for t in taxable:
            for d in code({"value": t.code}, "TaxCodeRef")["SalesTaxRateList"]["TaxRateDetail"]:
                rid = d["TaxRateRef"]["value"]
                amount = t.gross if mode == "TaxInclusive" and t.gross is not None else t.net
                base[rid] = base.get(rid, Decimal(0)) + amount
                net_of[rid] = net_of.get(rid, Decimal(0)) + t.net
    overrides = {} if us else _overrides(given, base)
    tax_lines, total = [], Decimal(0)
    for rid, amount in base.items():
        pct = Decimal(str(rate(rid)["RateValue"]))
        calculated = cents(amount * pct / (100 + pct)) if mode == "TaxInclusive" else cents(amount * pct / 100)
        tax = overrides.get(rid, calculated)
        total += tax
        line: dict[str, Any] = {"TaxRateRef": {"value": rid}, "PercentBased": True, "TaxPercent": pct,
                                "NetAmountTaxable": cents(net_of[rid])}
        if rid in overrides:
            line["OverrideDeltaAmount"] = tax - calculated
        if mode == "TaxInclusive":
            line["TaxInclusiveAmount"] = cents(amount)
        tax_lines.append({"Amount": tax, "DetailType": "TaxLineDetail", "TaxLineDetail": line})
    if us and given.get("TotalTax") is not None and detail.get("TxnTaxCodeRef") is not None:
        total = _money(given["TotalTax"], "TxnTaxDetail.TotalTax")  # QBO lets the total tax be overridden
    return {**detail, "TotalTax": cents(total), "TaxLine": tax_lines}


def _overrides(given: dict[str, Any], base: dict[str, Decimal]) -> dict[str, Decimal]:
    out = {}
    for n, ln in enumerate(given.get("TaxLine") or [], 1):
        d = ln.get("TaxLineDetail") if isinstance(ln, dict) else None
        rid = ((d or {}).get("TaxRateRef") or {}).get("value")
        if rid is None or ln.get("Amount") is None:
            raise validation(f"TxnTaxDetail.TaxLine {n} needs TaxLineDetail.TaxRateRef and Amount",
                             "TxnTaxDetail.TaxLine")
        if str(rid) not in base:
            raise validation(f"TxnTaxDetail.TaxLine {n}: tax rate {rid} applies to no line of this transaction",
                             "TxnTaxDetail.TaxLine")
        out[str(rid)] = cents(_money(ln["Amount"], "TxnTaxDetail.TaxLine.Amount"))
    return out


def _money(value: Any, field: str) -> Decimal:
    try:
        d = Decimal(str(value))
    except ArithmeticError:
        raise validation(f"{field} is not a number: {value!r}", field) from None
    if not d.is_finite():
        raise validation(f"{field} is not a number: {value!r}", field)
    return d

