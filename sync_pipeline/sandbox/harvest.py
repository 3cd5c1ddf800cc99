"""A Harvest API v2 compatible sandbox (subset).

Resources (``GET /v2/<resource>`` and ``GET /v2/<resource>/{id}``): clients, projects, tasks, users,
task_assignments, user_assignments (also under ``/v2/projects/{id}/...``), expense_categories,
expenses, time_entries; ``GET /v2/company`` and ``/v2/users/me``. Writes: ``PATCH``/``DELETE`` of time
entries and expenses.

As Harvest documents: ``Authorization: Bearer`` + ``Harvest-Account-Id``; filters ``updated_since``,
``from``/``to`` (spent_date), ``project_id``/``client_id``/``user_id``/``task_id``, ``is_billed``,
``is_active``; ``per_page`` up to 2000 (more is a 422); ``links.next`` is a *cursor* URL (keyset on an
index, so reading 1M entries page by page costs the same per page at the end as at the start) while
``page=N`` still works; 100 requests per 15 s per token, then 429 + ``Retry-After`` (both configurable).
Time entries and expenses come newest ``spent_date`` first, then by id descending; other resources by id
descending.

Sandbox extensions (not in Harvest; names start with ``x_`` so nobody mistakes them for Harvest's):
- time entries: ``x_started_at`` (ISO-8601 instant with the user's UTC offset) and ``x_timezone`` (IANA
  name), so the billing side can assign local dates near midnight and across DST changes;
- task and user assignments: ``x_rate_history`` — ``[{"effective_from": "YYYY-MM-DD", "hourly_rate": ...}]``,
  oldest first; ``hourly_rate`` is the rate in force today, as in Harvest;
- expenses: ``x_markup_percent`` (the markup the invoice should add), next to Harvest's ``receipt``;
- ``GET /v2/x_sandbox/deleted?resource=time_entries&updated_since=...``: what was deleted and when
  (Harvest has no deletions feed: a client must otherwise diff id sets);
- ``POST /v2/x_sandbox/approvals`` ``{"time_entry_ids": [...], "expense_ids": [...], "approver_id": 3}``:
  approve (``is_closed``/``is_locked``, ``approval_status: approved``, a new ``updated_at``), as a manager
  does in Harvest's web app; the documents then carry ``x_approved_by`` (``{"id", "name"}`` of the approver,
  a user of the account; default the token's own user, ``/v2/users/me``) and ``x_approved_at`` (the instant).
  Harvest itself says only *that* an entry is approved (``approval_status``), not who approved it or when.
"""

from __future__ import annotations

import base64
import json
import math
import re
import threading
import time
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from sync_pipeline.contracts.codec import dumps, loads
from sync_pipeline.sandbox.server import ApiError, App, Request, Response
from sync_pipeline.sandbox.storage import DocStore


def _num(doc: dict[str, Any]) -> int:
    return int(doc["id"])


_NUM = ("INTEGER", _num)
COLLECTIONS: dict[str, dict[str, Any]] = {
    "clients": {"updated_at": "TEXT", "is_active": "INTEGER", "num": _NUM},
    "projects": {"updated_at": "TEXT", "client__id": "INTEGER", "is_active": "INTEGER", "num": _NUM},
    "tasks": {"updated_at": "TEXT", "is_active": "INTEGER", "num": _NUM},
    "users": {"updated_at": "TEXT", "is_active": "INTEGER", "num": _NUM},
    "task_assignments": {"updated_at": "TEXT", "project__id": "INTEGER", "task__id": "INTEGER",
                         "is_active": "INTEGER", "num": _NUM},
    "user_assignments": {"updated_at": "TEXT", "project__id": "INTEGER", "user__id": "INTEGER",
                         "is_active": "INTEGER", "num": _NUM},
    "expense_categories": {"updated_at": "TEXT", "is_active": "INTEGER", "num": _NUM},
    "expenses": {"updated_at": "TEXT", "spent_date": "TEXT", "project__id": "INTEGER", "client__id": "INTEGER",
                 "user__id": "INTEGER", "is_billed": "INTEGER", "num": _NUM},
    "time_entries": {"updated_at": "TEXT", "spent_date": "TEXT", "project__id": "INTEGER", "client__id": "INTEGER",
                     "user__id": "INTEGER", "task__id": "INTEGER", "is_billed": "INTEGER", "num": _NUM},
    "invoices": {"updated_at": "TEXT", "client__id": "INTEGER", "number": "TEXT", "num": _NUM},
    "invoice_payments": {"updated_at": "TEXT", "x_invoice_id": "INTEGER", "num": _NUM},
}
# listing order (descending) per collection; an index on (tenant, *order) serves order and cursor
ORDER: dict[str, tuple[str, ...]] = {c: ("num",) for c in COLLECTIONS} | {
    "time_entries": ("spent_date", "num"), "expenses": ("spent_date", "num")}
