"""Labelled accounting-side data for cash reconciliation: invoices, payments and bank lines, with noise.

Deterministic by seed. What a real receivables ledger and bank statement look like, mess included:

- invoices of customers in GBP, EUR and USD, some customers on fixed monthly retainers (same amount
  every month), customers whose names share words ("Northwind Logistics" / "Northwind Foods");
- payments already recorded in the accounting system by hand (not yet reconciled to a bank line);
- bank lines whose remittance text carries the invoice number, our reference, a typo'd number
  (dropped/transposed/OCR-confused digits), only the digits, or nothing useful;
- payer names as banks show them: upper case, truncated, legal form changed, typos, or a parent
  company / trading name that shares nothing with the contact name;
- bank fees deducted, small over-payments, partial payments (two instalments, or one and the rest
  still open), one payment for several invoices, foreign-currency invoices paid into the GBP
  account at the day's rate with a spread, invoices left unpaid;
- lines that pay no invoice of ours: interest, refunds, transfers, unknown payers, duplicate
  payments of already-paid invoices, references to invoice numbers that do not exist.

``labels`` is the ground truth: one row per (bank line, invoice) link with the amount applied in the
invoice's currency and the noise the line carries. Lines without a label pay no open invoice.
"""

from __future__ import annotations

import random
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from functools import cache
from typing import Any

import pandas as pd

from sync_pipeline.domain.fx import RateTable, convert_minor
from sync_pipeline.domain.money import from_minor

BANK_CURRENCY = "GBP"
BANK_ACCOUNT_CODE = "090"
ACCOUNT_OF = {"GBP": BANK_ACCOUNT_CODE, "EUR": "092", "USD": "093"}  # the sandbox's bank accounts
_NS = uuid.UUID("6c1b7c52-5d1e-4c0e-9a57-0a3f3e0c1d11")

_FIRST = ("Northwind Acme Globex Initech Umbrella Stark Wayne Wonka Tyrell Cyberdyne Soylent Hooli Vandelay "
          "Pied Piper Massive Dynamic Aperture Oscorp Gringotts Duff Krusty Monarch Dunder Mifflin Blue Sun "
          "Nakatomi Weyland Yutani Virtucon Genco Sterling Cooper Bluth Prestige Worldwide Vehement Gekko "
          "Rekall Spacely Cogswell Ollivander Zorg Nimbus Quantum Helix Orion Atlas Beacon Cedar Delta Ember "
          "Falcon Granite Harbor Ivory Juniper Kestrel Lumen Meridian Nova Onyx Pioneer Quarry Raven Summit "
          "Thistle Unity Vertex Willow Xenon Yarrow Zephyr Alder Birch Cobalt Dune Elm Fjord Grove Heron "
          "Indigo Jasper Kite Larch Maple Nectar Opal Pine Quill Reed Sable Tamarind Umber Violet Wren").split()
_SECOND = ("Logistics Foods Consulting Software Media Systems Partners Holdings Labs Analytics Design "
           "Engineering Retail Health Energy Capital Digital Studios Ventures Industries Networks Solutions "
           "Trading Group Services Robotics Pharma Travel Publishing Interiors Textiles Marine Farms Bakery "
           "Brewing Architects Education Security Finance Insurance Apparel Motors Aviation Clinics").split()
_LEGAL = {"GBP": ("Ltd", "Limited", "plc", "LLP"), "EUR": ("GmbH", "SARL", "BV", "SpA", "AG"),
          "USD": ("Inc.", "LLC", "Corp.", "Co.")}
_PARENT = ("Holdings", "Group", "International", "Treasury", "Shared Services")
_GENERIC_TEXT = ("PAYMENT", "INVOICE PAYMENT", "THANK YOU", "SUPPLIER PAYMENT", "BACS", "FASTER PAYMENT",
                 "REMITTANCE", "ACCOUNTS PAYABLE", "PMT", "TRANSFER")
_NOISE_PAYERS = ("HMRC", "BARCLAYS INTEREST", "AMAZON MKTPLACE REFUND", "SAVINGS TRANSFER", "STRIPE PAYOUTS",
                 "PAYPAL TRANSFER", "DVLA REFUND", "LANDLORD DEPOSIT RETURN", "INSURANCE CLAIM", "PETTY CASH")


