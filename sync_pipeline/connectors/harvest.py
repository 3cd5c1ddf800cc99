"""Harvest API v2 source.

Resources (``GET /v2/<resource>``, each streamed page by page following ``links.next``):

- ``clients``, ``projects``, ``tasks``, ``users``
- ``task_assignments`` and ``user_assignments`` (with their hourly rates)
- ``time_entries`` (filters ``from``/``to`` on spent_date, ``updated_since``)
- ``expenses`` (filters ``from``/``to`` on spent_date, ``updated_since``)

Every list endpoint takes ``updated_since``; :meth:`HarvestClient.changed_since` is the
incremental read that ``services.extract`` drives with a persisted cursor. Rate limit
(100 requests / 15 s per token) is enforced client-side by the shared HTTP layer.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any, NotRequired, Required

import httpx
from pydantic import TypeAdapter
from typing_extensions import TypedDict

from sync_pipeline.connectors.http import HttpClient
from sync_pipeline.connectors.limits import HARVEST_LIMITS, CircuitBreaker, RateLimiter
from sync_pipeline.connectors.strict import (
    Bool,
    Currency,
    Id,
    Instant,
    IsoDate,
    Rejected,
    Str,
    decimal_type,
    one_of,
    read_strictly,
    strict_record,
)
from sync_pipeline.domain import ids

MAX_PER_PAGE = 2000


class HarvestClient:
    def __init__(self, base_url: str, access_token: str, account_id: str, *, timeout: float = 30.0,
                 max_attempts: int = 5, transport: httpx.BaseTransport | None = None,
                 limiter: RateLimiter | None = None, breaker: CircuitBreaker | None = None) -> None:
        self.http = HttpClient(
            system="harvest",
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {access_token}", "Harvest-Account-Id": str(account_id)},
            timeout=timeout,
            max_attempts=max_attempts,
            transport=transport,
            limits=HARVEST_LIMITS,
            limiter=limiter,
            breaker=breaker,
        )

    def close(self) -> None:
        self.http.close()

    def _paginate(self, path: str, key: str, params: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        url: str | None = path
        p: dict[str, Any] | None = {**params, "per_page": params.get("per_page", MAX_PER_PAGE)}
        while url:
            body = self.http.json("GET", url, params=p)
            yield body[key]
            url = (body.get("links") or {}).get("next")
            p = None  # links.next carries the query string

    RESOURCES = ("clients", "projects", "tasks", "users", "task_assignments", "user_assignments",
                 "time_entries", "expenses")

    def pages(self, resource: str, *, updated_since: str | None = None, per_page: int = MAX_PER_PAGE,
              **filters: Any) -> Iterator[list[dict[str, Any]]]:
        """Pages of any list resource; ``filters`` are passed as query parameters (``is_active`` ...)."""
        if resource not in self.RESOURCES:
            raise ValueError(f"unknown Harvest resource {resource!r}; known: {', '.join(self.RESOURCES)}")
        params: dict[str, Any] = {"per_page": per_page}
        params.update({k: (str(v).lower() if isinstance(v, bool) else v) for k, v in filters.items() if v is not None})
        if updated_since:
            params["updated_since"] = updated_since
        return self._paginate(f"/v2/{resource}", resource, params)

    def changed_since(self, resource: str, updated_since: str | None, **filters: Any) -> Iterator[list[dict[str, Any]]]:
        """Records created or updated at or after ``updated_since`` (ISO 8601 UTC); all when None."""
        return self.pages(resource, updated_since=updated_since, **filters)

    def deletions(self, resource: str, updated_since: str | None = None) -> list[dict[str, Any]]:
        """Deleted records ``[{"id", "deleted_at"}]`` from the sandbox's deletion feed.

        Harvest itself has no deletion feed (``/v2/x_sandbox/deleted`` exists only in the local sandbox);
        against the real API, find deletions by reconciling a window's id set
        (``services.extract.window_changes``).
        """
        params = {"resource": resource, **({"updated_since": updated_since} if updated_since else {})}
        return list(self.http.json("GET", "/v2/x_sandbox/deleted", params=params).get("deleted", []))

    def expenses(self, *, start: date | None = None, end: date | None = None,
                 updated_since: str | None = None) -> Iterator[list[dict[str, Any]]]:
        return self.pages("expenses", updated_since=updated_since, **{
            "from": start.isoformat() if start else None, "to": end.isoformat() if end else None})

    def time_entries(self, *, start: date | None = None, end: date | None = None,
                     updated_since: str | None = None, per_page: int = MAX_PER_PAGE) -> Iterator[list[dict[str, Any]]]:
        """Pages of time entries whose spent_date is within [start, end]."""
        params: dict[str, Any] = {"per_page": per_page}
        if start:
            params["from"] = start.isoformat()
        if end:
            params["to"] = end.isoformat()
        if updated_since:
            params["updated_since"] = updated_since
        return self._paginate("/v2/time_entries", "time_entries", params)

    def update_time_entry(self, entry_id: str | int, changes: dict[str, Any]) -> dict[str, Any]:
        """PATCH one time entry (e.g. ``is_billed``/``external_reference`` once it is invoiced elsewhere).

        Setting fields to values is idempotent, so a retry after a lost response is safe.
        """
        return self.http.json("PATCH", f"/v2/time_entries/{entry_id}", json=changes, safe=True)

    def update_expense(self, expense_id: str | int, changes: dict[str, Any]) -> dict[str, Any]:
        """PATCH one expense (``is_billed`` once it is on an invoice); idempotent like the time-entry update."""
        return self.http.json("PATCH", f"/v2/expenses/{expense_id}", json=changes, safe=True)

    # invoices and their payments (two-way sync: what the accounting system settled, written back) -------------
    def invoices(self, *, client_id: str | None = None) -> Iterator[list[dict[str, Any]]]:
        """Pages of the account's invoices (``GET /v2/invoices``), optionally of one client."""
        return self._paginate("/v2/invoices", "invoices", {"client_id": client_id} if client_id else {})

    def create_invoice(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /v2/invoices`` (``client_id``, ``number``, ``currency``, ``issue_date``, ``due_date``,
        ``line_items``). Not retried after it may have reached Harvest: the caller finds it by number next time."""
        return self.http.json("POST", "/v2/invoices", json=body)

    def invoice_payments(self, invoice_id: str | int) -> list[dict[str, Any]]:
        return [p for page in self._paginate(f"/v2/invoices/{invoice_id}/payments", "invoice_payments", {})
                for p in page]

    def create_invoice_payment(self, invoice_id: str | int, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /v2/invoices/{id}/payments`` (``amount``, ``paid_date``, ``notes``)."""
        return self.http.json("POST", f"/v2/invoices/{invoice_id}/payments", json=body)

    def delete_invoice_payment(self, invoice_id: str | int, payment_id: str | int) -> None:
        self.http.json("DELETE", f"/v2/invoices/{invoice_id}/payments/{payment_id}", safe=True)


def _s(v: Any) -> str | None:
    return None if v is None else str(v)


def _approver(doc: dict[str, Any]) -> str | None:
    """Who approved the record: ``x_approved_by`` ``{"id", "name"}`` (the sandbox's approvals; Harvest's API
    does not say), as "name (user id)"."""
    a = doc.get("x_approved_by")
    if not a:
        return None
    if not isinstance(a, dict):
        return str(a)
    name, uid = a.get("name"), a.get("id")
    return f"{name} ({uid})" if name and uid is not None else _s(name if name else uid)


def flatten_time_entry(doc: dict[str, Any], extracted_at: str) -> dict[str, Any]:
    """A Harvest time entry → one row of the ``raw_time_entries`` contract.

    ``started_at`` is the start instant with its UTC offset (the sandbox's ``x_started_at``; Harvest's own
    ``started_time`` is a wall-clock time without a zone, so it is not enough to place an entry in another
    zone's day) and ``timezone`` the user's zone. ``approval_status`` is Harvest's (unsubmitted, submitted,
    approved); ``approved_by``/``approved_at`` say who approved the entry and when, when the source tells.
    """
    project = doc.get("project") or {}
    task = doc.get("task") or {}
    return {
        "source": "harvest",
        "entry_id": str(doc["id"]),
        **_spent(doc),
        "project_code": _s(project.get("code")),
        "task_id": _s(task.get("id")),
        "task_name": _s(task.get("name")),
        "hours": doc.get("hours"),
        "billable": doc.get("billable") is True,
        "billable_rate": doc.get("billable_rate"),
        "cost_rate": doc.get("cost_rate"),
        "is_closed": doc.get("is_closed") is True,
        "notes": _s(doc.get("notes")),
        "billed_elsewhere": billed_elsewhere(doc),
        "updated_at": str(doc.get("updated_at")),
        "extracted_at": extracted_at,
        "started_at": _s(doc.get("x_started_at")),
        "timezone": _s(doc.get("x_timezone")),
        **_approval(doc),
    }


def _spent(doc: dict[str, Any]) -> dict[str, Any]:
    """When, by whom, for which client and project a time entry or expense was spent (its row's columns)."""
    client = doc.get("client") or {}
    project = doc.get("project") or {}
    user = doc.get("user") or {}
    return {
        "spent_date": _s(doc.get("spent_date")),
        "user_id": _s(user.get("id")),
        "user_name": _s(user.get("name")),
        "client_id": _s(client.get("id")),
        "client_name": _s(client.get("name")),
        "client_currency": _s(client.get("currency")),
        "project_id": _s(project.get("id")),
        "project_name": _s(project.get("name")),
    }


def _approval(doc: dict[str, Any]) -> dict[str, Any]:
    """Harvest's approval status, and who approved the record and when once it is approved (a closed record
    without a status counts as approved)."""
    approved = doc.get("approval_status") == "approved" or (doc.get("approval_status") is None
                                                            and doc.get("is_closed") is True)
    return {
        "approval_status": _s(doc.get("approval_status")),
        "approved_by": _approver(doc) if approved else None,
        "approved_at": _s(doc.get("x_approved_at")) if approved else None,
    }


def billed_elsewhere(doc: dict[str, Any]) -> str | None:
    """Where an entry was invoiced other than by this pipeline (None: not invoiced, or invoiced by us).

    Harvest sets ``invoice`` when the entry is on one of its own invoices; ``is_billed`` without our
    mark (``external_reference.group_id`` = one of our references) means someone marked it billed.
    Billing never bills such an entry again.
    """
    if (on_invoice := harvest_invoice(doc)) is not None:
        return on_invoice
    if doc.get("is_billed") is not True:
        return None
    ext = doc.get("external_reference") or {}
    group = str(ext.get("group_id") or "") if isinstance(ext, dict) else ""
    if ids.parse_reference(group) is not None:  # one of our documents: our own mark
        return None
    return "marked billed in Harvest" + (f" ({ext.get('service') or 'other'} {group})" if group else "")


def harvest_invoice(doc: dict[str, Any]) -> str | None:
    """The Harvest invoice a record is on, if any. For expenses this alone says "billed elsewhere": our own
    mark on an expense is a bare ``is_billed`` (Harvest keeps no external reference on expenses), so a bare
    ``is_billed`` cannot tell another tool's mark from ours."""
    inv = doc.get("invoice")
    if isinstance(inv, dict) and (inv.get("id") is not None or inv.get("number")):
        return f"Harvest invoice {inv.get('number') or inv.get('id')}"
    return None


def flatten_expense(doc: dict[str, Any], extracted_at: str) -> dict[str, Any]:
    """A Harvest expense → one row of the ``raw_expenses`` contract (amounts stay Decimal).

    ``markup_percent`` is the sandbox's ``x_markup_percent`` (Harvest has no markup on an expense; the
    mapping's expense rules decide whether it is used); approvals as for time entries.
    """
    category = doc.get("expense_category") or {}
    receipt = doc.get("receipt") or {}
    return {
        "source": "harvest",
        "expense_id": str(doc["id"]),
        **_spent(doc),
        "category": _s(category.get("name")),
        "units": doc.get("units"),
        "total_cost": doc.get("total_cost"),
        "markup_percent": doc.get("x_markup_percent"),
        "billable": doc.get("billable") is True,
        "is_closed": doc.get("is_closed") is True,
        "is_billed": doc.get("is_billed") is True,
        **_approval(doc),
        "receipt_url": _s(receipt.get("url")) if isinstance(receipt, dict) else None,
        "billed_elsewhere": harvest_invoice(doc),
        "notes": _s(doc.get("notes")),
        "updated_at": str(doc.get("updated_at")),
        "extracted_at": extracted_at,
    }


def flatten_assignment(doc: dict[str, Any], kind: str) -> dict[str, Any]:
    """A task or user assignment → (project, task|user, hourly_rate) row; the rate stays Decimal."""
    other = doc.get("task" if kind == "task_assignments" else "user") or {}
    return {
        "assignment_id": str(doc["id"]),
        "kind": "task" if kind == "task_assignments" else "user",
        "project_id": _s((doc.get("project") or {}).get("id")),
        "subject_id": _s(other.get("id")),
        "subject_name": _s(other.get("name")),
        "billable": doc.get("billable"),
        "is_active": bool(doc.get("is_active", True)),
        "hourly_rate": doc.get("hourly_rate"),
        "updated_at": str(doc.get("updated_at")),
    }


# ---- strict reading: a Harvest record → a typed row of the warehouse, or a Rejected naming what is wrong -------
Hours = decimal_type(6, 6)  # raw_time_entries.hours DECIMAL(12, 6)
Rate = decimal_type(12, 6)  # rates and amounts DECIMAL(18, 6)
Percent = decimal_type(5, 4)  # DECIMAL(9, 4)
APPROVAL = one_of("unsubmitted", "submitted", "approved")


@strict_record
class _Ref(TypedDict):
    id: Id
    name: NotRequired[Str | None]


@strict_record
class _Client(_Ref):
    currency: NotRequired[Currency | None]


@strict_record
class _Project(_Ref):
    code: NotRequired[Str | None]


@strict_record
class _Invoice(TypedDict, total=False):
    id: Id | None
    number: Str | None


@strict_record
class _ExternalReference(TypedDict, total=False):
    id: Str | None
    group_id: Str | None
    service: Str | None


@strict_record
class _Receipt(TypedDict, total=False):
    url: Str | None


@strict_record
class _Record(TypedDict, total=False):
    """What time entries and expenses share (Harvest v2 documents; ``x_`` fields are the sandbox's)."""

    id: Required[Id]
    spent_date: Required[IsoDate]
    user: _Ref | None
    client: _Client | None
    project: _Project | None
    notes: Str | None
    billable: Required[Bool]
    is_closed: Bool
    is_billed: Bool
    approval_status: APPROVAL | None  # type: ignore[valid-type]
    invoice: _Invoice | None
    updated_at: Required[Instant]
    x_approved_by: _Ref | None
    x_approved_at: Instant | None


@strict_record
class HarvestTimeEntry(_Record, total=False):
    """A Harvest v2 time entry (``GET /v2/time_entries``), strictly."""

    task: _Ref | None
    hours: Required[Hours]  # type: ignore[valid-type]
    billable_rate: Rate | None  # type: ignore[valid-type]
    cost_rate: Rate | None  # type: ignore[valid-type]
    external_reference: _ExternalReference | None
    x_started_at: Instant | None
    x_timezone: Str | None


@strict_record
class HarvestExpense(_Record, total=False):
    """A Harvest v2 expense (``GET /v2/expenses``), strictly."""

    expense_category: _Ref | None
    units: Hours | None  # type: ignore[valid-type]
    total_cost: Required[Rate]  # type: ignore[valid-type]
    x_markup_percent: Percent | None  # type: ignore[valid-type]
    receipt: _Receipt | None


TIME_ENTRY = TypeAdapter(HarvestTimeEntry)
EXPENSE = TypeAdapter(HarvestExpense)


def read_time_entry(doc: Any, extracted_at: str) -> dict[str, Any] | Rejected:
    """A Harvest time entry as a ``raw_time_entries`` row when it reads strictly, else a :class:`Rejected` naming
    the entry, each bad field, its value and the problem (never a guess, never an exception)."""
    m = read_strictly(TIME_ENTRY, doc, "harvest", "entry_id", extracted_at)
    return m if isinstance(m, Rejected) else flatten_time_entry(m, extracted_at)


def read_expense(doc: Any, extracted_at: str) -> dict[str, Any] | Rejected:
    """A Harvest expense as a ``raw_expenses`` row when it reads strictly, else a :class:`Rejected`."""
    m = read_strictly(EXPENSE, doc, "harvest", "expense_id", extracted_at, is_billed=False)
    return m if isinstance(m, Rejected) else flatten_expense(m, extracted_at)
