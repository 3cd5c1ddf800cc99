"""A small QuickBooks Online for ``httpx.MockTransport``: the documented shapes, recorded calls, scripted faults.

Not a sandbox (that is ``sandbox/qbo*``): just enough of Intuit's answers — token endpoint, entity create/read/
sparse update, ``/query`` (``=``, ``LIKE``, ``IN``, ``>``, ``>=`` joined by AND), ``/batch`` with per-item Faults,
``/cdc``, ``requestid`` replay, duplicate ``DocNumber`` — to unit-test the client and the target.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

import httpx

from sync_pipeline.contracts.codec import dumps, loads

REALM = "9130357766900001"
NOW = "2026-11-24T10:00:00-08:00"


def fault(code: str, message: str, type_: str = "ValidationFault", detail: str = "") -> dict[str, Any]:
    return {"Fault": {"Error": [{"Message": message, "Detail": detail or message, "code": code, "element": ""}],
                      "type": type_}, "time": NOW}


class FakeQbo:
    def __init__(self, *, custom_doc_numbers: bool = False, home_currency: str = "USD") -> None:
        self.objects: dict[str, dict[str, dict[str, Any]]] = {}
        self.requests: list[httpx.Request] = []
        self.replays: dict[str, tuple[int, bytes]] = {}
        self.scripted: list[Callable[[httpx.Request], httpx.Response | None]] = []
        self.custom_doc_numbers = custom_doc_numbers
        self.home_currency = home_currency
        self.tokens = 0
        self.next_id = 100
        self.refresh_token = "rt-initial-000001"
        self.add("Account", {"Name": "Sales", "AcctNum": "200", "AccountType": "Income"})
        self.add("Account", {"Name": "Bank", "AcctNum": "090", "AccountType": "Bank"})

    # -- state ------------------------------------------------------------------------------------------------
    def add(self, entity: str, obj: dict[str, Any]) -> dict[str, Any]:
        self.next_id += 1
        obj = {**obj, "Id": str(self.next_id), "SyncToken": "0",
               "MetaData": {"CreateTime": NOW, "LastUpdatedTime": NOW}}
        if entity in ("Invoice", "CreditMemo"):
            total = sum((Decimal(str(li["Amount"])) for li in obj.get("Line", [])), Decimal(0))
            obj.setdefault("TotalAmt", total)
            obj.setdefault("Balance", total)
            if not self.custom_doc_numbers:
                obj["DocNumber"] = str(1000 + self.next_id)
            if entity == "CreditMemo":
                obj.setdefault("RemainingCredit", total)
        if entity == "Payment":
            for line in obj.get("Line", []):
                for link in line.get("LinkedTxn", []):
                    inv = self.objects["Invoice"][link["TxnId"]]
                    inv["Balance"] = Decimal(str(inv["Balance"])) - Decimal(str(line["Amount"]))
        self.objects.setdefault(entity, {})[obj["Id"]] = obj
        return obj

    def _create(self, entity: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if body.get("sparse") and body.get("Id"):
            cur = self.objects[entity][body["Id"]]
            if body["SyncToken"] != cur["SyncToken"]:
                return 400, fault("5010", "Stale Object Error", detail="You and someone else worked on this")
            cur.update({k: v for k, v in body.items() if k not in ("sparse", "SyncToken")})
            cur["SyncToken"] = str(int(cur["SyncToken"]) + 1)
            return 200, {entity: cur, "time": NOW}
        num = body.get("DocNumber")
        if num and any(o.get("DocNumber") == num for o in self.objects.get(entity, {}).values()):
            return 400, fault("6140", "Duplicate Document Number Error",
                              detail=f"Duplicate Document Number Error : You must specify a different number. "
                                     f"DocNumber={num}")
        if entity == "Invoice" and not body.get("CustomerRef"):
            return 400, fault("6560", "CustomerRef is missing in the request")
        return 200, {entity: self.add(entity, body), "time": NOW}

    # -- queries ----------------------------------------------------------------------------------------------
    def query(self, statement: str) -> list[dict[str, Any]]:
        m = re.match(r"SELECT \* FROM (\w+)(?: WHERE (.*?))?(?: ORDERBY [\w.]+)?"
                     r"(?: STARTPOSITION (\d+))?(?: MAXRESULTS (\d+))?$", statement)
        assert m, statement
        entity, where, start, size = m.group(1), m.group(2), int(m.group(3) or 1), int(m.group(4) or 100)
        rows = list(self.objects.get(entity, {}).values())
        for cond in re.split(r" AND ", where or "") if where else []:
            rows = [r for r in rows if _matches(r, cond)]
        return rows[start - 1:start - 1 + size]

    # -- the transport ----------------------------------------------------------------------------------------
    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        for script in list(self.scripted):
            resp = script(request)
            if resp is not None:
                self.scripted.remove(script)
                return resp
        if request.url.path.endswith("/tokens/bearer"):
            self.tokens += 1
            self.refresh_token = f"rt-rotated-{self.tokens:06d}"
            return httpx.Response(200, json={"token_type": "bearer", "access_token": f"at-{self.tokens:06d}-xyz",
                                             "expires_in": 3600, "refresh_token": self.refresh_token,
                                             "x_refresh_token_expires_in": 8726400})
        path = request.url.path.split(f"/v3/company/{REALM}/", 1)[1]
        params = request.url.params
        rid = params.get("requestid")
        if rid and rid in self.replays:
            status, content = self.replays[rid]
            return httpx.Response(status, content=content)
        status, body = self._route(request.method, path, params, request.content)
        content = dumps(body)
        if rid:
            self.replays[rid] = (status, content)
        return httpx.Response(status, content=content, headers={"Content-Type": "application/json"})

    def _route(self, method: str, path: str, params: Any, content: bytes) -> tuple[int, dict[str, Any]]:
        if path == "query":
            statement = params["query"]
            entity = statement.split()[3]
            rows = self.query(statement)
            qr: dict[str, Any] = {entity: rows, "startPosition": 1, "maxResults": len(rows)} if rows else {}
            return 200, {"QueryResponse": qr, "time": NOW}
        if path == "cdc":
            since = params["changedSince"]
            blocks = [{e: [o for o in self.objects.get(e, {}).values()
                           if o["MetaData"]["LastUpdatedTime"] >= since], "startPosition": 1}
                      for e in params["entities"].split(",")]
            return 200, {"CDCResponse": [{"QueryResponse": blocks}], "time": NOW}
        if path == "batch":
            out = []
            for item in loads(content)["BatchItemRequest"]:
                entity = next(k for k in item if k not in ("bId", "operation"))
                status, body = self._create(entity, item[entity])
                out.append({"bId": item["bId"], **({"Fault": body["Fault"]} if status != 200 else
                                                   {entity: body[entity]})})
            return 200, {"BatchItemResponse": out, "time": NOW}
        entity_name = {k.lower(): k for k in ("Invoice", "CreditMemo", "Payment", "Customer", "Item", "Account",
                                              "Deposit", "Purchase")}
        parts = path.split("/")
        entity = entity_name[parts[0]]
        if method == "GET":
            obj = self.objects.get(entity, {}).get(parts[1])
            return (200, {entity: obj, "time": NOW}) if obj else (400, fault("610", "Object Not Found"))
        return self._create(entity, loads(content))


def _field(row: dict[str, Any], name: str) -> Any:
    v: Any = row
    for part in name.split("."):
        v = v.get(part) if isinstance(v, dict) else None
    if isinstance(v, dict) and "value" in v:
        v = v["value"]
    return v


def _literal(text: str) -> str:
    text = text.strip()
    assert text.startswith("'") and text.endswith("'"), text
    return text[1:-1].replace("\\'", "'")


def _matches(row: dict[str, Any], cond: str) -> bool:
    m = re.match(r"([\w.]+) (=|LIKE|IN|>=|>) (.*)$", cond.strip())
    assert m, cond
    name, op, rhs = m.groups()
    value = _field(row, name)
    value = "" if value is None else str(value)
    if op == "IN":
        return value in [_literal(x) for x in re.findall(r"'(?:[^'\\]|\\.)*'", rhs)]
    lit = _literal(rhs)
    if op == "=":
        return value == lit
    if op == "LIKE":
        return re.fullmatch(".*".join(re.escape(p) for p in lit.split("%")), value) is not None
    return value >= lit if op == ">=" else value > lit


def transport(fake: FakeQbo) -> httpx.MockTransport:
    return httpx.MockTransport(fake)


def body_of(request: httpx.Request) -> Any:
    return json.loads(request.content) if request.content else None


def qs(request: httpx.Request) -> dict[str, list[str]]:
    return parse_qs(request.url.query.decode())