@dataclass(frozen=True)
class Noise:
    """How often each kind of mess occurs (fractions); the defaults are what the bench and tests use."""

    unpaid: float = 0.08
    existing_payment: float = 0.05
    partial: float = 0.03
    combined: float = 0.05
    fee: float = 0.05
    overpay: float = 0.01
    fx_paid_in_gbp: float = 0.35  # of foreign-currency invoices
    ref_exact: float = 0.62
    ref_ours: float = 0.05
    ref_typo: float = 0.10
    ref_digits: float = 0.05  # the rest: no usable reference
    payer_exact: float = 0.50
    payer_upper_truncated: float = 0.22
    payer_variant: float = 0.15
    payer_typo: float = 0.08  # the rest: customer-level renamed payer (parent / trading name)
    renamed_customers: float = 0.05
    retainer_customers: float = 0.06
    duplicate_payment: float = 0.004


@dataclass
class Customer:
    contact_id: str
    contact_number: str
    name: str
    currency: str
    weight: float
    retainer_minor: int | None
    parent_name: str | None
    bank_names: list[str] = field(default_factory=list)


@dataclass
class CashDataset:
    entity: str
    bank_account: str
    bank_currency: str
    invoices: pd.DataFrame
    payments: pd.DataFrame
    bank_lines: pd.DataFrame
    labels: pd.DataFrame
    contacts: pd.DataFrame

    def summary(self) -> dict[str, Any]:
        return {"invoices": len(self.invoices), "payments": len(self.payments), "bank_lines": len(self.bank_lines),
                "true_links": len(self.labels), "noise": self.labels["noise"].value_counts().to_dict()}

    # -- the accounting system and the bank ------------------------------------------------------------
    def seed_xero(self, sandbox: Any, tenant: str) -> dict[str, str]:
        """Load contacts, invoices and recorded payments into a ``XeroSandbox`` tenant (no HTTP).

        Returns generated invoice id -> the accounting system's InvoiceID (labels name generated ids).
        """
        def ok(results: Iterator[dict[str, Any]], what: str) -> list[dict[str, Any]]:
            out = list(results)
            bad = [r for r in out if r.get("HasErrors")]
            if bad:
                raise ValueError(f"the sandbox refused {len(bad)} {what}: {bad[0].get('ValidationErrors')}")
            return out

        ok(sandbox.bulk_create("Contacts", tenant, [
            {"Name": r.name, "ContactNumber": r.contact_number, "DefaultCurrency": r.currency, "IsCustomer": True}
            for r in self.contacts.itertuples()]), "contacts")
        created = ok(sandbox.bulk_create("Invoices", tenant, [
            {"Type": "ACCREC", "InvoiceNumber": r.invoice_number, "Reference": r.reference,
             "Contact": {"ContactNumber": r.contact_number}, "Date": r.date, "DueDate": r.due_date,
             "Status": "AUTHORISED", "CurrencyCode": r.currency, "LineAmountTypes": "NoTax",
             "LineItems": [{"Description": f"Services {r.invoice_number}", "Quantity": Decimal(1),
                            "UnitAmount": from_minor(int(r.total_minor), r.currency), "AccountCode": "200",
                            "TaxType": "NONE"}]}
            for r in self.invoices.itertuples()]), "invoices")
        ids = dict(zip(self.invoices["invoice_id"], (c["InvoiceID"] for c in created), strict=True))
        ok(sandbox.bulk_create("Payments", tenant, [
            {"Invoice": {"InvoiceID": ids[r.invoice_id]}, "Account": {"Code": self.bank_account}, "Date": r.date,
             "Amount": from_minor(int(r.amount_minor), r.currency), "Reference": r.reference,
             **({"CurrencyRate": (from_minor(int(r.amount_minor), r.currency)
                                  / from_minor(int(r.bank_amount_minor), self.bank_currency)).quantize(Decimal("1e-6"))}
                if r.currency != self.bank_currency else {})}
            for r in self.payments.itertuples()]), "payments")
        return ids

    def statement_rows(self) -> Iterator[dict[str, str]]:
        """Bank statement lines as a bank's CSV export has them (amounts as exact decimal strings)."""
        for r in self.bank_lines.itertuples():
            yield {"date": r.date, "amount": str(from_minor(int(r.amount_minor), r.currency)),
                   "currency": r.currency, "payer": r.payer_name, "description": r.description,
                   "bank_reference": r.bank_reference}