# columns served by the order index (tenant, spent_date, num) or rarely filtered alone: no index of their own,
# so bulk loads of millions of entries update 6 b-trees per row instead of 11
UNINDEXED: dict[str, set[str]] = {c: {"num"} for c in COLLECTIONS} | {
    "time_entries": {"num", "spent_date", "client__id", "task__id", "is_billed"},
    "expenses": {"num", "spent_date", "is_billed"}}
FILTERS: dict[str, tuple[str, ...]] = {
    "projects": ("client_id",), "task_assignments": ("project_id", "task_id"),
    "user_assignments": ("project_id", "user_id"), "expenses": ("project_id", "client_id", "user_id"),
    "time_entries": ("project_id", "client_id", "user_id", "task_id"), "invoices": ("client_id",),
}
WRITABLE = ("time_entries", "expenses")

MAX_PER_PAGE = 2000
DEFAULT_PER_PAGE = 2000


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SlidingWindowLimiter:
    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, key: str) -> float | None:
        """None when allowed; otherwise seconds to wait."""
        if self.limit <= 0:
            return None
        now = time.monotonic()
        with self._lock:
            q = self._hits.setdefault(key, deque())
            while q and now - q[0] >= self.window:
                q.popleft()
            if len(q) >= self.limit:
                return self.window - (now - q[0])
            q.append(now)
            return None


def _encode_cursor(doc: dict[str, Any], order: tuple[str, ...]) -> str:
    after = {("id" if k == "num" else k): (int(doc["id"]) if k == "num" else doc.get(k)) for k in order}
    return base64.urlsafe_b64encode(json.dumps({"after": after}, separators=(",", ":")).encode()).decode()


def _decode_cursor(cursor: str, order: tuple[str, ...]) -> list[Any]:
    try:
        after = json.loads(base64.urlsafe_b64decode(cursor.encode() + b"=" * (-len(cursor) % 4)))["after"]
        return [int(after["id"]) if k == "num" else str(after[k]) for k in order]
    except (ValueError, KeyError, TypeError):
        raise ApiError(422, {"message": "cursor is not one this server gave out; follow links.next"}) from None


