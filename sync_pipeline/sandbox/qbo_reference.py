"""What a new QuickBooks Online sandbox company starts with: accounts, tax codes and rates, terms,
CompanyInfo and Preferences, for a US company (sales tax: lines are ``TAX``/``NON``, one ``TxnTaxCodeRef`` per
transaction) or a non-US one (VAT/GST: a ``TaxCodeRef`` on every line, each code a list of ``TaxRate``s).

The names and types follow Intuit's sample companies and the Account/TaxCode/TaxRate reference; the exact ids
differ per real company anyway — clients must look them up (query by Name), never hard-code them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

# (Name, AccountType, AccountSubType, Classification)
ACCOUNTS: list[tuple[str, str, str, str]] = [
    ("Services", "Income", "ServiceFeeIncome", "Revenue"),
    ("Sales of Product Income", "Income", "SalesOfProductIncome", "Revenue"),
    ("Accounts Receivable (A/R)", "Accounts Receivable", "AccountsReceivable", "Asset"),
    ("Undeposited Funds", "Other Current Asset", "UndepositedFunds", "Asset"),
    ("Checking", "Bank", "Checking", "Asset"),
    ("Savings", "Bank", "Savings", "Asset"),
]
TAX_LIABILITY = {"US": ("Sales Tax Payable", "Other Current Liability", "SalesTaxPayable", "Liability"),
                 "GB": ("VAT Control", "Other Current Liability", "GlobalTaxPayable", "Liability")}

# US: one agency rate; lines say TAX or NON; the transaction names the code (TxnTaxDetail.TxnTaxCodeRef)
US_TAX_RATES = [("California", Decimal("8"))]
US_TAX_CODES = [("California", True, ["California"])]
# non-US (UK VAT): every sales line names a code; a code lists the rates it applies
GB_TAX_RATES = [("20.0% S", Decimal("20")), ("5.0% R", Decimal("5")), ("0.0% Z", Decimal("0")),
                ("Exempt", Decimal("0"))]
GB_TAX_CODES = [("20.0% S", True, ["20.0% S"]), ("5.0% R", True, ["5.0% R"]), ("0.0% Z", True, ["0.0% Z"]),
                ("Exempt", True, ["Exempt"]), ("No VAT", False, [])]

CURRENCY_NAMES = {"USD": "United States Dollar", "GBP": "British Pound Sterling", "EUR": "Euro",
                  "CAD": "Canadian Dollar", "AUD": "Australian Dollar", "CHF": "Swiss Franc", "JPY": "Japanese Yen"}
# home-currency units per one foreign unit (QBO's convention), used when a transaction gives no ExchangeRate
DEFAULT_RATES_TO: dict[str, dict[str, Decimal]] = {
    "USD": {"EUR": Decimal("1.08"), "GBP": Decimal("1.27"), "CAD": Decimal("0.74"), "AUD": Decimal("0.66"),
            "CHF": Decimal("1.13"), "JPY": Decimal("0.0067")},
    "GBP": {"EUR": Decimal("0.85"), "USD": Decimal("0.79"), "CAD": Decimal("0.58"), "AUD": Decimal("0.52"),
            "CHF": Decimal("0.89"), "JPY": Decimal("0.0053")},
}


@dataclass
class Company:
    """A realm's settings (``QboSandbox.add_company``)."""

    realm: str
    name: str
    country: str = "US"  # "US" or "GB" (non-US tax model)
    home_currency: str = "USD"
    multicurrency: bool = False
    custom_txn_numbers: bool = False  # SalesFormsPrefs.CustomTxnNumbers

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def us(self) -> bool:
        return self.country == "US"


def currency_ref(code: str) -> dict[str, str]:
    return {"value": code, "name": CURRENCY_NAMES.get(code, code)}


def default_rate(home: str, foreign: str) -> Decimal | None:
    if home == foreign:
        return Decimal(1)
    return DEFAULT_RATES_TO.get(home, {}).get(foreign)


def seed_documents(company: Company) -> dict[str, list[dict[str, Any]]]:
    """The documents of a new company, per entity, without Id/SyncToken/MetaData (the sandbox adds them)."""
    accounts = [{"Name": n, "AccountType": t, "AccountSubType": s, "Classification": c, "Active": True,
                 "FullyQualifiedName": n, "CurrencyRef": currency_ref(company.home_currency),
                 "CurrentBalance": Decimal(0), "SubAccount": False}
                for n, t, s, c in [*ACCOUNTS, TAX_LIABILITY["US" if company.us else "GB"]]]
    rates_src, codes_src = (US_TAX_RATES, US_TAX_CODES) if company.us else (GB_TAX_RATES, GB_TAX_CODES)
    rates = [{"Name": n, "RateValue": v, "Active": True, "SpecialTaxType": "NONE", "DisplayType": "ReadOnly",
              "Description": n} for n, v in rates_src]
    codes = [{"Name": n, "Description": n, "Active": True, "Taxable": taxable, "TaxGroup": len(rs) > 1,
              "SalesTaxRateList": {"TaxRateDetail": [{"TaxRateName": r, "TaxTypeApplicable": "TaxOnAmount",
                                                      "TaxOrder": 0} for r in rs]},
              "PurchaseTaxRateList": {"TaxRateDetail": []}} for n, taxable, rs in codes_src]
    terms = [{"Name": "Net 30", "Active": True, "Type": "STANDARD", "DueDays": 30},
             {"Name": "Due on receipt", "Active": True, "Type": "STANDARD", "DueDays": 0}]
    return {"Account": accounts, "TaxRate": rates, "TaxCode": codes, "Term": terms}


def company_info(company: Company) -> dict[str, Any]:
    return {"CompanyName": company.name, "LegalName": company.name, "Country": company.country,
            "CompanyAddr": {"Id": "1", "Line1": "1 Sandbox Way", "City": "Mountain View",
                            "Country": company.country, "PostalCode": "94043"},
            "SupportedLanguages": "en", "FiscalYearStartMonth": "January",
            "NameValue": [{"Name": "NeoEnabled", "Value": "true"},
                          {"Name": "OfferingSku", "Value": "QuickBooks Online Plus"}],
            "Id": "1", "domain": "QBO", "sparse": False}


def preferences(company: Company) -> dict[str, Any]:
    return {"AccountingInfoPrefs": {"TrackDepartments": False, "ClassTrackingPerTxn": False,
                                    "CustomerTerminology": "Customers"},
            "SalesFormsPrefs": {"CustomTxnNumbers": company.custom_txn_numbers, "AllowDeposit": True,
                                "AllowDiscount": True, "AllowShipping": False, "ETransactionEnabledStatus":
                                "NotApplicable"},
            "CurrencyPrefs": {"MultiCurrencyEnabled": company.multicurrency,
                              "HomeCurrency": {"value": company.home_currency}},
            "TaxPrefs": {"UsingSalesTax": True, "PartnerTaxEnabled": not company.us},
            "OtherPrefs": {"NameValue": [{"Name": "SalesFormsPrefs.DefaultCustomerMessage", "Value": ""}]},
            "Id": "1", "domain": "QBO", "sparse": False}