@cache
def _uid_prefix(seed: int, kind: str) -> str:
    return f"{zlib.crc32(f'{_NS}:{seed}:{kind}'.encode()):08x}-{seed & 0xFFFF:04x}-4000-8{zlib.crc32(kind.encode()) & 0xFFF:03x}-"


def _uid(seed: int, kind: str, n: int) -> str:
    """A UUID-shaped id, deterministic in (seed, kind, n) and cheap enough for millions of rows."""
    return f"{_uid_prefix(seed, kind)}{n:012x}"


def _customers(rng: random.Random, n: int, noise: Noise, seed: int) -> list[Customer]:
    names: set[str] = set()
    out: list[Customer] = []
    i = 0
    while len(out) < n:
        i += 1
        ccy = rng.choices(("GBP", "EUR", "USD"), (0.75, 0.15, 0.10))[0]
        base = f"{rng.choice(_FIRST)} {rng.choice(_SECOND)}"
        if i > 20 * n:  # the word lists are exhausted: number the names
            base = f"{base} {i}"
        name = f"{base} {rng.choice(_LEGAL[ccy])}"
        if base in names:
            continue
        names.add(base)
        k = len(out) + 1
        retainer = None
        if rng.random() < noise.retainer_customers:
            retainer = rng.choice((50000, 100000, 150000, 250000, 120000, 99900))
        parent = None
        if rng.random() < noise.renamed_customers:
            parent = f"{rng.choice(_FIRST)} {rng.choice(_PARENT)}"
        out.append(Customer(_uid(seed, "contact", k), f"CUST-{k:05d}", name, ccy,
                            weight=min(rng.paretovariate(1.5), 25.0), retainer_minor=retainer, parent_name=parent))
    return out


def _typo(rng: random.Random, s: str) -> str:
    if len(s) < 4:
        return s
    i = rng.randrange(1, len(s) - 1)
    op = rng.random()
    if op < 0.35:
        return s[:i] + s[i + 1] + s[i] + s[i + 2:]  # transposition
    if op < 0.7:
        return s[:i] + s[i + 1:]  # deletion
    return s[:i] + rng.choice("abcdefghijklmnopqrstuvwxyz") + s[i + 1:]  # substitution


def _payer_name(rng: random.Random, c: Customer, noise: Noise) -> tuple[str, str]:
    if c.parent_name is not None:
        return c.parent_name.upper(), "renamed_payer"
    r = rng.random()
    if r < noise.payer_exact:
        return c.name, ""
    r -= noise.payer_exact
    if r < noise.payer_upper_truncated:
        return c.name.upper()[: rng.choice((18, 22, 35))].strip(), ""
    r -= noise.payer_upper_truncated
    if r < noise.payer_variant:
        base = c.name.rsplit(" ", 1)[0]
        return rng.choice((base, f"{base} {rng.choice(('LTD', 'LIMITED', 'GROUP', 'UK'))}", base.upper())), ""
    return _typo(rng, c.name), "payer_typo"


def _number_typo(rng: random.Random, number: str) -> str:
    digits = number.split("-", 1)[1]
    r = rng.random()
    if r < 0.25:  # OCR-like confusions the normaliser undoes
        return "INV-" + digits.replace("0", "O", 1) if "0" in digits else "INV " + digits
    if r < 0.45:
        return "INV" + digits.lstrip("0")  # dropped prefix zeros and dash
    if r < 0.75:  # transposition of two adjacent digits
        i = rng.randrange(len(digits) - 1)
        return "INV-" + digits[:i] + digits[i + 1] + digits[i] + digits[i + 2:]
    i = rng.randrange(len(digits))  # one digit wrong
    return "INV-" + digits[:i] + str((int(digits[i]) + rng.randrange(1, 10)) % 10) + digits[i + 1:]


