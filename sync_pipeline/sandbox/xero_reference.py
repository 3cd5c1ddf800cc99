"""Reference data every sandbox Xero organisation starts with: chart of accounts, tax rates, currencies.

Codes and names follow Xero's demo company (UK edition): 200 Sales, 090 Business Bank Account, 404 Bank Fees,
tax types OUTPUT2 (20% VAT on Income) etc. Tenants of other base currencies get a bank account in that currency.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

# (TaxType, Name, ReportTaxType, rate, can_apply_to_revenue, can_apply_to_expenses)
TAX_RATES: list[tuple[str, str, str, str, bool, bool]] = [
    ("OUTPUT2", "20% (VAT on Income)", "OUTPUT", "20", True, False),
    ("INPUT2", "20% (VAT on Expenses)", "INPUT", "20", False, True),
    ("RROUTPUT", "5% (VAT on Income)", "OUTPUT", "5", True, False),
    ("RRINPUT", "5% (VAT on Expenses)", "INPUT", "5", False, True),
    ("ZERORATEDOUTPUT", "Zero Rated Income", "OUTPUT", "0", True, False),
    ("ZERORATEDINPUT", "Zero Rated Expenses", "INPUT", "0", False, True),
    ("EXEMPTOUTPUT", "Exempt Income", "EXEMPTOUTPUT", "0", True, False),
    ("EXEMPTINPUT", "Exempt Expenses", "EXEMPTEXPENSES", "0", False, True),
    ("ECZROUTPUTSERVICES", "Zero Rated EC Services", "ECOUTPUTSERVICES", "0", True, False),
    ("OUTPUT", "15% GST on Income", "OUTPUT", "15", True, False),
    ("INPUT", "15% GST on Expenses", "INPUT", "15", False, True),
    ("NONE", "No VAT", "NONE", "0", True, True),
]

# Code, Name, Type, extra fields — the default chart of a new UK organisation in Xero
_CHART = """
200 Sales REVENUE OUTPUT2
260 Other Revenue REVENUE OUTPUT2
270 Interest Income OTHERINCOME EXEMPTOUTPUT
310 Cost of Goods Sold DIRECTCOSTS INPUT2
320 Direct Wages DIRECTCOSTS NONE
325 Direct Expenses DIRECTCOSTS INPUT2
400 Advertising & Marketing OVERHEADS INPUT2
401 Audit & Accountancy fees OVERHEADS INPUT2
404 Bank Fees OVERHEADS EXEMPTINPUT
408 Cleaning OVERHEADS INPUT2
412 Consulting OVERHEADS INPUT2
416 Depreciation Expense DEPRECIATN NONE
418 Charitable and Political Donations OVERHEADS EXEMPTINPUT
420 Entertainment-100% business OVERHEADS INPUT2
425 Postage, Freight & Courier OVERHEADS INPUT2
429 General Expenses OVERHEADS INPUT2
433 Insurance OVERHEADS EXEMPTINPUT
437 Interest Paid OVERHEADS EXEMPTINPUT
441 Legal Expenses OVERHEADS INPUT2
445 Light, Power, Heating OVERHEADS INPUT2
449 Motor Vehicle Expenses OVERHEADS INPUT2
457 Operating Lease Payments OVERHEADS INPUT2
461 Printing & Stationery OVERHEADS INPUT2
463 IT Software and Consumables OVERHEADS INPUT2
465 Rates OVERHEADS EXEMPTINPUT
469 Rent OVERHEADS INPUT2
473 Repairs & Maintenance OVERHEADS INPUT2
477 Salaries OVERHEADS NONE
478 Directors' Remuneration OVERHEADS NONE
479 Employers National Insurance OVERHEADS NONE
480 Staff Training OVERHEADS INPUT2
482 Pensions Costs OVERHEADS NONE
483 Medical Insurance OVERHEADS EXEMPTINPUT
485 Subscriptions OVERHEADS INPUT2
489 Telephone & Internet OVERHEADS INPUT2
494 Travel - National OVERHEADS INPUT2
495 Travel - International OVERHEADS ZERORATEDINPUT
500 Corporation Tax OVERHEADS NONE
610 Accounts Receivable CURRENT NONE DEBTORS
611 Less Provision for Doubtful Debts CURRENT NONE
620 Prepayments CURRENT NONE
630 Inventory INVENTORY NONE
710 Office Equipment FIXED INPUT2
711 Less Accumulated Depreciation on Office Equipment FIXED NONE
720 Computer Equipment FIXED INPUT2
721 Less Accumulated Depreciation on Computer Equipment FIXED NONE
740 Buildings FIXED NONE
750 Leasehold Improvements FIXED INPUT2
760 Motor Vehicles FIXED INPUT2
800 Accounts Payable CURRLIAB NONE CREDITORS
801 Unpaid Expense Claims CURRLIAB NONE UNPAIDEXPCLM
820 VAT CURRLIAB NONE GST
825 PAYE Payable CURRLIAB NONE
826 NIC Payable CURRLIAB NONE
830 Provision for Corporation Tax CURRLIAB NONE
835 Directors' Loan Account CURRLIAB NONE
840 Historical Adjustment CURRLIAB NONE HISTORICAL
850 Suspense CURRLIAB NONE
855 Clearing Account CURRLIAB NONE
860 Rounding CURRLIAB NONE ROUNDING
868 Wages Payable CURRLIAB NONE WAGEPAYABLES
900 Loan TERMLIAB NONE
910 Hire Purchase Loan TERMLIAB NONE
920 Deferred Tax TERMLIAB NONE
960 Retained Earnings EQUITY NONE RETAINEDEARNINGS
970 Owner A Funds Introduced EQUITY NONE
980 Owner A Drawings EQUITY NONE
4999 Foreign Currency Gains and Losses OVERHEADS NONE REALISEDCURRENCYGAIN
"""


def _chart() -> list[tuple[str, str, str, dict[str, Any]]]:
    out = []
    types = {"REVENUE", "OTHERINCOME", "DIRECTCOSTS", "OVERHEADS", "DEPRECIATN", "CURRENT", "INVENTORY", "FIXED",
             "CURRLIAB", "TERMLIAB", "EQUITY"}
    for line in _CHART.strip().splitlines():
        words = line.split()
        i = next(n for n, w in enumerate(words) if w in types and n > 1)
        extra: dict[str, Any] = {"TaxType": words[i + 1]}
        if len(words) > i + 2:
            extra["SystemAccount"] = words[i + 2]
        out.append((words[0], " ".join(words[1:i]), words[i], extra))
    return out


ACCOUNTS: list[tuple[str, str, str, dict[str, Any]]] = _chart()

CLASS_OF_TYPE = {
    "BANK": "ASSET", "CURRENT": "ASSET", "FIXED": "ASSET", "INVENTORY": "ASSET", "NONCURRENT": "ASSET",
    "PREPAYMENT": "ASSET", "CURRLIAB": "LIABILITY", "LIABILITY": "LIABILITY", "TERMLIAB": "LIABILITY",
    "EQUITY": "EQUITY", "DEPRECIATN": "EXPENSE", "DIRECTCOSTS": "EXPENSE", "EXPENSE": "EXPENSE",
    "OVERHEADS": "EXPENSE", "SUPERANNUATIONEXPENSE": "EXPENSE", "WAGESEXPENSE": "EXPENSE",
    "OTHERINCOME": "REVENUE", "REVENUE": "REVENUE", "SALES": "REVENUE", "PAYGLIABILITY": "LIABILITY",
    "SUPERANNUATIONLIABILITY": "LIABILITY", "WAGESPAYABLELIABILITY": "LIABILITY",
}

CURRENCIES: dict[str, str] = {
    "GBP": "British Pound", "EUR": "Euro", "USD": "United States Dollar", "JPY": "Japanese Yen",
    "CHF": "Swiss Franc", "AUD": "Australian Dollar", "NZD": "New Zealand Dollar", "CAD": "Canadian Dollar",
    "SEK": "Swedish Krona", "NOK": "Norwegian Krone", "DKK": "Danish Krone",
}

# ISO 4217 minor units of the currencies Xero lists (the spec's CurrencyCode enum) that do not have two.
_ZERO_DECIMALS = {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV",
                  "XAF", "XOF", "XPF"}
_THREE_DECIMALS = {"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"}


def minor_units(currency: str) -> int:
    """Digits after the decimal point of ``currency`` (ISO 4217; two unless listed above)."""
    return 0 if currency in _ZERO_DECIMALS else 3 if currency in _THREE_DECIMALS else 2


# Sandbox reference rates: units of each currency per 1 GBP (approximate; a sandbox needs stable numbers,
# not market data). Cross rates derive from these.
PER_GBP: dict[str, Decimal] = {
    "GBP": Decimal("1"), "EUR": Decimal("1.16"), "USD": Decimal("1.27"), "JPY": Decimal("190"),
    "CHF": Decimal("1.12"), "AUD": Decimal("1.93"), "NZD": Decimal("2.10"), "CAD": Decimal("1.73"),
    "SEK": Decimal("13.6"), "NOK": Decimal("13.7"), "DKK": Decimal("8.65"),
}


def currency_rate(currency: str, base: str) -> Decimal:
    """Units of ``currency`` per 1 unit of ``base`` (Xero's CurrencyRate convention)."""
    if currency == base or currency not in PER_GBP or base not in PER_GBP:
        return Decimal("1")
    return (PER_GBP[currency] / PER_GBP[base]).quantize(Decimal("0.000001"))


def bank_accounts(base_currency: str) -> list[tuple[str, str, str, dict[str, Any]]]:
    """One bank account in the base currency, plus EUR/USD accounts for foreign receipts."""
    out = [("090", "Business Bank Account", "BANK",
            {"BankAccountNumber": "20-00-00 12345678", "BankAccountType": "BANK", "CurrencyCode": base_currency}),
           ("091", "Business Savings Account", "BANK",
            {"BankAccountNumber": "20-00-00 87654321", "BankAccountType": "BANK", "CurrencyCode": base_currency})]
    for n, ccy in enumerate(c for c in ("EUR", "USD") if c != base_currency):
        out.append((f"09{2 + n}", f"{ccy} Bank Account", "BANK",
                    {"BankAccountNumber": f"FX-{ccy}-000{n + 1}", "BankAccountType": "BANK", "CurrencyCode": ccy}))
    return out
