"""Redmine REST API source.

Resources (``GET /<resource>.json``, offset/limit pagination, at most 100 per page, streamed):

- ``projects`` (with their parent, so a top-level project stands in for the client)
- ``issues`` (``status_id=*`` by default: open and closed)
- ``users`` (needs an admin key)
- ``time_entries`` (filters ``from``/``to`` on spent_on, ``project_id``, ``updated_on``) with custom fields,
  e.g. the boolean ``billable``

Auth: ``X-Redmine-API-Key``. Offset paging over data that changes while we read can repeat or skip
a record at a page boundary; the generator de-duplicates by id, and re-reads of a window reconcile
the rest. :func:`map_time_entry` maps an entry into the ``raw_time_entries`` contract: the root
project is the client, the activity is the task, rates and currency are not Redmine's business (the
billing rate card supplies them), and ``is_closed`` is False (Redmine has no approval lock).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from typing import Annotated, Any, NotRequired, Required

import httpx
from pydantic import AfterValidator, TypeAdapter
from pydantic_core import PydanticCustomError
from typing_extensions import TypedDict

from sync_pipeline.connectors.http import HttpClient
from sync_pipeline.connectors.limits import REDMINE_LIMITS, CircuitBreaker, RateLimiter
from sync_pipeline.connectors.strict import (
    Id,
    Instant,
    IsoDate,
    Rejected,
    Str,
    decimal_type,
    json_kind,
    read_strictly,
    strict_record,
)

MAX_LIMIT = 100
RESOURCES = ("projects", "issues", "users", "time_entries")


class RedmineClient:
    def __init__(self, base_url: str, api_key: str, *, timeout: float = 30.0, max_attempts: int = 5,
                 transport: httpx.BaseTransport | None = None, limiter: RateLimiter | None = None,
                 breaker: CircuitBreaker | None = None) -> None:
        self.http = HttpClient(system="redmine", base_url=base_url.rstrip("/"),
                               headers={"X-Redmine-API-Key": api_key}, timeout=timeout, max_attempts=max_attempts,
                               transport=transport, limits=REDMINE_LIMITS, limiter=limiter, breaker=breaker)

    def close(self) -> None:
        self.http.close()

    def pages(self, resource: str, *, limit: int = MAX_LIMIT, **filters: Any) -> Iterator[list[dict[str, Any]]]:
        """Stream pages via offset/limit; each record appears once even if the data shifts under us."""
        if resource not in RESOURCES:
            raise ValueError(f"unknown Redmine resource {resource!r}; known: {', '.join(RESOURCES)}")
        limit = max(1, min(limit, MAX_LIMIT))
        params = {k: v for k, v in filters.items() if v is not None}
        seen: set[int] = set()
        offset = 0
        while True:
            body = self.http.json("GET", f"/{resource}.json", params={**params, "offset": offset, "limit": limit})
            items = body.get(resource) or []
            # a record without a usable id is passed on (the strict reader quarantines it), never a KeyError here
            fresh = [i for i in items if _key(i) is None or _key(i) not in seen]
            seen.update(k for k in map(_key, items) if k is not None)
            if fresh:
                yield fresh
            total = int(body.get("total_count", 0))
            offset += len(items)
            if not items or offset >= total:
                return

    def time_entries(self, *, start: date | None = None, end: date | None = None, project_id: str | None = None,
                     updated_since: str | None = None) -> Iterator[list[dict[str, Any]]]:
        return self.pages("time_entries", project_id=project_id,
                          **{"from": start.isoformat() if start else None, "to": end.isoformat() if end else None,
                             "updated_on": f">={updated_since}" if updated_since else None})

    def projects(self) -> dict[int, dict[str, Any]]:
        return {p["id"]: p for page in self.pages("projects") for p in page}

    def issues(self, **filters: Any) -> Iterator[list[dict[str, Any]]]:
        return self.pages("issues", status_id=filters.pop("status_id", "*"), **filters)

    def users(self) -> Iterator[list[dict[str, Any]]]:
        return self.pages("users")


def _key(item: Any) -> int | None:
    v = item.get("id") if isinstance(item, dict) else None
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def custom_field(doc: dict[str, Any], name: str) -> str | None:
    for cf in doc.get("custom_fields") or []:
        if str(cf.get("name", "")).lower() == name.lower():
            v = cf.get("value")
            return None if v in (None, "") else str(v)
    return None


def root_project(project_id: int | None, projects: dict[int, dict[str, Any]]) -> dict[str, Any] | None:
    p = projects.get(project_id) if project_id is not None else None
    hops = 0
    while p and isinstance(p.get("parent"), dict) and hops < 20:  # a malformed parent ends the walk
        p = projects.get(p["parent"].get("id"), p)
        hops += 1
    return p


def _s(v: Any) -> str | None:
    return None if v is None else str(v)


def map_time_entry(doc: dict[str, Any], projects: dict[int, dict[str, Any]], extracted_at: str) -> dict[str, Any]:
    """A Redmine time entry → one row of the ``raw_time_entries`` contract."""
    project = doc.get("project") or {}
    proj = projects.get(project.get("id")) or {}
    client = root_project(project.get("id"), projects) or proj
    activity = doc.get("activity") or {}
    user = doc.get("user") or {}
    issue = (doc.get("issue") or {}).get("id")
    notes = doc.get("comments") or None
    if issue is not None:
        notes = f"#{issue} {notes}" if notes else f"#{issue}"
    billable = custom_field(doc, "billable")  # "1", "0" or not set (read strictly by RedmineTimeEntry)
    return {
        "source": "redmine",
        "entry_id": str(doc["id"]),
        "spent_date": _s(doc.get("spent_on")),
        "user_id": _s(user.get("id")),
        "user_name": _s(user.get("name")),
        "client_id": _s(client.get("identifier") or client.get("id")),
        "client_name": _s(client.get("name")),
        "client_currency": None,
        "project_id": _s(project.get("id")),
        "project_name": _s(project.get("name")),
        "project_code": _s(proj.get("identifier")),
        "task_id": _s(activity.get("id")),
        "task_name": _s(activity.get("name")),
        "hours": doc.get("hours"),
        "billable": billable == "1",
        "billable_rate": None,
        "cost_rate": None,
        "is_closed": False,
        "notes": notes,
        "updated_at": str(doc.get("updated_on") or doc.get("created_on")),
        "extracted_at": extracted_at,
        # Redmine knows no start instant and no approvals (RawTimeEntry v2 columns stay empty)
        "started_at": None, "timezone": None, "approval_status": None, "approved_by": None, "approved_at": None,
    }


# ---- strict reading ---------------------------------------------------------------------------------------------
BILLABLE_VALUES = {"1": True, "0": False, "": False}  # Redmine's boolean custom field; empty: not set


def _billable_is_a_redmine_boolean(v: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for cf in v:
        value = cf.get("value")
        if cf["name"].lower() == "billable" and value is not None and not (
                isinstance(value, str) and value in BILLABLE_VALUES):
            raise PydanticCustomError("boolean", 'billable: expected Redmine\'s boolean "1", "0" or empty, got {got}',
                                      {"got": json_kind(value)})
    return v


@strict_record
class _Ref(TypedDict):
    id: Id
    name: NotRequired[Str | None]


@strict_record
class _IssueRef(TypedDict):
    id: Id


@strict_record
class _CustomField(TypedDict):
    id: NotRequired[Id | None]
    name: Str
    value: NotRequired[Any]  # multi-value fields carry a list; only "billable" is read, below


@strict_record
class RedmineTimeEntry(TypedDict, total=False):
    """A Redmine time entry (``GET /time_entries.json``), strictly."""

    id: Required[Id]
    project: _Ref | None
    issue: _IssueRef | None
    user: _Ref | None
    activity: _Ref | None
    hours: Required[decimal_type(6, 6)]  # type: ignore[valid-type]
    comments: Str | None
    spent_on: Required[IsoDate]
    created_on: Instant | None
    updated_on: Required[Instant]
    custom_fields: Annotated[list[_CustomField], AfterValidator(_billable_is_a_redmine_boolean)] | None


TIME_ENTRY = TypeAdapter(RedmineTimeEntry)


def read_time_entry(doc: Any, projects: dict[int, dict[str, Any]], extracted_at: str) -> dict[str, Any] | Rejected:
    """A Redmine time entry as a ``raw_time_entries`` row (:func:`map_time_entry`) when it reads strictly, else a
    :class:`Rejected` naming the entry, each bad field, its value and the problem."""
    m = read_strictly(TIME_ENTRY, doc, "redmine", "entry_id", extracted_at, updated_key="updated_on")
    return m if isinstance(m, Rejected) else map_time_entry(m, projects, extracted_at)


def time_entry_reader(projects: dict[int, dict[str, Any]], currency_of: Callable[[str | None], str]
                      ) -> Callable[[Any, str], dict[str, Any] | Rejected]:
    """How a Redmine time entry becomes a ``raw_time_entries`` row, strictly, given the projects (the root project
    is the client) and the currency each client is billed in (Redmine knows none): ``currency_of(client_id)``,
    recorded as the entry's ``client_currency``."""

    def row(doc: Any, extracted_at: str) -> dict[str, Any] | Rejected:
        r = read_time_entry(doc, projects, extracted_at)
        if not isinstance(r, Rejected):
            r["client_currency"] = r["client_currency"] or currency_of(r["client_id"])
        return r

    return row