def _remittance(rng: random.Random, invoices: list[dict[str, Any]], noise: Noise) -> tuple[str, str]:
    r = rng.random()
    if r < noise.ref_exact:
        return " ".join(i["invoice_number"] for i in invoices), ""
    r -= noise.ref_exact
    if r < noise.ref_ours:
        return " ".join(i["reference"] for i in invoices), ""
    r -= noise.ref_ours
    if r < noise.ref_typo:
        return " ".join(_number_typo(rng, i["invoice_number"]) for i in invoices), "ref_typo"
    r -= noise.ref_typo
    if r < noise.ref_digits:
        return " ".join(i["invoice_number"].split("-")[1].lstrip("0") for i in invoices), "ref_digits"
    return rng.choice(_GENERIC_TEXT) + (f" {rng.randrange(10**5, 10**6)}" if rng.random() < 0.3 else ""), "no_ref"


def _decidable(rtag: str, ptag: str, tags: list[str], c: Customer) -> bool:
    """Whether the line carries enough evidence for anyone to settle it without asking.

    Not when the text names no invoice and the payment is partial, or comes from a payer name that shares
    nothing with the contact, or is one of a retainer customer's identical monthly amounts: an accountant
    asks the customer (or the workbench learns the payer) before applying those.
    """
    if rtag != "no_ref":
        return True
    return not ("partial" in tags or ptag == "renamed_payer" or c.retainer_minor is not None)


def _rates(start: date, end: date) -> RateTable:
    from sync_pipeline.connectors.fx import EcbBundledProvider

    return RateTable(EcbBundledProvider(clock=lambda: "generator").published_rates(
        ["GBP", "USD"], start - timedelta(days=10), end))


