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

# Code, Name, Type, extra fields
ACCOUNTS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("200", "Sales", "REVENUE", {"TaxType": "OUTPUT2"}),
    ("260", "Other Revenue", "REVENUE", {"TaxType": "OUTPUT2"}),
    ("270", "Interest Income", "REVENUE", {"TaxType": "EXEMPTOUTPUT"}),
    ("310", "Cost of Goods Sold", "DIRECTCOSTS", {"TaxType": "INPUT2"}),
    ("404", "Bank Fees", "OVERHEADS", {"TaxType": "EXEMPTINPUT", "EnablePaymentsToAccount": False}),
    ("429", "General Expenses", "OVERHEADS", {"TaxType": "INPUT2"}),
    ("610", "Accounts Receivable", "CURRENT", {"TaxType": "NONE", "SystemAccount": "DEBTORS"}),
    ("800", "Accounts Payable", "CURRLIAB", {"TaxType": "NONE", "SystemAccount": "CREDITORS"}),
    ("820", "VAT", "CURRLIAB", {"TaxType": "NONE", "SystemAccount": "GST"}),
    ("4999", "Foreign Currency Gains and Losses", "OVERHEADS", {"TaxType": "NONE",
                                                               "SystemAccount": "REALISEDCURRENCYGAIN"}),
]

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
