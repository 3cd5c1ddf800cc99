"""A Harvest API v2 compatible sandbox (subset).

Auth: ``Authorization: Bearer <token>`` and ``Harvest-Account-Id``. Pagination with
``page``/``per_page`` (max 2000) and ``links``; filters ``from``, ``to`` (spent_date)
and ``updated_since``. Rate limit: 100 requests per 15 s per token, 429 + Retry-After.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from sync_pipeline.sandbox.server import ApiError, App, Request, Response
from sync_pipeline.sandbox.storage import DocStore

COLLECTIONS: dict[str, dict[str, str]] = {
    "clients": {"updated_at": "TEXT"},
    "projects": {"updated_at": "TEXT", "client__id": "INTEGER"},
    "tasks": {"updated_at": "TEXT"},
    "users": {"updated_at": "TEXT"},
    "time_entries": {"updated_at": "TEXT", "spent_date": "TEXT", "project__id": "INTEGER",
                     "client__id": "INTEGER", "user__id": "INTEGER", "is_billed": "INTEGER"},
}

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


class HarvestSandbox(App):
    name = "harvest"

    def __init__(self, db_path: str, *, token: str = "sandbox-harvest-token",
                 rate_limit: int = 100, rate_window: float = 15.0) -> None:
        super().__init__()
        self.store = DocStore(db_path, COLLECTIONS)
        self.token = token
        self.limiter = SlidingWindowLimiter(rate_limit, rate_window)
        self.base_url = ""  # set by whoever serves it, for links
        for coll in COLLECTIONS:
            self.router.add("GET", f"/v2/{coll}", self._lister(coll))
            self.router.add("GET", f"/v2/{coll}/(?P<id>\\d+)", self._getter(coll))
        self.router.add("PATCH", "/v2/time_entries/(?P<id>\\d+)", self._patch_time_entry)
        self.router.add("DELETE", "/v2/time_entries/(?P<id>\\d+)", self._delete_time_entry)
        self.router.add("GET", "/v2/users/me", self._me)

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

    def _lister(self, coll: str):
        def list_(req: Request) -> Response:
            account = req.params["account"]
            try:
                per_page = min(MAX_PER_PAGE, max(1, int(req.arg("per_page") or DEFAULT_PER_PAGE)))
                page = max(1, int(req.arg("page") or 1))
            except ValueError:
                raise ApiError(422, {"message": "page and per_page must be integers"}) from None
            where, args = [], []
            if (since := req.arg("updated_since")) is not None:
                where.append("updated_at >= ?")
                args.append(_norm_ts(since))
            if coll == "time_entries":
                if (frm := req.arg("from")) is not None:
                    where.append("spent_date >= ?")
                    args.append(frm)
                if (to := req.arg("to")) is not None:
                    where.append("spent_date <= ?")
                    args.append(to)
                for f in ("project_id", "client_id", "user_id"):
                    if (v := req.arg(f)) is not None:
                        where.append(f"{f.replace('_id', '')}__id = ?")
                        args.append(int(v))
                if (b := req.arg("is_billed")) is not None:
                    where.append("is_billed = ?")
                    args.append(1 if b == "true" else 0)
            w = " AND ".join(where)
            total = self.store.count(coll, account, w, args)
            docs = self.store.query(coll, account, w, args, order="CAST(id AS INTEGER) DESC",
                                    limit=per_page, offset=(page - 1) * per_page)
            total_pages = max(1, math.ceil(total / per_page))
            base = {k: v[-1] for k, v in req.query.items() if k not in ("page",)}
            link = lambda p: f"{self.base_url}{req.path}?{urlencode({**base, 'page': p, 'per_page': per_page})}"  # noqa: E731
            return Response(200, {
                coll: docs,
                "per_page": per_page,
                "total_pages": total_pages,
                "total_entries": total,
                "next_page": page + 1 if page < total_pages else None,
                "previous_page": page - 1 if page > 1 else None,
                "page": page,
                "links": {
                    "first": link(1),
                    "next": link(page + 1) if page < total_pages else None,
                    "previous": link(page - 1) if page > 1 else None,
                    "last": link(total_pages),
                },
            })

        return list_

    def _getter(self, coll: str):
        def get(req: Request) -> Response:
            doc = self.store.get(coll, req.params["account"], req.params["id"])
            if doc is None:
                raise ApiError(404, {"status": 404, "error": "Not Found"})
            return Response(200, doc)

        return get

    def _me(self, req: Request) -> Response:
        return Response(200, {"id": 0, "first_name": "Sandbox", "last_name": "Admin", "is_active": True})

    def _patch_time_entry(self, req: Request) -> Response:
        acc, eid = req.params["account"], req.params["id"]
        doc = self.store.get("time_entries", acc, eid)
        if doc is None:
            raise ApiError(404, {"status": 404, "error": "Not Found"})
        changes = req.json() or {}
        allowed = {"hours", "notes", "spent_date", "is_billed", "external_reference"}
        bad = set(changes) - allowed
        if bad:
            raise ApiError(422, {"message": f"cannot change {', '.join(sorted(bad))}"})
        doc.update(changes)
        doc["updated_at"] = now_iso()
        self.store.put("time_entries", acc, eid, doc)
        return Response(200, doc)

    def _delete_time_entry(self, req: Request) -> Response:
        acc, eid = req.params["account"], req.params["id"]
        doc = self.store.get("time_entries", acc, eid)
        if doc is None:
            raise ApiError(404, {"status": 404, "error": "Not Found"})
        self.store.delete("time_entries", acc, eid)
        self.store.kv_put(f"deleted:{acc}", eid, {"id": int(eid), "deleted_at": now_iso()})
        return Response(200, doc)

    # -- seeding (Python API, used by the seeders and tests) ----------------------------------
    def add_account(self, account_id: str, name: str) -> None:
        self.store.kv_put("accounts", str(account_id), {"id": account_id, "name": name})

    def upsert(self, coll: str, account_id: str, doc: dict[str, Any]) -> None:
        doc.setdefault("updated_at", now_iso())
        doc.setdefault("created_at", doc["updated_at"])
        self.store.put(coll, str(account_id), str(doc["id"]), doc)

    def upsert_many(self, coll: str, account_id: str, docs: list[dict[str, Any]]) -> int:
        ts = now_iso()
        for d in docs:
            d.setdefault("updated_at", ts)
            d.setdefault("created_at", d["updated_at"])
        return self.store.put_many(coll, str(account_id), ((str(d["id"]), d) for d in docs))


def _norm_ts(value: str) -> str:
    """Normalise an ISO-8601 instant to the stored ``YYYY-MM-DDTHH:MM:SSZ`` form."""
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(422, {"message": f"updated_since must be ISO 8601, got {value!r}"}) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
