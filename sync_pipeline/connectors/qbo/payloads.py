"""Neutral documents (``contracts.payloads.accounting``) as QuickBooks Online JSON, and back.

How our concepts land in QuickBooks:

- customer number ``HV-1``: a tag ``[HV-1]`` ending the customer's ``DisplayName`` (unique, queryable with
  ``LIKE``); QuickBooks holds one currency per customer, so a second currency gets ``[HV-1 EUR]``;
- reference ``SP-…-R1``: ``PrivateNote`` ``sync-pipeline ref: SP-…-R1`` (the memo, not printed); with custom
  transaction numbers also a ``DocNumber`` derived from it (at most 21 characters);
- account code of a line: an ``Item`` of type Service whose ``IncomeAccountRef`` is the account with that ``AcctNum``;
- tax type of a line: US companies, the line's ``TaxCodeRef`` ``TAX``/``NON`` and the document's
  ``TxnTaxDetail.TxnTaxCodeRef``; other companies, the line's ``TaxCodeRef`` (a TaxCode id), the document's
  ``GlobalTaxCalculation`` (``TaxExcluded``, ``TaxInclusive`` — line ``Amount`` net, ``TaxInclusiveAmt`` our
  amount — or ``NotApplicable``) and, per tax rate, our tax in ``TxnTaxDetail.TaxLine`` (QuickBooks records the
  difference from its own calculation as ``OverrideDeltaAmount``);
- currency: ``CurrencyRef`` (and ``ExchangeRate`` when we know it);
- payment: a ``Payment`` with one line linking the invoice (``LinkedTxn`` TxnType Invoice), deposited to the bank
  account (``DepositToAccountRef``);
- bank transaction RECEIVE / SPEND: a ``Deposit`` / a ``Purchase`` (PaymentType Cash).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from sync_pipeline.domain.money import MINOR_UNITS

REF_PREFIX = "sync-pipeline ref: "
_REF_RE = re.compile(r"sync-pipeline ref: ([^\r\n]+)")
_TAG_RE = re.compile(r"\[([^\[\]]+)\]\s*$")
DOC_NUMBER_MAX = 21
DISPLAY_NAME_MAX = 500
DESCRIPTION_MAX = 4000


class PayloadError(ValueError):
    """A neutral document that cannot become QuickBooks JSON as configured (names what to configure)."""


@dataclass(frozen=True)
class QboSettings:
    """What the pipeline must know about one QuickBooks company (realm)."""

    realm_id: str
    home_currency: str = "USD"
    #: ``us``: US sales tax (TAX/NON on lines, TxnTaxDetail on the document); ``global``: a TaxCode per line
    tax_model: Literal["us", "global"] = "global"
    #: our tax type (the mapping's ``tax_type``, e.g. OUTPUT2) → TaxCode (id or Name; global) or TAX / NON (us)
    tax_codes: Mapping[str, str] = field(default_factory=dict)
    #: US: the TxnTaxCodeRef (a sales-tax TaxCode, id or Name) of documents with taxable lines; None lets
    #: QuickBooks' automated sales tax decide
    us_sales_tax_code: str | None = None
    #: the company's "custom transaction numbers" preference: True → we send a DocNumber derived from our
    #: reference; False → QuickBooks numbers documents itself and we send none
    custom_doc_numbers: bool = False
    #: account code → Item (its id, or its Name), when the items exist already (else an item ``Services (code)``
    #: per account code is found or created)
    items: Mapping[str, str] = field(default_factory=dict)
    #: account code → Account Name, for companies whose accounts carry no number (``AcctNum``)
    accounts: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.home_currency not in MINOR_UNITS:
            raise ValueError(f"QuickBooks home currency {self.home_currency!r} is not an ISO 4217 code we know")
        if self.tax_model == "us" and any(v not in ("TAX", "NON") for v in self.tax_codes.values()):
            raise ValueError("a US QuickBooks company takes TAX or NON as a line's tax code")


def reference_note(reference: str) -> str:
    return f"{REF_PREFIX}{reference}"


def reference_of(doc: Mapping[str, Any]) -> str | None:
    """Our reference written into a document's ``PrivateNote`` (None when the document is not ours)."""
    note = doc.get("PrivateNote")
    m = _REF_RE.search(note) if isinstance(note, str) else None
    return m.group(1).strip() if m else None


def doc_number(reference: str) -> str:
    """A ``DocNumber`` (at most 21 characters) for a reference: itself when it fits, else ``SP`` + 19 characters of
    its digest (deterministic: the same reference always gets the same number, so a duplicate-number fault on a
    create means the document is there already)."""
    if len(reference) <= DOC_NUMBER_MAX:
        return reference
    digest = base64.b32encode(hashlib.sha256(reference.encode()).digest()).decode().rstrip("=")
    return "SP" + digest[:DOC_NUMBER_MAX - 2]


