"""What a QBO write does to Customer, Item, Account and the sales transactions (Invoice, CreditMemo).

``POST /v3/company/{realm}/{entity}`` with the bare entity object (no envelope):
- no ``Id``: create; with ``Id`` + ``SyncToken``: full update (fields left out are cleared), or sparse update
  with ``"sparse": true`` (only the fields sent change; a ``Line`` sent replaces all lines);
- ``?operation=delete`` / ``?operation=void`` with ``Id`` + ``SyncToken`` (Invoice, CreditMemo, Payment;
  Payment void is ``?operation=update&include=void``); Customer, Item and Account are never deleted — they are
  made inactive (``Active: false``), and an inactive name gets `` (deleted)`` appended, as QBO does.
- answers ``{"Invoice": {...}, "time": ...}``.

Rules, each answered with QBO's fault: unknown top-level properties (2010), missing required values (2020),
references to what does not exist or is inactive (2500), stale ``SyncToken`` (5010), unknown ``Id`` (610),
duplicate names (6240), duplicate ``DocNumber`` unless ``include=allowduplicatedocnum`` (6140), ``DocNumber``
longer than 21 characters (2050), business rules (6000). Money is Decimal, rounded half-up to cents.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sync_pipeline.contracts.codec import loads
from sync_pipeline.sandbox import qbo_reference as ref
from sync_pipeline.sandbox import qbo_tax
from sync_pipeline.sandbox.qbo_faults import (
    PACIFIC,
    QboFault,
    duplicate_doc_number,
    duplicate_name,
    invalid_reference,
    invalid_value,
    qbo_time,
    required,
    stale,
    unsupported_operation,
    unsupported_property,
    utc_now,
    validation,
)
from sync_pipeline.sandbox.server import Request, Response

ENTITY_PATHS = {"customer": "Customer", "item": "Item", "invoice": "Invoice", "creditmemo": "CreditMemo",
                "payment": "Payment", "deposit": "Deposit", "account": "Account", "taxcode": "TaxCode",
                "taxrate": "TaxRate", "term": "Term"}
READ_ONLY = {"TaxCode", "TaxRate", "Term"}  # created through TaxService / the UI, not this endpoint
DELETABLE = {"Invoice", "CreditMemo", "Payment", "Deposit"}
DOC_NUMBER_MAX = 21
NAME_MAX = {"Customer": 500, "Item": 100, "Account": 100}
CENT = Decimal("0.01")

_BASE = {"Id", "SyncToken", "MetaData", "domain", "sparse", "status"}
_SALES = {"CustomField", "DocNumber", "TxnDate", "DepartmentRef", "CurrencyRef", "ExchangeRate", "PrivateNote",
          "TxnStatus", "LinkedTxn", "Line", "TxnTaxDetail", "TxnSource", "CustomerRef", "CustomerMemo", "BillAddr",
          "ShipAddr", "FreeFormAddress", "ShipFromAddr", "ClassRef", "SalesTermRef", "DueDate", "ShipMethodRef",
          "ShipDate", "TrackingNum", "GlobalTaxCalculation", "TotalAmt", "HomeTotalAmt", "ApplyTaxAfterDiscount",
          "PrintStatus", "EmailStatus", "BillEmail", "BillEmailCc", "BillEmailBcc", "Balance", "HomeBalance",
          "Deposit", "DepositToAccountRef", "AllowIPNPayment", "AllowOnlinePayment",
          "AllowOnlineCreditCardPayment", "AllowOnlineACHPayment", "DeliveryInfo", "DeliveryTime",
          "DeliveryType", "EInvoiceStatus", "InvoiceLink", "RecurDataRef", "TaxExemptionRef", "ProjectRef",
          "TransactionLocationType", "AutoDocNumber", "PONumber", "TemplateRef", "Tag"}
FIELDS: dict[str, set[str]] = {
    "Customer": _BASE | {"Title", "GivenName", "MiddleName", "FamilyName", "Suffix", "DisplayName",
                         "FullyQualifiedName", "CompanyName", "PrintOnCheckName", "Active", "PrimaryPhone",
                         "AlternatePhone", "Mobile", "Fax", "PrimaryEmailAddr", "WebAddr", "OtherContactInfo",
                         "DefaultTaxCodeRef", "Taxable", "BillAddr", "ShipAddr", "Notes", "Job", "BillWithParent",
                         "ParentRef", "Level", "SalesTermRef", "PaymentMethodRef", "Balance", "OpenBalanceDate",
                         "BalanceWithJobs", "CurrencyRef", "PreferredDeliveryMethod", "ResaleNum", "ARAccountRef",
                         "PrimaryTaxIdentifier", "TaxExemptionReasonId", "IsProject", "CustomerTypeRef",
                         "BusinessNumber", "GSTIN", "GSTRegistrationType", "SecondaryTaxIdentifier",
                         "V4IDPseudonym", "Source"},
    "Item": _BASE | {"Name", "Sku", "Description", "Active", "SubItem", "ParentRef", "Level", "FullyQualifiedName",
                     "Taxable", "SalesTaxIncluded", "UnitPrice", "Type", "IncomeAccountRef", "PurchaseDesc",
                     "PurchaseTaxIncluded", "PurchaseCost", "ExpenseAccountRef", "AssetAccountRef",
                     "TrackQtyOnHand", "QtyOnHand", "InvStartDate", "SalesTaxCodeRef", "PurchaseTaxCodeRef",
                     "AbatementRate", "ReverseChargeRate", "ServiceType", "ItemCategoryType", "ClassRef",
                     "PrefVendorRef", "Source"},
    "Account": _BASE | {"Name", "SubAccount", "ParentRef", "Description", "FullyQualifiedName", "Active",
                        "Classification", "AccountType", "AccountSubType", "AcctNum", "CurrentBalance",
                        "CurrentBalanceWithSubAccounts", "CurrencyRef", "TaxCodeRef", "TxnLocationType"},
    "Invoice": _BASE | _SALES,
    "CreditMemo": _BASE | _SALES | {"RemainingCredit", "PaymentMethodRef", "PaymentRefNum"},
    "Payment": _BASE | {"TxnDate", "CurrencyRef", "ExchangeRate", "PrivateNote", "TxnStatus", "LinkedTxn", "Line",
                        "TxnSource", "CustomerRef", "ARAccountRef", "DepositToAccountRef", "PaymentMethodRef",
                        "PaymentRefNum", "CreditCardPayment", "TotalAmt", "UnappliedAmt", "ProcessPayment",
                        "TransactionLocationType", "TaxExemptionRef", "ProjectRef", "Amount"},
    "Deposit": _BASE | {"TxnDate", "CurrencyRef", "ExchangeRate", "PrivateNote", "TxnStatus", "Line", "TxnSource",
                        "DepositToAccountRef", "CashBack", "TotalAmt", "HomeTotalAmt", "DepartmentRef",
                        "TxnTaxDetail", "GlobalTaxCalculation", "TransactionLocationType"},
}
SALES_LINE_TYPES = {"SalesItemLineDetail", "DescriptionOnly", "SubTotalLineDetail"}
# properties of nested objects, as QBO's deserializer knows them (it names them in its 2010 answer)
LINE_FIELDS = {"Id", "LineNum", "Description", "Amount", "DetailType", "LinkedTxn", "CustomField", "LineEx",
               "ProjectRef", "SalesItemLineDetail", "DescriptionLineDetail", "SubTotalLineDetail",
               "DiscountLineDetail", "GroupLineDetail", "DepositLineDetail", "TxnLineId"}
NESTED_FIELDS = {
    "SalesItemLineDetail": {"ItemRef", "DiscountRate", "TaxClassificationRef", "ServiceDate", "UnitPrice",
                            "TaxInclusiveAmt", "InventorySiteRef", "MarkupInfo", "SalesItemLineDetailEx",
                            "PriceLevelRef", "ItemAccountRef", "ClassRef", "DeferredRevenue", "UOMRef", "RatePercent",
                            "DiscountAmt", "Qty", "TaxCodeRef"},
    "LinkedTxn": {"TxnId", "TxnType", "TxnLineId"},
}


def money(value: Any, field: str) -> Decimal:
    try:
        d = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise validation(f"{field} is not a number: {value!r}", field) from None
    if not d.is_finite() or abs(d) >= Decimal(10) ** 12:
        raise validation(f"{field} is out of range: {value!r}", field)
    return d


def cents(d: Decimal | int | str) -> Decimal:
    return Decimal(str(d)).quantize(CENT, rounding=ROUND_HALF_UP)


def parse_date(value: Any, field: str) -> date:
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise validation(f"{field} is not a date (YYYY-MM-DD): {value!r}", field) from None


def today() -> date:
    return datetime.now(PACIFIC).date()


def ref_id(value: Any) -> str | None:
    if isinstance(value, dict) and value.get("value") not in (None, ""):
        return str(value["value"])
    return None


OBJECT_FIELDS = {"TxnTaxDetail", "SalesItemLineDetail", "DescriptionLineDetail", "SubTotalLineDetail",
                 "DiscountLineDetail", "GroupLineDetail", "DepositLineDetail", "TaxLineDetail", "MetaData", "BillAddr",
                 "ShipAddr", "ShipFromAddr", "PrimaryEmailAddr", "BillEmail", "BillEmailCc", "BillEmailBcc",
                 "PrimaryPhone", "AlternatePhone", "Mobile", "Fax", "WebAddr", "OtherContactInfo", "CustomerMemo",
                 "DeliveryInfo", "MarkupInfo", "CreditCardPayment", "CheckPayment", "LineEx", "RecurringInfo",
                 "TxnApprovalInfo"}
LIST_FIELDS = {"Line", "LinkedTxn", "CustomField", "TaxLine", "Tag"}
SCALAR_FIELDS = {"Id", "SyncToken", "DisplayName", "Name", "GivenName", "FamilyName", "MiddleName", "Title",
                 "Suffix", "CompanyName", "PrintOnCheckName", "Notes", "DocNumber", "PrivateNote", "TxnDate",
                 "DueDate", "Description", "DetailType", "TxnId", "TxnType", "TxnLineId", "Amount", "TotalAmt", "Qty",
                 "UnitPrice", "ExchangeRate", "Active", "Type", "Sku", "value", "name", "TotalTax",
                 "GlobalTaxCalculation", "AccountType", "AccountSubType", "AcctNum", "PaymentRefNum",
                 "ServiceDate", "sparse", "Taxable"}


def _check_shapes(obj: dict[str, Any], cls: str) -> None:
    """2010, as QBO's JSON reader answers a value of the wrong shape (an object where a string belongs, a
    string where a reference or a list of lines belongs)."""
    for key, value in obj.items():
        want = "object" if key in OBJECT_FIELDS or key.endswith("Ref") else "list" if key in LIST_FIELDS else \
            "scalar" if key in SCALAR_FIELDS else None
        ok = (want is None or value is None or (want == "object" and isinstance(value, dict))
              or (want == "list" and isinstance(value, list) and all(isinstance(v, dict) for v in value))
              or (want == "scalar" and not isinstance(value, (dict, list))))
        if not ok:
            raise QboFault(400, [{"Message": "Request has invalid or unsupported property",
                                  "Detail": f"Property Name:Can not construct instance of {key} (class "
                                            f"com.intuit.schema.finance.v3.{cls}) from {type(value).__name__} "
                                            f"value specified is unsupported or invalid", "code": "2010",
                                  "element": key}])
        if isinstance(value, dict):
            _check_shapes(value, key)
        elif isinstance(value, list):
            for v in value:
                if isinstance(v, dict):
                    _check_shapes(v, key)


def _check_lines(lines: Any) -> None:
    """2010 for a property a line (or its detail, or a LinkedTxn) does not have."""
    if not isinstance(lines, list):
        return
    for line in lines:
        if not isinstance(line, dict):
            continue
        unknown = [k for k in line if k not in LINE_FIELDS]
        if unknown:
            raise unsupported_property("Line", unknown[0])
        for name, known in NESTED_FIELDS.items():
            inner = line.get(name)
            for obj in inner if isinstance(inner, list) else [inner]:
                if isinstance(obj, dict) and (bad := [k for k in obj if k not in known]):
                    raise unsupported_property(name, bad[0])


class EntitiesMixin:
    """The write endpoint and the builders of the non-payment entities (needs the QboSandbox core)."""

    # -- the endpoint -------------------------------------------------------------------------------------------
    def _writer(self, entity: str) -> Callable[[Request], Response]:
        def write(req: Request) -> Response:
            try:
                body = loads(req.body)
            except ValueError as e:
                raise QboFault(400, [{"Message": "Request has invalid or unsupported property",
                                      "Detail": f"Error parsing JSON request body: {e}", "code": "2010",
                                      "element": ""}]) from None
            if not isinstance(body, dict):
                raise required(entity)
            params = {k: req.arg(k) or "" for k in ("operation", "include")}
            return Response(200, self.write(entity, req.params["realm"], body, params))

        return write

    def write(self, entity: str, realm: str, body: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
        """One write (create, update, delete, void) in its own transaction; the answer's body."""
        with self.store.tx() as c:
            result = self.apply_write(entity, realm, body, params, c)
        return {entity: self.public(result), "time": qbo_time()}

    def apply_write(self, entity: str, realm: str, body: dict[str, Any], params: dict[str, str],
                    c: Any) -> dict[str, Any]:
        operation = (params.get("operation") or "").lower()
        include = (params.get("include") or "").lower()
        if entity in READ_ONLY or entity not in FIELDS:
            raise unsupported_operation(f"Create/Update for {entity}")
        unknown = [k for k in body if k not in FIELDS[entity]]
        if unknown:
            raise unsupported_property(entity, unknown[0])
        _check_shapes(body, entity)
        _check_lines(body.get("Line"))
        if operation in ("delete", "void") or (operation == "update" and include == "void"):
            kind = "void" if "void" in (operation, include) else "delete"
            if entity not in DELETABLE or (kind == "void" and entity not in ("Invoice", "Payment")):
                raise unsupported_operation(f"{kind.capitalize()} for {entity}")
            existing = self._current(entity, realm, body)
            self._not_deposited(entity, realm, existing)
            if kind == "delete":
                return self.delete_document(entity, realm, existing, c)
            return self.void_document(entity, realm, existing, c)
        if operation not in ("", "create", "update"):
            raise unsupported_operation(f"{operation} for {entity}")
        existing = self._current(entity, realm, body) if body.get("Id") not in (None, "") else None
        if operation == "update" and existing is None:
            raise required("Id")
        if existing is not None:
            self._not_deposited(entity, realm, existing)
        if existing is not None and body.get("sparse") is True:
            merged = {**self.public(existing), **{k: v for k, v in body.items() if k != "sparse"}}
            if "TxnTaxDetail" not in body and isinstance(existing.get("TxnTaxDetail"), dict):
                # the stored total tax is a result, not an override: keep only the code, recompute the tax
                code = existing["TxnTaxDetail"].get("TxnTaxCodeRef")
                merged["TxnTaxDetail"] = {"TxnTaxCodeRef": code} if code else {}
        else:
            merged = dict(body)
        build = getattr(self, f"_build_{entity}")
        doc = build(realm, merged, existing, params, c)
        return self.save(entity, realm, doc, c, created=existing is None)

    def _current(self, entity: str, realm: str, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("Id") in (None, ""):
            raise required("Id")
        existing = self.must_get(entity, realm, body["Id"])
        if body.get("SyncToken") in (None, ""):
            raise required("SyncToken")
        if str(body["SyncToken"]) != str(existing.get("SyncToken")):
            raise stale(entity, str(body["Id"]))
        return existing

    def _not_deposited(self, entity: str, realm: str, doc: dict[str, Any]) -> None:
        """6540: a payment on a deposit cannot be changed or deleted until the deposit lets go of it."""
        if entity == "Payment" and any(doc["Id"] in d.get("_payments", []) for d in self.live("Deposit", realm)):
            raise QboFault(400, [{"Message": "Deposited Transaction cannot be changed",
                                  "Detail": "This transaction has been deposited. If you want to change or delete "
                                            "it, you must first edit the deposit it appears on and remove it.",
                                  "code": "6540", "element": ""}])

    @staticmethod
    def _kept(existing: dict[str, Any] | None, *fields: str) -> dict[str, Any]:
        return {f: existing[f] for f in ("Id", "SyncToken", "MetaData", *fields) if existing and f in existing}

    # -- references ---------------------------------------------------------------------------------------------
    def _ref(self, entity: str, realm: str, value: Any, field: str, *, active: bool = True) -> dict[str, Any]:
        rid = ref_id(value)
        if rid is None:
            raise required(f"{field}.value" if isinstance(value, dict) else field)
        doc = self.get(entity, realm, rid)
        if doc is None or (active and doc.get("Active") is False):
            raise invalid_reference(field, rid)
        return doc

    def _check_name(self, entity: str, realm: str, name: str, own_id: str | None) -> None:
        limit = NAME_MAX.get(entity)
        if limit and len(name) > limit:
            raise invalid_value("DisplayName" if entity == "Customer" else "Name",
                                f"String length specified does not match the supported length. Min:1 Max:{limit} "
                                f"supported. Supplied length:{len(name)}")
        # the names alone, from their column: decoding every document made each create O(documents)
        rows = self.store._conn().execute(f"SELECT id, _name FROM {entity} WHERE tenant = ? AND _deleted = 0",
                                          (realm,))
        for other_id, other_name in rows:
            if other_id != own_id and str(other_name or "").lower() == name.lower():
                raise duplicate_name(entity, name, other_id)

    # -- Customer, Item, Account --------------------------------------------------------------------------------
    def _build_Customer(self, realm: str, item: dict[str, Any], existing: dict[str, Any] | None,
                        params: dict[str, str], c: Any) -> dict[str, Any]:
        company = self.company(realm)
        parts = [str(item[k]) for k in ("Title", "GivenName", "MiddleName", "FamilyName", "Suffix") if item.get(k)]
        name = str(item.get("DisplayName") or " ".join(parts) or item.get("CompanyName") or "").strip()
        if not name:
            raise required("DisplayName")
        active = item.get("Active", True) is not False
        if not active and not name.endswith(" (deleted)"):
            name = f"{name} (deleted)"  # QBO renames what it makes inactive
        self._check_name("Customer", realm, name, existing["Id"] if existing else None)
        currency = ref_id(item.get("CurrencyRef")) or (ref_id(existing.get("CurrencyRef")) if existing else None) \
            or company.home_currency
        if currency != company.home_currency and not company.multicurrency:
            raise validation(f"Multicurrency is not enabled for this company: CurrencyRef {currency} is not its "
                             f"home currency {company.home_currency}", "CurrencyRef")
        if existing and ref_id(existing.get("CurrencyRef")) not in (None, currency):
            raise validation("You can't change the currency of a customer", "CurrencyRef")
        if currency not in ref.CURRENCY_NAMES:
            raise invalid_reference("CurrencyRef", currency)
        keep = {k: v for k, v in item.items() if k in FIELDS["Customer"] and k not in
                ("Balance", "BalanceWithJobs", "domain", "sparse", "MetaData", "SyncToken", "Id")}
        return {**keep, **self._kept(existing), "DisplayName": name, "FullyQualifiedName": name,
                "PrintOnCheckName": item.get("PrintOnCheckName") or name, "Active": active,
                "CurrencyRef": ref.currency_ref(currency), "Job": bool(item.get("Job", False)),
                "BillWithParent": bool(item.get("BillWithParent", False)),
                "Taxable": bool(item.get("Taxable", company.us)), "PreferredDeliveryMethod":
                    item.get("PreferredDeliveryMethod", "Print")}

    def _build_Item(self, realm: str, item: dict[str, Any], existing: dict[str, Any] | None,
                    params: dict[str, str], c: Any) -> dict[str, Any]:
        name = str(item.get("Name") or "").strip()
        if not name:
            raise required("Name")
        active = item.get("Active", True) is not False
        if not active and not name.endswith(" (deleted)"):
            name = f"{name} (deleted)"
        self._check_name("Item", realm, name, existing["Id"] if existing else None)
        typ = item.get("Type") or "Service"
        if typ not in ("Service", "NonInventory"):
            raise validation(f"Item Type {typ!r} is not modelled by the sandbox (Service and NonInventory are)",
                             "Type")
        if item.get("IncomeAccountRef") is None:
            raise required("IncomeAccountRef")
        account = self._ref("Account", realm, item["IncomeAccountRef"], "IncomeAccountRef")
        price = money(item.get("UnitPrice", 0), "UnitPrice")
        keep = {k: v for k, v in item.items() if k in FIELDS["Item"] and k not in ("domain", "sparse", "MetaData",
                                                                                  "SyncToken", "Id")}
        return {**keep, **self._kept(existing), "Name": name, "FullyQualifiedName": name, "Active": active,
                "Type": typ, "UnitPrice": price, "TrackQtyOnHand": False,
                "IncomeAccountRef": {"value": account["Id"], "name": account["Name"]}}

    def _build_Account(self, realm: str, item: dict[str, Any], existing: dict[str, Any] | None,
                       params: dict[str, str], c: Any) -> dict[str, Any]:
        name = str(item.get("Name") or "").strip()
        if not name:
            raise required("Name")
        if not item.get("AccountType") and not item.get("AccountSubType"):
            raise required("AccountType")
        active = item.get("Active", True) is not False
        self._check_name("Account", realm, name, existing["Id"] if existing else None)
        company = self.company(realm)
        keep = {k: v for k, v in item.items() if k in FIELDS["Account"] and k not in ("domain", "sparse",
                                                                                      "MetaData", "SyncToken",
                                                                                      "Id", "CurrentBalance")}
        return {**keep, **self._kept(existing), "Name": name, "FullyQualifiedName": name, "Active": active,
                "CurrencyRef": item.get("CurrencyRef") or ref.currency_ref(company.home_currency),
                "CurrentBalance": Decimal(0), "SubAccount": bool(item.get("SubAccount", False))}

    # -- sales transactions -----------------------------------------------------------------------------------
    def _build_Invoice(self, realm: str, item: dict[str, Any], existing: dict[str, Any] | None,
                       params: dict[str, str], c: Any) -> dict[str, Any]:
        return self._sales("Invoice", realm, item, existing, params, c)

    def _build_CreditMemo(self, realm: str, item: dict[str, Any], existing: dict[str, Any] | None,
                          params: dict[str, str], c: Any) -> dict[str, Any]:
        return self._sales("CreditMemo", realm, item, existing, params, c)

    def _sales(self, entity: str, realm: str, item: dict[str, Any], existing: dict[str, Any] | None,
               params: dict[str, str], c: Any) -> dict[str, Any]:
        company = self.company(realm)
        if item.get("CustomerRef") is None:
            raise required("CustomerRef")
        customer = self._ref("Customer", realm, item["CustomerRef"], "CustomerRef")
        if not item.get("Line"):
            raise required("Line")
        txn_date = parse_date(item["TxnDate"], "TxnDate") if item.get("TxnDate") else today()
        currency, rate = self._currency(company, customer, item)
        mode = qbo_tax.calculation(company.us, item)
        lines, subtotal, taxable = self._sales_lines(company, realm, item["Line"], mode)
        tax = qbo_tax.txn_tax(company.us, mode, item, taxable, lambda r, f: self._ref("TaxCode", realm, r, f),
                              lambda rid: self.get("TaxRate", realm, rid))
        total = cents(subtotal + tax["TotalTax"])
        applied = (existing or {}).get("_applied", Decimal(0))
        if existing is not None and total < applied:
            raise validation(f"The {entity} total {total} is less than what payments and credits already applied "
                             f"to it ({applied}); unapply them first", "TotalAmt")
        doc: dict[str, Any] = {
            **{k: v for k, v in item.items() if k in ("PrivateNote", "CustomerMemo", "BillEmail", "BillAddr",
                                                      "ShipAddr", "SalesTermRef", "EmailStatus", "PrintStatus",
                                                      "CustomField", "ClassRef", "DepartmentRef", "PONumber",
                                                      "ApplyTaxAfterDiscount", "AllowOnlinePayment",
                                                      "AllowOnlineCreditCardPayment", "AllowOnlineACHPayment",
                                                      "AllowIPNPayment")},
            **self._kept(existing, "LinkedTxn", "_applied", "_links"),
            "TxnDate": txn_date.isoformat(),
            "CustomerRef": {"value": customer["Id"], "name": customer["DisplayName"]},
            "CurrencyRef": ref.currency_ref(currency),
            "Line": [*lines, {"Amount": subtotal, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}}],
            "TxnTaxDetail": tax, "TotalAmt": total, "Balance": cents(total - applied),
        }
        doc.setdefault("LinkedTxn", [])
        if company.multicurrency:
            doc["ExchangeRate"] = rate
            doc["HomeTotalAmt"] = cents(total * rate)
            doc["HomeBalance"] = cents(doc["Balance"] * rate)
        if mode is not None:
            doc["GlobalTaxCalculation"] = mode
        if entity == "Invoice":
            due = item.get("DueDate")
            if due:
                doc["DueDate"] = parse_date(due, "DueDate").isoformat()
            else:
                days = 0
                if ref_id(item.get("SalesTermRef")):
                    days = int(self._ref("Term", realm, item["SalesTermRef"], "SalesTermRef").get("DueDays", 0))
                doc["DueDate"] = (txn_date + timedelta(days=days)).isoformat()
        else:
            doc["RemainingCredit"] = doc["Balance"]
        number = self._doc_number(entity, realm, item, existing, params, c)
        if number is not None:
            doc["DocNumber"] = number
        return doc

    def _currency(self, company: ref.Company, customer: dict[str, Any], item: dict[str, Any]) -> tuple[str, Decimal]:
        home = company.home_currency
        wanted = ref_id(item.get("CurrencyRef"))
        cust_currency = ref_id(customer.get("CurrencyRef")) or home
        if not company.multicurrency:
            if wanted not in (None, home):
                raise validation(f"Multicurrency is not enabled for this company: CurrencyRef {wanted} is not "
                                 f"its home currency {home}", "CurrencyRef")
            return home, Decimal(1)
        currency = wanted or cust_currency
        if currency != cust_currency:
            raise validation(f"The currency of the transaction ({currency}) must be the customer's currency "
                             f"({cust_currency})", "CurrencyRef")
        if currency == home:
            if item.get("ExchangeRate") not in (None, 1, Decimal(1)) and money(item["ExchangeRate"],
                                                                               "ExchangeRate") != 1:
                raise validation("ExchangeRate must be 1 for a transaction in the home currency", "ExchangeRate")
            return currency, Decimal(1)
        if item.get("ExchangeRate") is not None:
            rate = money(item["ExchangeRate"], "ExchangeRate")
            if rate <= 0:
                raise validation("ExchangeRate must be greater than zero", "ExchangeRate")
            return currency, rate
        rate = ref.default_rate(home, currency)
        if rate is None:
            raise validation(f"No exchange rate for {currency} to {home}: send ExchangeRate", "ExchangeRate")
        return currency, rate

    def _sales_lines(self, company: ref.Company, realm: str, given: Any, mode: str | None
                     ) -> tuple[list[dict], Decimal, list[qbo_tax.Taxable]]:
        if not isinstance(given, list):
            raise required("Line")
        out: list[dict[str, Any]] = []
        subtotal = Decimal(0)
        taxable: list[qbo_tax.Taxable] = []
        for n, line in enumerate(given, 1):
            if not isinstance(line, dict):
                raise required("Line")
            kind = line.get("DetailType")
            if kind not in SALES_LINE_TYPES:
                raise validation(f"Line {n}: DetailType {kind!r} is not supported here (use SalesItemLineDetail "
                                 f"or DescriptionOnly)", "Line.DetailType")
            if kind == "SubTotalLineDetail":
                continue  # recomputed
            if kind == "DescriptionOnly":
                out.append({"Id": str(len(out) + 1), "LineNum": len(out) + 1, "Description": line.get("Description"),
                            "DetailType": "DescriptionOnly", "DescriptionLineDetail": {}})
                continue
            if line.get("Amount") is None:
                raise required("Amount", "Line.Amount")
            amount = cents(money(line["Amount"], "Line.Amount"))
            detail = dict(line.get("SalesItemLineDetail") or {})
            if ref_id(detail.get("ItemRef")):
                it = self._ref("Item", realm, detail["ItemRef"], "ItemRef")
                detail["ItemRef"] = {"value": it["Id"], "name": it["Name"]}
            code = ref_id(detail.get("TaxCodeRef"))
            gross = None
            if company.us:
                code = code or "NON"
                if code not in ("TAX", "NON"):
                    raise invalid_reference("TaxCodeRef", code)
            else:
                if code is None:
                    raise validation("Make sure all your transactions have a VAT rate before you save.",
                                     "TaxCodeRef")
                tc = self._ref("TaxCode", realm, detail["TaxCodeRef"], "TaxCodeRef")
                if mode == "TaxInclusive":
                    pct = sum((Decimal(str(self.get("TaxRate", realm, d["TaxRateRef"]["value"])["RateValue"]))
                               for d in tc["SalesTaxRateList"]["TaxRateDetail"]), Decimal(0))
                    gross = detail["TaxInclusiveAmt"] = qbo_tax.inclusive_line(detail, amount, pct)
            if gross is None:
                detail.pop("TaxInclusiveAmt", None)  # only a TaxInclusive transaction's lines carry it
            qty, price = detail.get("Qty"), detail.get("UnitPrice")
            if qty is not None and price is not None:  # the price includes tax on a TaxInclusive transaction
                q, p = money(qty, "Qty"), money(price, "UnitPrice")
                priced = gross if gross is not None else amount
                if q != 0 and cents(q * p) != cents(priced):  # Qty 0 is what SDKs send for "not given"
                    raise validation(f"Amount is not equal to UnitPrice * Qty. Supplied value:{priced}",
                                     "Line.Amount")
                detail["Qty"], detail["UnitPrice"] = q, p
            detail["TaxCodeRef"] = {"value": code}
            subtotal += amount
            taxable.append(qbo_tax.Taxable(amount, code, gross))
            out.append({"Id": str(len(out) + 1), "LineNum": len(out) + 1, "Description": line.get("Description"),
                        "Amount": amount, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": detail})
            if out[-1]["Description"] is None:
                del out[-1]["Description"]
        if not any(ln["DetailType"] == "SalesItemLineDetail" for ln in out):
            raise validation("You must set a transaction amount.", "Line")
        return out, cents(subtotal), taxable

    def _doc_number(self, entity: str, realm: str, item: dict[str, Any], existing: dict[str, Any] | None,
                    params: dict[str, str], c: Any) -> str | None:
        company = self.company(realm)
        number = item.get("DocNumber")
        if number in (None, "") and existing is not None and existing.get("DocNumber"):
            return existing["DocNumber"] if "DocNumber" not in item else None
        auto = number == "AUTO_GENERATE" or item.get("AutoDocNumber") is True or (
            number in (None, "") and not company.custom_txn_numbers)
        if auto:
            while True:  # next in the sales sequence, skipping numbers already taken
                candidate = str(1000 + self.store.next_value(f"qbo-docnum:{realm}", c))
                if not self._doc_number_owner(entity, realm, candidate, None):
                    return candidate
        if number in (None, ""):
            return None
        number = str(number)
        if len(number) > DOC_NUMBER_MAX:
            raise invalid_value("DocNumber", f"String length specified does not match the supported length. Min:0 "
                                             f"Max:{DOC_NUMBER_MAX} supported. Supplied length:{len(number)}")
        if "allowduplicatedocnum" not in (params.get("include") or "").lower():
            owner = self._doc_number_owner(entity, realm, number, existing["Id"] if existing else None)
            if owner:
                raise duplicate_doc_number(entity, number, owner)
        return number

    def _doc_number_owner(self, entity: str, realm: str, number: str, own_id: str | None) -> str | None:
        rows = self.store.query(entity, realm, "DocNumber = ? AND _deleted = 0", [number])
        return next((d["Id"] for d in rows if d["Id"] != own_id), None)

    # -- delete and void --------------------------------------------------------------------------------------
    def delete_document(self, entity: str, realm: str, doc: dict[str, Any], c: Any) -> dict[str, Any]:
        if entity == "Payment":
            self.unapply_payment(realm, doc, c)
        elif doc.get("_applied"):
            raise validation(f"This {entity} has payments or credits applied to it; delete or void those "
                             f"first", "Id")
        return self.tombstone(entity, realm, doc, c)

    def void_document(self, entity: str, realm: str, doc: dict[str, Any], c: Any) -> dict[str, Any]:
        if entity == "Payment":
            self.unapply_payment(realm, doc, c)
            voided = {**doc, "TotalAmt": Decimal(0), "UnappliedAmt": Decimal(0), "Line": [],
                      "PrivateNote": "Voided", "_links": []}
            return self.save(entity, realm, voided, c, created=False)
        if doc.get("_applied"):
            raise validation("This invoice has payments or credits applied to it; delete or void those first",
                             "Id")
        zero_lines = [{**ln, "Amount": Decimal(0)} for ln in doc.get("Line", [])]
        for ln in zero_lines:
            if "SalesItemLineDetail" in ln:
                ln["SalesItemLineDetail"] = {**ln["SalesItemLineDetail"], "Qty": Decimal(0)}
        voided = {**doc, "Line": zero_lines, "TotalAmt": Decimal(0), "Balance": Decimal(0),
                  "TxnTaxDetail": {**doc.get("TxnTaxDetail", {}), "TotalTax": Decimal(0), "TaxLine": []},
                  "PrivateNote": "Voided"}
        if "HomeTotalAmt" in doc:
            voided["HomeTotalAmt"], voided["HomeBalance"] = Decimal(0), Decimal(0)
        return self.save(entity, realm, voided, c, created=False)


def now_stamp() -> str:
    return utc_now().isoformat(timespec="microseconds")