class HarvestSandbox(App):
    name = "harvest"

    def __init__(self, db_path: str, *, token: str = "sandbox-harvest-token",
                 rate_limit: int = 100, rate_window: float = 15.0) -> None:
        super().__init__()
        self.store = DocStore(db_path, COLLECTIONS, unindexed=UNINDEXED)
        with self.store.tx() as c:
            for coll, order in ORDER.items():
                c.execute(f"CREATE INDEX IF NOT EXISTS ix_{coll}__order ON {coll} (tenant, {', '.join(order)})")
        self.token = token
        self.limiter = SlidingWindowLimiter(rate_limit, rate_window)
        self.base_url = ""  # set by whoever serves it, for links
        self._generation: dict[str, int] = {c: 0 for c in COLLECTIONS}
        self._counts: dict[tuple[Any, ...], tuple[int, int]] = {}
        self.router.add("GET", "/v2/users/me", self._me)
        self.router.add("GET", "/v2/company", self._company)
        self.router.add("GET", "/v2/x_sandbox/deleted", self._deleted)
        self.router.add("POST", "/v2/x_sandbox/approvals", self._approve)
        for coll in COLLECTIONS:
            self.router.add("GET", f"/v2/{coll}", self._lister(coll))
            self.router.add("GET", f"/v2/{coll}/(?P<id>\\d+)", self._getter(coll))
        for coll in ("task_assignments", "user_assignments"):
            self.router.add("GET", f"/v2/projects/(?P<project_id>\\d+)/{coll}", self._lister(coll))
            self.router.add("GET", f"/v2/projects/(?P<project_id>\\d+)/{coll}/(?P<id>\\d+)", self._getter(coll))
        for coll in WRITABLE:
            self.router.add("PATCH", f"/v2/{coll}/(?P<id>\\d+)", self._patcher(coll))
            self.router.add("DELETE", f"/v2/{coll}/(?P<id>\\d+)", self._deleter(coll))
        self.router.add("POST", "/v2/invoices", self._create_invoice)
        self.router.add("GET", "/v2/invoices/(?P<invoice_id>\\d+)/payments", self._payments)
        self.router.add("POST", "/v2/invoices/(?P<invoice_id>\\d+)/payments", self._create_payment)
        self.router.add("DELETE", "/v2/invoices/(?P<invoice_id>\\d+)/payments/(?P<id>\\d+)", self._delete_payment)

    # -- plumbing ---------------------------------------------------------------------------
    def handle(self, req: Request) -> Response:
        auth = req.headers.get("authorization", "")
        if auth != f"Bearer {self.token}":
            raise ApiError(401, {"error": "invalid_token", "error_description": "The access token provided is "
                                 "expired, revoked, malformed or invalid for other reasons."})
        account = req.headers.get("harvest-account-id")
        if not account or not self.store.kv_get("accounts", account):
            raise ApiError(403, {"error": "forbidden",
                                 "error_description": f"Harvest-Account-Id {account!r} is not accessible"})
        wait = self.limiter.check(self.token)
        if wait is not None:
            raise ApiError(429, {"error": "rate_limited", "error_description": "Too many requests"},
                           {"Retry-After": str(max(1, math.ceil(wait)))})
        req.params["account"] = account
        return super().handle(req)

    def _changed(self, coll: str) -> None:
        self._generation[coll] += 1

    def _count(self, coll: str, account: str, where: str, args: list[Any]) -> int:
        key = (coll, account, where, tuple(args))
        gen = self._generation[coll]
        hit = self._counts.get(key)
        if hit is not None and hit[0] == gen:
            return hit[1]
        n = self.store.count(coll, account, where, args)
        if len(self._counts) > 1000:
            self._counts.clear()
        self._counts[key] = (gen, n)
        return n

    def _lister(self, coll: str):
        order = ORDER[coll]

        def list_(req: Request) -> Response:
            account = req.params["account"]
            try:
                per_page = int(req.arg("per_page") or DEFAULT_PER_PAGE)
                page = int(req.arg("page") or 1)
            except ValueError:
                raise ApiError(422, {"message": "page and per_page must be integers"}) from None
            if not 1 <= per_page <= MAX_PER_PAGE:
                raise ApiError(422, {"message": f"per_page must be between 1 and {MAX_PER_PAGE}"})
            if page < 1:
                raise ApiError(422, {"message": "page must be 1 or more"})
            where, args = self._filters(coll, req)
            w = " AND ".join(where)
            total = self._count(coll, account, w, args)
            total_pages = max(1, math.ceil(total / per_page))
            order_sql = ", ".join(f"{c} DESC" for c in order)
            cursor = req.arg("cursor")
            if cursor:
                after = _decode_cursor(cursor, order)
                cond = w + (" AND " if w else "") + f"({', '.join(order)}) < ({', '.join('?' * len(order))})"
                rows = list(self.store.query_raw(coll, account, cond, [*args, *after], order=order_sql,
                                                 limit=per_page + 1))
            else:
                rows = list(self.store.query_raw(coll, account, w, args, order=order_sql, limit=per_page + 1,
                                                 offset=(page - 1) * per_page))
            more = len(rows) > per_page
            rows = rows[:per_page]
            base = {k: v[-1] for k, v in req.query.items() if k not in ("page", "cursor", "ref", "per_page")}

            def link(**q: Any) -> str:
                return f"{self.base_url}{req.path}?{urlencode({**base, **q, 'per_page': per_page})}"

            next_link = None
            if more:
                last = loads(rows[-1])
                next_link = link(cursor=_encode_cursor(last, order), ref="next_cursor")
            first_or_last = not cursor and (page == 1 or page == total_pages)
            meta = {
                "per_page": per_page,
                "total_pages": total_pages,
                "total_entries": total,
                # Harvest: with cursor pagination page/next_page/previous_page are null but on the first and
                # last pages
                "next_page": page + 1 if first_or_last and page < total_pages else None,
                "previous_page": page - 1 if first_or_last and page > 1 else None,
                "page": page if not cursor else None,
                "links": {
                    "first": link(page=1, ref="first"),
                    "next": next_link,
                    "previous": link(page=page - 1, ref="previous") if not cursor and page > 1 else None,
                    "last": link(page=total_pages, ref="last"),
                },
            }
            # splice the stored JSON documents in: no decoding and re-encoding of 2000 entries per page
            raw = b'{"' + coll.encode() + b'":[' + ",".join(rows).encode() + b"]," + dumps(meta)[1:]
            return Response(200, raw=raw)

        return list_

    def _filters(self, coll: str, req: Request) -> tuple[list[str], list[Any]]:
        where: list[str] = []
        args: list[Any] = []
        if (since := req.arg("updated_since")) is not None:
            where.append("updated_at >= ?")
            args.append(_norm_ts(since))
        if coll in ("time_entries", "expenses"):
            for name, op in (("from", ">="), ("to", "<=")):
                if (v := req.arg(name)) is not None:
                    where.append(f"spent_date {op} ?")
                    args.append(_iso_date(v, name))
        if coll in ("time_entries", "expenses") and (b := req.arg("is_billed")) is not None:
            where.append("is_billed = ?")
            args.append(1 if b.lower() == "true" else 0)
        if coll not in ("time_entries", "expenses") and (a := req.arg("is_active")) is not None:
            where.append("is_active = ?")
            args.append(1 if a.lower() == "true" else 0)
        for f in FILTERS.get(coll, ()):
            v = req.params.get(f) or req.arg(f)
            if v is not None:
                try:
                    args.append(int(v))
                except ValueError:
                    raise ApiError(422, {"message": f"{f} must be an integer"}) from None
                where.append(f"{f.replace('_id', '')}__id = ?")
        return where, args

    def _getter(self, coll: str):
        def get(req: Request) -> Response:
            doc = self.store.get(coll, req.params["account"], req.params["id"])
            if doc is None or (req.params.get("project_id") and
                               str((doc.get("project") or {}).get("id")) != req.params["project_id"]):
                raise ApiError(404, {"status": 404, "error": "Not Found"})
            return Response(200, doc)

        return get

    def _me(self, req: Request) -> Response:
        return Response(200, {"id": 0, "first_name": "Sandbox", "last_name": "Admin", "is_active": True,
                              "access_roles": ["administrator"]})

    def _company(self, req: Request) -> Response:
        acc = self.store.kv_get("accounts", req.params["account"]) or {}
        return Response(200, {"base_uri": self.base_url, "full_domain": "sandbox.harvestapp.com",
                              "name": acc.get("name"), "is_active": True, "week_start_day": "Monday",
                              "wants_timestamp_timers": True, "time_format": "hours_minutes",
                              "date_format": "%Y-%m-%d", "plan_type": "sandbox", "clock": "24h",
                              "currency": acc.get("currency", "GBP"), "expense_feature": True,
                              "invoice_feature": True, "estimate_feature": False, "approval_feature": True})

    # -- writes -----------------------------------------------------------------------------
    def _patcher(self, coll: str):
        allowed = {"time_entries": {"hours", "notes", "spent_date", "is_billed", "external_reference", "task_id",
                                    "project_id", "started_time", "ended_time", "billable"},
                   "expenses": {"notes", "spent_date", "units", "total_cost", "billable", "is_billed"}}[coll]

        def patch(req: Request) -> Response:
            acc, eid = req.params["account"], req.params["id"]
            doc = self.store.get(coll, acc, eid)
            if doc is None:
                raise ApiError(404, {"status": 404, "error": "Not Found"})
            changes = req.json() or {}
            if not isinstance(changes, dict):
                raise ApiError(422, {"message": "the body must be a JSON object of the fields to change"})
            bad = set(changes) - allowed
            if bad:
                raise ApiError(422, {"message": f"cannot change {', '.join(sorted(bad))}; changeable: "
                                                f"{', '.join(sorted(allowed))}"})
            if "spent_date" in changes:
                _iso_date(str(changes["spent_date"]), "spent_date")
            for name in NUMERIC_FIELDS & set(changes):
                changes[name] = _number(changes[name], name)
            for ref in ("task_id", "project_id"):
                if ref in changes:
                    target = self.store.get(ref.replace("_id", "s"), acc, str(changes[ref]))
                    if target is None:
                        raise ApiError(422, {"message": f"{ref} {changes[ref]} does not exist"})
                    doc[ref.replace("_id", "")] = {k: target.get(k) for k in ("id", "name", "code") if k in target}
                    changes.pop(ref)
            doc.update(changes)
            doc["updated_at"] = now_iso()
            self.store.put(coll, acc, eid, doc)
            self._changed(coll)
            return Response(200, doc)

        return patch

    def _deleter(self, coll: str):
        def delete(req: Request) -> Response:
            acc, eid = req.params["account"], req.params["id"]
            doc = self.store.get(coll, acc, eid)
            if doc is None:
                raise ApiError(404, {"status": 404, "error": "Not Found"})
            self.store.delete(coll, acc, eid)
            self.store.kv_put(f"deleted:{acc}:{coll}", eid, {"resource": coll, "id": int(eid),
                                                             "deleted_at": now_iso()})
            self._changed(coll)
            return Response(200, doc)

        return delete

    def _deleted(self, req: Request) -> Response:
        coll = req.arg("resource") or "time_entries"
        if coll not in COLLECTIONS:
            raise ApiError(422, {"message": f"resource must be one of {', '.join(COLLECTIONS)}"})
        since = _norm_ts(req.arg("updated_since") or "1970-01-01T00:00:00Z")
        rows = self.store._conn().execute("SELECT v FROM kv WHERE ns = ?",
                                          (f"deleted:{req.params['account']}:{coll}",)).fetchall()
        items = sorted((d for d in (loads(r[0]) for r in rows) if d["deleted_at"] >= since),
                       key=lambda d: (d["deleted_at"], d["id"]))
        return Response(200, {"deleted": items, "resource": coll})

    def _approve(self, req: Request) -> Response:
        body = req.json() or {}
        acc = req.params["account"]
        approver = {"id": 0, "name": "Sandbox Admin"}  # the token's own user (GET /v2/users/me)
        if body.get("approver_id") is not None:
            user = self.store.get("users", acc, str(body["approver_id"]))
            if user is None:
                raise ApiError(422, {"message": f"approver_id: no such user {body['approver_id']}; approve as a "
                                                "user of this account (GET /v2/users)"})
            name = user.get("name") or f"{user.get('first_name', '')} {user.get('last_name', '')}".strip()
            approver = {"id": int(user["id"]), "name": name}
        done: dict[str, list[int]] = {}
        for field, coll in (("time_entry_ids", "time_entries"), ("expense_ids", "expenses")):
            ids = body.get(field) or []
            missing = [i for i in ids if self.store.get(coll, acc, str(i)) is None]
            if missing:
                raise ApiError(422, {"message": f"{field}: no such {coll} {missing}"})
            ts = now_iso()
            for i in ids:
                doc = self.store.get(coll, acc, str(i))
                assert doc is not None
                doc.update({"is_closed": True, "is_locked": True, "updated_at": ts, "approval_status": "approved",
                            "locked_reason": "Item Approved and Locked for this Time Period",
                            "x_approved_by": approver, "x_approved_at": ts})
                self.store.put(coll, acc, str(i), doc)
            if ids:
                self._changed(coll)
            done[coll] = [int(i) for i in ids]
        return Response(200, {"approved": done})

    # -- invoices and their payments (what a two-way integration writes back) ------------------------
    def _invoice(self, acc: str, invoice_id: str) -> dict[str, Any]:
        doc = self.store.get("invoices", acc, invoice_id)
        if doc is None:
            raise ApiError(404, {"status": 404, "error": "Not Found"})
        return doc

    def _create_invoice(self, req: Request) -> Response:
        """``POST /v2/invoices``: ``client_id`` required; ``number`` unique in the account (Harvest's rule);
        ``line_items`` ``[{kind, description, quantity, unit_price}]``; amount = their sum."""
        acc, body = req.params["account"], req.json() or {}
        client = self.store.get("clients", acc, str(body.get("client_id")))
        if client is None:
            raise ApiError(422, {"message": f"client_id {body.get('client_id')!r} is not a client of this account"})
        number = str(body.get("number") or "")
        if number and self.store.count("invoices", acc, "number = ?", [number]):
            raise ApiError(422, {"message": "Number has already been taken"})
        amount = Decimal(0)
        items = []
        for i, li in enumerate(body.get("line_items") or []):
            qty = _number(li.get("quantity", 1), f"line_items.{i}.quantity") or Decimal(0)
            price = _number(li.get("unit_price"), f"line_items.{i}.unit_price") or Decimal(0)
            items.append({"id": i + 1, "kind": li.get("kind", "Service"), "description": li.get("description"),
                          "quantity": qty, "unit_price": price, "amount": qty * price})
            amount += qty * price
        with self.store.tx() as c:
            num = self.store.next_value("invoices", c)
        ts = now_iso()
        doc = {"id": num, "client": {"id": int(client["id"]), "name": client.get("name")},
               "number": number or str(num), "subject": body.get("subject"), "currency": body.get("currency"),
               "issue_date": body.get("issue_date"), "due_date": body.get("due_date"), "line_items": items,
               "amount": amount, "due_amount": amount, "state": "open", "paid_at": None,
               "created_at": ts, "updated_at": ts}
        self.store.put("invoices", acc, str(num), doc)
        self._changed("invoices")
        return Response(201, doc)

    def _payments(self, req: Request) -> Response:
        acc, inv = req.params["account"], req.params["invoice_id"]
        self._invoice(acc, inv)
        pays = list(self.store.query("invoice_payments", acc, "x_invoice_id = ?", [int(inv)], order="num ASC"))
        return Response(200, {"invoice_payments": pays, "per_page": 2000, "total_pages": 1,
                              "total_entries": len(pays), "page": 1, "links": {"next": None}})

    def _create_payment(self, req: Request) -> Response:
        """``POST /v2/invoices/{id}/payments``: ``amount`` required (more than zero, at most what is due);
        ``paid_date`` or ``paid_at``; ``notes``. The invoice's ``due_amount`` and ``state`` follow."""
        acc, inv_id, body = req.params["account"], req.params["invoice_id"], req.json() or {}
        inv = self._invoice(acc, inv_id)
        amount = _number(body.get("amount"), "amount")
        if amount is None or amount <= 0:
            raise ApiError(422, {"message": "amount: a payment needs an amount greater than zero"})
        if amount > Decimal(str(inv["due_amount"])):
            raise ApiError(422, {"message": f"amount: {amount} is more than the {inv['due_amount']} due"})
        with self.store.tx() as c:
            num = self.store.next_value("invoice_payments", c)
        ts = now_iso()
        paid_date = body.get("paid_date") or (str(body["paid_at"])[:10] if body.get("paid_at") else ts[:10])
        pay = {"id": num, "x_invoice_id": int(inv_id), "amount": amount, "paid_date": _iso_date(paid_date, "paid_date"),
               "paid_at": body.get("paid_at"), "notes": body.get("notes"), "recorded_by": "Sandbox Admin",
               "created_at": ts, "updated_at": ts}
        self.store.put("invoice_payments", acc, str(num), pay)
        self._settle(acc, inv, Decimal(str(inv["due_amount"])) - amount)
        return Response(201, pay)

    def _delete_payment(self, req: Request) -> Response:
        acc, inv_id = req.params["account"], req.params["invoice_id"]
        inv = self._invoice(acc, inv_id)
        pay = self.store.get("invoice_payments", acc, req.params["id"])
        if pay is None or str(pay["x_invoice_id"]) != inv_id:
            raise ApiError(404, {"status": 404, "error": "Not Found"})
        self.store.delete("invoice_payments", acc, req.params["id"])
        self._settle(acc, inv, Decimal(str(inv["due_amount"])) + Decimal(str(pay["amount"])))
        return Response(200, pay)

    def _settle(self, acc: str, inv: dict[str, Any], due: Decimal) -> None:
        inv.update({"due_amount": due, "state": "paid" if due == 0 else "open", "updated_at": now_iso()})
        self.store.put("invoices", acc, str(inv["id"]), inv)
        self._changed("invoices")
        self._changed("invoice_payments")

    # -- seeding (Python API, used by the seeders, the generator and tests) ------------------------
    def add_account(self, account_id: str, name: str, currency: str = "GBP") -> None:
        self.store.kv_put("accounts", str(account_id), {"id": account_id, "name": name, "currency": currency})

    def upsert(self, coll: str, account_id: str, doc: dict[str, Any]) -> None:
        doc.setdefault("updated_at", now_iso())
        doc.setdefault("created_at", doc["updated_at"])
        self.store.put(coll, str(account_id), str(doc["id"]), doc)
        self._changed(coll)

    def upsert_many(self, coll: str, account_id: str, docs: list[dict[str, Any]]) -> int:
        ts = now_iso()
        for d in docs:
            d.setdefault("updated_at", ts)
            d.setdefault("created_at", d["updated_at"])
        n = self.store.put_many(coll, str(account_id), ((str(d["id"]), d) for d in docs))
        self._changed(coll)
        return n

    def bulk_load(self, coll: str, account_id: str, docs: Iterable[dict[str, Any]], *, chunk: int = 20_000) -> int:
        """Insert many documents fast (one executemany per chunk); docs need ``id``, ``created_at``, ``updated_at``."""
        n = self.store.bulk_put(coll, str(account_id), ((str(d["id"]), d) for d in docs), chunk=chunk)
        self._changed(coll)
        return n


NUMERIC_FIELDS = frozenset({"hours", "units", "total_cost"})


def _number(value: Any, name: str) -> Decimal | None:
    """A decimal field as Harvest stores it: a JSON number, or a plain decimal string (as its form parameters
    are), kept as a number; anything else is refused as Harvest refuses it."""
    if value is None or (isinstance(value, int | Decimal | float) and not isinstance(value, bool)):
        return None if value is None else Decimal(str(value))
    if isinstance(value, str) and re.fullmatch(r"-?\d+(\.\d+)?", value.strip()):
        return Decimal(value.strip())
    raise ApiError(422, {"message": f"{name} must be a decimal number, got {value!r}"})


def _iso_date(value: str, name: str) -> str:
    try:
        return datetime.strptime(value[:10], "%Y-%m-%d").date().isoformat()
    except ValueError:
        raise ApiError(422, {"message": f"{name} must be a date YYYY-MM-DD, got {value!r}"}) from None


def _norm_ts(value: str) -> str:
    """Normalise an ISO-8601 instant to the stored ``YYYY-MM-DDTHH:MM:SSZ`` form."""
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(422, {"message": f"updated_since must be ISO 8601, got {value!r}"}) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