def customer_tag(number: str, currency: str | None = None) -> str:
    return f"[{number} {currency}]" if currency else f"[{number}]"


def tag_of(display_name: str) -> str | None:
    m = _TAG_RE.search(display_name or "")
    return f"[{m.group(1)}]" if m else None


def untagged(display: str) -> str:
    """A customer's name without our tag: ``Acme Corp [HV-1]`` → ``Acme Corp``."""
    tag = tag_of(display)
    return display[: len(display) - len(tag)].rstrip() if tag and display.endswith(tag) else display


def display_name(name: str, tag: str) -> str:
    """``Name [HV-1]``: QuickBooks refuses ``:``, tabs and new lines in a DisplayName and caps it at 500."""
    clean = " ".join(re.sub(r"[:\t\r\n]+", " ", name).split()) or "Customer"
    room = DISPLAY_NAME_MAX - len(tag) - 1
    if len(clean) > room:
        clean = clean[: room - 1].rstrip() + "…"
    return f"{clean} {tag}"


def customer_payload(name: str, tag: str, currency: str, home_currency: str) -> dict[str, Any]:
    out: dict[str, Any] = {"DisplayName": display_name(name, tag), "CompanyName": name[:100]}
    if currency != home_currency:
        out["CurrencyRef"] = {"value": currency}
    return out


def _currency(out: dict[str, Any], currency: str, rate: Decimal | None, home: str) -> None:
    out["CurrencyRef"] = {"value": currency}
    if rate is not None and currency != home:
        out["ExchangeRate"] = rate


def _tax_code(settings: QboSettings, tax_type: str | None) -> str | None:
    if not tax_type:
        return None
    code = settings.tax_codes.get(tax_type)
    if code is None:
        if settings.tax_model == "us" and tax_type in ("TAX", "NON"):
            return tax_type
        known = ", ".join(sorted(settings.tax_codes)) or "none"
        raise PayloadError(f"no QuickBooks tax code for tax type {tax_type!r} in realm {settings.realm_id}; add it "
                           f"to the entity's qbo.tax_codes (known: {known})")
    return code


UNIT_PRICE_PLACES = Decimal("0.0000001")
#: our line amount types → ``GlobalTaxCalculation`` (non-US companies; US companies take no such field)
GLOBAL_TAX = {"Exclusive": "TaxExcluded", "Inclusive": "TaxInclusive", "NoTax": "NotApplicable"}


def _cents(d: Decimal) -> Decimal:
    return d.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def unit_price(quantity: Decimal, unit: Decimal, amount: Decimal) -> Decimal | None:
    """The UnitPrice to send with ``quantity`` so QuickBooks accepts ``amount`` (it refuses a line whose Amount is
    not UnitPrice × Qty rounded half up to the cent, error 6000). Our amount is what we bill (it may be rounded
    otherwise, e.g. half to even): the rate as invoiced when it multiplies out, else the amount over the quantity
    to 7 places, else None (the line is sent with its Amount alone)."""
    if _cents(quantity * unit) == amount:
        return unit
    price = (amount / quantity).quantize(UNIT_PRICE_PLACES, rounding=ROUND_HALF_UP)
    return price if _cents(quantity * price) == amount else None


def sales_lines(lines: list[Any], item_for: Any, settings: QboSettings, amount_of: Any,
                tax_id: Any = lambda c: c, tax_of: Any = None) -> list[dict[str, Any]]:
    """``SalesItemLineDetail`` lines: the item of the line (``item_for(line)``), quantity, unit price, tax code
    (``tax_id`` turns a configured TaxCode Name into its id; TAX and NON stay as they are).

    With ``tax_of`` (a line's tax as we computed it) the lines' amounts include tax (``TaxInclusive``):
    QuickBooks' ``Amount`` is then the net (our amount less our tax) and ``TaxInclusiveAmt`` our amount, which
    ``Qty × UnitPrice`` gives (hours × rate, as billed)."""
    out = []
    for li in lines:
        amount = amount_of(li)
        detail: dict[str, Any] = {"ItemRef": {"value": item_for(li)}}
        price = unit_price(li.quantity, li.unit_amount, amount)
        if price is not None:
            detail |= {"Qty": li.quantity, "UnitPrice": price}
        code = _tax_code(settings, li.tax_type)
        if code:
            detail["TaxCodeRef"] = {"value": code if code in ("TAX", "NON") else tax_id(code)}
        net = amount
        if tax_of is not None:
            tax = tax_of(li)
            if tax is None:
                raise PayloadError(f"line {li.description!r} has amounts including tax but no tax of its own: "
                                   "QuickBooks needs its net amount")
            net, detail["TaxInclusiveAmt"] = amount - tax, amount
        out.append({"DetailType": "SalesItemLineDetail", "Amount": net,
                    "Description": li.description[:DESCRIPTION_MAX], "SalesItemLineDetail": detail})
    return out