def generate(seed: int = 7, n_invoices: int = 1000, n_bank_lines: int | None = None, *, entity: str = "acme-uk",
             start: date = date(2026, 1, 1), days: int = 240, noise: Noise | None = None) -> CashDataset:
    """A labelled dataset; ``n_bank_lines`` (default 1.2 × invoices) is filled up with non-invoice lines."""
    noise = noise or Noise()
    rng = random.Random(seed)
    n_bank_lines = n_bank_lines if n_bank_lines is not None else int(n_invoices * 1.2)
    customers = _customers(rng, max(3, n_invoices // 20), noise, seed)
    cum_weights: list[float] = []
    acc = 0.0
    for c in customers:
        acc += c.weight
        cum_weights.append(acc)
    last_day = start + timedelta(days=days + 130)
    rates = _rates(start, min(last_day, date(2026, 10, 30)))

    def rate_on(ccy: str, d: date):
        return rates.rate(ccy, BANK_CURRENCY, min(d, date(2026, 10, 30)))

    invoices: list[dict[str, Any]] = []
    by_customer: dict[str, list[dict[str, Any]]] = {}
    for n in range(1, n_invoices + 1):
        c = rng.choices(customers, cum_weights=cum_weights)[0]
        d = start + timedelta(days=rng.randrange(days))
        if c.retainer_minor is not None:
            amount = c.retainer_minor
        else:
            amount = max(2500, int(rng.lognormvariate(11.6, 1.0)))  # median ~1,100.00
        inv = {"invoice_id": _uid(seed, "invoice", n), "invoice_number": f"INV-{n:06d}",
               "reference": f"SP-{entity}-{d:%Y-%m}-C{c.contact_number[5:].lstrip('0')}-R{n}",
               "contact_id": c.contact_id, "contact_number": c.contact_number, "contact_name": c.name,
               "currency": c.currency, "total_minor": amount, "amount_due_minor": amount, "date": d.isoformat(),
               "due_date": (d + timedelta(days=30)).isoformat(), "_customer": c, "_date": d}
        invoices.append(inv)
        mine = by_customer.setdefault(c.contact_id, [])
        inv["_pos"] = len(mine)
        mine.append(inv)

    lines: list[dict[str, Any]] = []
    labels: list[dict[str, Any]] = []
    payments: list[dict[str, Any]] = []

    def delay() -> int:
        r = rng.random()
        return rng.randrange(3, 36) if r < 0.6 else rng.randrange(0, 61) if r < 0.9 else rng.randrange(60, 121)

    def add_line(d: date, invs: list[dict[str, Any]], applied: list[int], *, fee: int = 0, extra: int = 0,
                 tags: list[str], payment_id: str | None = None) -> None:
        c = invs[0]["_customer"]
        ccy = invs[0]["currency"]
        pay_ccy = ccy
        amount_inv_ccy = sum(applied) - (fee if ccy == BANK_CURRENCY else 0) + (extra if ccy == BANK_CURRENCY else 0)
        if ccy != BANK_CURRENCY:
            if rng.random() < noise.fx_paid_in_gbp:
                pay_ccy = BANK_CURRENCY
                rate = rate_on(ccy, d)
                spread = Decimal(1) - Decimal(rng.randrange(0, 150)) / Decimal(10000)  # 0–1.5 % bank spread
                amount = int(Decimal(convert_minor(sum(applied), rate)) * spread) - fee
                tags = [*tags, "fx"]
            else:
                amount = sum(applied) - fee + extra
        else:
            amount = amount_inv_ccy
        payer, ptag = _payer_name(rng, c, noise)
        text, rtag = _remittance(rng, invs, noise)
        line_id = _uid(seed, "line", len(lines) + 1)
        noise_tags = [t for t in (*tags, ptag, rtag) if t]
        lines.append({"line_id": line_id, "date": d.isoformat(), "amount_minor": amount, "currency": pay_ccy,
                      "payer_name": payer, "description": text, "bank_reference": f"FP{rng.randrange(10**9):09d}",
                      "account": ACCOUNT_OF[pay_ccy]})
        for inv, a in zip(invs, applied, strict=True):
            labels.append({"line_id": line_id, "invoice_id": inv["invoice_id"], "applied_minor": a,
                           "currency": inv["currency"], "payment_id": payment_id,
                           "noise": "+".join(noise_tags) or "clean",
                           "decidable": _decidable(rtag, ptag, tags, c)})

    used: set[str] = set()
    for inv in invoices:
        if inv["invoice_id"] in used:
            continue
        c: Customer = inv["_customer"]
        r = rng.random()
        pay_day = inv["_date"] + timedelta(days=delay())
        if r < noise.unpaid:
            continue
        r -= noise.unpaid
        if r < noise.existing_payment:
            pid = _uid(seed, "payment", len(payments) + 1)
            bank_amount = inv["total_minor"] if inv["currency"] == BANK_CURRENCY else convert_minor(
                inv["total_minor"], rate_on(inv["currency"], pay_day))
            payments.append({"payment_id": pid, "invoice_id": inv["invoice_id"], "invoice_number": inv["invoice_number"],
                             "amount_minor": inv["total_minor"], "currency": inv["currency"],
                             "bank_amount_minor": bank_amount, "date": pay_day.isoformat(),
                             "reference": inv["invoice_number"]})
            inv["amount_due_minor"] = 0
            # the bank line for it: the amount the payment recorded, in the bank's currency
            payer, ptag = _payer_name(rng, c, noise)
            line_id = _uid(seed, "line", len(lines) + 1)
            text, rtag = _remittance(rng, [inv], noise)
            lines.append({"line_id": line_id, "date": (pay_day + timedelta(days=rng.randrange(0, 3))).isoformat(),
                          "amount_minor": bank_amount, "currency": BANK_CURRENCY, "payer_name": payer,
                          "description": text,
                          "bank_reference": f"FP{rng.randrange(10**9):09d}", "account": BANK_ACCOUNT_CODE})
            labels.append({"line_id": line_id, "invoice_id": inv["invoice_id"], "applied_minor": inv["total_minor"],
                           "currency": inv["currency"], "payment_id": pid, "noise": "existing_payment",
                           "decidable": _decidable(rtag, ptag, [], c)})
            used.add(inv["invoice_id"])
            continue
        r -= noise.existing_payment
        if r < noise.partial:
            first = inv["total_minor"] * rng.choice((30, 40, 50, 60)) // 100
            add_line(pay_day, [inv], [first], tags=["partial"])
            if rng.random() < 0.6:  # the rest follows later, or is still open
                add_line(pay_day + timedelta(days=rng.randrange(7, 45)), [inv], [inv["total_minor"] - first],
                         tags=["partial"])
            used.add(inv["invoice_id"])
            continue
        r -= noise.partial
        if r < noise.combined:
            later = by_customer[c.contact_id][inv["_pos"] + 1: inv["_pos"] + 40]
            mates = [i for i in later if i["invoice_id"] not in used
                     and abs((i["_date"] - inv["_date"]).days) <= 45][: rng.choice((1, 1, 2, 3))]
            if mates:
                group = [inv, *mates]
                add_line(max(i["_date"] for i in group) + timedelta(days=delay()), group,
                         [i["total_minor"] for i in group], tags=["combined"])
                used.update(i["invoice_id"] for i in group)
                continue
        tags: list[str] = []
        fee = extra = 0
        if rng.random() < noise.fee:
            fee = rng.choice((50, 100, 150, 250, 500, 750, 1000, 1500, 2000))
            tags.append("fee")
        elif rng.random() < noise.overpay / (1 - noise.fee):
            extra = rng.randrange(1, 100)
            tags.append("overpay")
        add_line(pay_day, [inv], [inv["total_minor"]], fee=fee, extra=extra, tags=tags)
        used.add(inv["invoice_id"])

    # duplicates of already paid invoices: they must not be applied again
    paid = [i for i in invoices if i["invoice_id"] in used]
    for _ in range(int(len(invoices) * noise.duplicate_payment)):
        inv = rng.choice(paid)
        c = inv["_customer"]
        lines.append({"line_id": _uid(seed, "line", len(lines) + 1),
                      "date": (inv["_date"] + timedelta(days=delay() + 20)).isoformat(),
                      "amount_minor": inv["total_minor"] if inv["currency"] == BANK_CURRENCY else convert_minor(
                          inv["total_minor"], rate_on(inv["currency"], inv["_date"])),
                      "currency": BANK_CURRENCY, "payer_name": c.name.upper(), "description": inv["invoice_number"],
                      "bank_reference": f"FP{rng.randrange(10**9):09d}", "account": BANK_ACCOUNT_CODE})
    # lines that pay nothing of ours, up to the requested count
    while len(lines) < n_bank_lines:
        d = start + timedelta(days=rng.randrange(days + 60))
        kind = rng.random()
        if kind < 0.4:
            payer, text = rng.choice(_NOISE_PAYERS), rng.choice(("INTEREST", "REFUND", "TRANSFER", "ADJ", ""))
        elif kind < 0.8:
            payer = f"{rng.choice(_FIRST)} {rng.choice(_SECOND)} {rng.choice(_LEGAL['GBP'])}"
            text = rng.choice(_GENERIC_TEXT)
        else:  # a reference to an invoice we never issued
            payer = f"{rng.choice(_FIRST)} {rng.choice(_SECOND)}".upper()
            text = f"INV-{rng.randrange(n_invoices + 1000, n_invoices + 900000):06d}"
        lines.append({"line_id": _uid(seed, "line", len(lines) + 1), "date": d.isoformat(),
                      "amount_minor": max(100, int(rng.lognormvariate(10.5, 1.3))), "currency": BANK_CURRENCY,
                      "payer_name": payer, "description": text, "bank_reference": f"FP{rng.randrange(10**9):09d}",
                      "account": BANK_ACCOUNT_CODE})

    # what the ledger shows now: invoices partly or fully paid by recorded payments
    inv_df = pd.DataFrame([{k: v for k, v in i.items() if not k.startswith("_")} for i in invoices])
    contacts = pd.DataFrame([{"contact_id": c.contact_id, "contact_number": c.contact_number, "name": c.name,
                              "currency": c.currency, "payer_alias": c.parent_name} for c in customers])
    order = list(range(len(lines)))
    rng.shuffle(order)  # a statement is in date order, not in generation order
    bank = pd.DataFrame([lines[i] for i in order]).sort_values(["date", "line_id"], kind="stable")
    pay_cols = ["payment_id", "invoice_id", "invoice_number", "amount_minor", "currency", "bank_amount_minor",
                "date", "reference"]
    return CashDataset(
        entity=entity, bank_account=BANK_ACCOUNT_CODE, bank_currency=BANK_CURRENCY, invoices=inv_df,
        payments=pd.DataFrame(payments, columns=pay_cols),
        bank_lines=bank.reset_index(drop=True),
        labels=pd.DataFrame(labels, columns=["line_id", "invoice_id", "applied_minor", "currency", "payment_id",
                                             "noise", "decidable"]),
        contacts=contacts)