def tax_lines(lines: list[dict[str, Any]], taxes: list[Decimal | None], rates: Mapping[str, list[str]]
              ) -> list[dict[str, Any]] | None:
    """``TxnTaxDetail.TaxLine``: per tax rate, the tax our billing computed for the lines it applies to (so the
    document holds our tax, not QuickBooks' recalculation of it). None when a line has no tax of ours or a tax
    code has other than one rate (a group of rates cannot be split): QuickBooks then calculates."""
    per_rate: dict[str, Decimal] = {}
    for line, tax in zip(lines, taxes, strict=True):
        code = (line["SalesItemLineDetail"].get("TaxCodeRef") or {}).get("value")
        rate_ids = rates.get(str(code), [])
        if tax is None or code is None or len(rate_ids) > 1 or (not rate_ids and tax):
            return None
        if rate_ids:
            per_rate[rate_ids[0]] = per_rate.get(rate_ids[0], Decimal(0)) + tax
    return [{"Amount": tax, "DetailType": "TaxLineDetail", "TaxLineDetail": {"TaxRateRef": {"value": rid}}}
            for rid, tax in per_rate.items()]


def sales_document(draft: Any, *, customer_id: str, lines: list[dict[str, Any]], settings: QboSettings,
                   due: bool, tax_id: Any = lambda c: c) -> dict[str, Any]:
    """The header of an Invoice (``due``) or CreditMemo: customer, dates, currency, reference, tax, number."""
    out: dict[str, Any] = {"CustomerRef": {"value": customer_id}, "TxnDate": draft.date.isoformat(),
                           "PrivateNote": reference_note(draft.reference), "Line": lines}
    if due:
        out["DueDate"] = draft.due_date.isoformat()
    _currency(out, draft.currency, None, settings.home_currency)
    if settings.custom_doc_numbers:
        out["DocNumber"] = doc_number(draft.reference)
    if settings.tax_model == "us":
        taxable = any(li["SalesItemLineDetail"].get("TaxCodeRef", {}).get("value") == "TAX" for li in lines)
        if taxable and settings.us_sales_tax_code:
            out["TxnTaxDetail"] = {"TxnTaxCodeRef": {"value": tax_id(settings.us_sales_tax_code)}}
    else:
        out["GlobalTaxCalculation"] = GLOBAL_TAX[getattr(draft, "line_amount_types", None) or "Exclusive"]
    return out


def payment_payload(draft: Any, *, invoice: Mapping[str, Any], deposit_account_id: str,
                    settings: QboSettings) -> dict[str, Any]:
    """A customer payment applied to one invoice (the invoice's customer and currency)."""
    currency = (invoice.get("CurrencyRef") or {}).get("value") or settings.home_currency
    out: dict[str, Any] = {
        "CustomerRef": {"value": invoice["CustomerRef"]["value"]}, "TotalAmt": draft.amount,
        "TxnDate": draft.date.isoformat(), "DepositToAccountRef": {"value": deposit_account_id},
        "Line": [{"Amount": draft.amount, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}],
    }
    _currency(out, currency, draft.currency_rate, settings.home_currency)
    if draft.reference:
        out["PaymentRefNum"] = draft.reference[:DOC_NUMBER_MAX]
        out["PrivateNote"] = reference_note(draft.reference)
    return out


def bank_payload(draft: Any, *, bank_account_id: str, account_ids: Mapping[str, str],
                 settings: QboSettings) -> tuple[str, dict[str, Any]]:
    """RECEIVE → a ``Deposit`` into the bank account; SPEND → a ``Purchase`` paid from it."""
    amounts = [(li, (li.quantity * li.unit_amount).quantize(Decimal(1).scaleb(-MINOR_UNITS[draft.currency])))
               for li in draft.lines]
    out: dict[str, Any] = {"TxnDate": draft.date.isoformat()}
    _currency(out, draft.currency, None, settings.home_currency)
    if draft.reference:
        out["PrivateNote"] = reference_note(draft.reference)
    if draft.type == "RECEIVE":
        out["DepositToAccountRef"] = {"value": bank_account_id}
        out["Line"] = [{"Amount": a, "Description": li.description[:DESCRIPTION_MAX], "DetailType": "DepositLineDetail",
                        "DepositLineDetail": {"AccountRef": {"value": account_ids[li.account_code]}}}
                       for li, a in amounts]
        return "Deposit", out
    out["PaymentType"] = "Cash"
    out["AccountRef"] = {"value": bank_account_id}
    out["Line"] = [{"Amount": a, "Description": li.description[:DESCRIPTION_MAX],
                    "DetailType": "AccountBasedExpenseLineDetail",
                    "AccountBasedExpenseLineDetail": {"AccountRef": {"value": account_ids[li.account_code]}}}
                   for li, a in amounts]
    return "Purchase", out
