"""The accounting systems the chaos tests run against, each on its sandbox (``accounting_targets.TARGETS``).

What differs between them is kept here, behind :class:`ChaosSystem`; ``test_chaos.py`` speaks only to it and to
:class:`~sync_pipeline.connectors.accounting.AccountingTarget`:

- faults: Xero on ``^/api.xro/2.0/`` (GET, PUT, POST); QuickBooks on ``^/v3/company/`` (GET, POST), without 429
  (Intuit sends no Retry-After and asks for a 60 s wait: throttling has its own tests);
- the killer's batch write: Xero ``PUT /Invoices`` or ``/CreditNotes`` with an ``Idempotency-Key``; QuickBooks
  ``POST /batch?requestid=…`` creating invoices or credit memos;
- a refusal: Xero an item's ``ValidationErrors``; QuickBooks a batch item's ``Fault`` (not a ``SystemFault``) or a
  write's 4xx ``Fault``;
- the name clash: Xero, a contact of the client's name created by hand (Xero refuses a second contact of that
  name); QuickBooks, a customer typed by hand with our tag in lower case (``[harvest-101]``: QuickBooks compares
  display names without case, so ours is refused, 6240 Duplicate Name Exists, and we adopt only our exact tag);
- the fix: Xero, the accountant gives the contact our number; QuickBooks, the accountant corrects the tag.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
from collections import Counter
from typing import Any

from sync_pipeline.contracts.codec import loads
from sync_pipeline.defs.resources import QboResource, XeroResource
from sync_pipeline.sandbox import demo_data
from sync_pipeline.sandbox.server import ApiError, App, Request, Response

TENANT = demo_data.XERO_TENANT_ID
FAULTS = ["429", "500", "503", "reset", "truncate", "commit_then_drop", "slow"]


class ChaosSystem:
    """One accounting system's sandbox, as the chaos tests drive it."""

    name = ""
    path = ""  # the API paths faults are injected on
    methods: tuple[str, ...] = ()
    kinds: tuple[str, ...] = tuple(FAULTS)

    def __init__(self, sb: Any) -> None:
        self.sb = sb

    @property
    def app(self) -> App:
        raise NotImplementedError

    def inject(self, rng: random.Random, probability: float, retry_after: int) -> list[str]:
        """Random faults on the API (and on Harvest's), replacing the previous ones; the kinds chosen."""
        self.clear()
        chosen = rng.sample(list(self.kinds), k=4)
        for kind in chosen:
            self.app.faults.add(kind, method=rng.choice(["*", *self.methods]), path=self.path, times=-1,
                                probability=probability, delay=1.2, retry_after=retry_after)
        self.sb.harvest.faults.add(rng.choice(["429", "503", "reset"]), method="GET", path="^/v2/", times=-1,
                                   probability=probability / 2, retry_after=retry_after)
        return chosen

    def clear(self) -> None:
        self.app.faults.clear()
        self.sb.harvest.faults.clear()

    def resource(self, resources: dict[str, Any]) -> XeroResource:
        """The accounting resource of the in-process runs: short timeouts, so a ``slow`` fault is a timeout."""
        raise NotImplementedError

    def mapping(self, path: Any) -> None:
        """Put the demo entity of the mapping at ``path`` on this system."""
        from sync_pipeline_tests.accounting_targets import mapping_on

        mapping_on(self.name, path, src=path)

    def is_document_batch(self, req: Request) -> bool:
        """Is this request an idempotent batch write of invoices or credit notes (what the killer waits for)?"""
        raise NotImplementedError

    def refused(self, req: Request, resp: Response) -> list[tuple[str, str]]:
        """The items of a write this answer refuses: (reference, or the contact's name; the message)."""
        raise NotImplementedError

    def write_key(self, req: Request) -> str | None:
        """The idempotency key a write carries (None: not a write, or none sent)."""
        raise NotImplementedError

    def make_clash(self, resources: dict[str, Any], client: dict[str, Any]) -> None:
        """A contact created by hand that stops ours for ``client`` being created: a permanent failure."""
        raise NotImplementedError

    def clash_name(self, client: dict[str, Any]) -> str:
        """The name a refusal of the clashing contact carries."""
        raise NotImplementedError

    def fix_clash(self, resources: dict[str, Any], client: dict[str, Any], number: str) -> None:
        """The accountant links the hand-made contact to ``number``: the replay finds it."""
        raise NotImplementedError


class XeroChaos(ChaosSystem):
    name = "xero"
    path = r"^/api\.xro/2\.0/"
    methods = ("PUT", "POST", "GET")

    @property
    def app(self) -> App:
        return self.sb.xero

    def resource(self, resources: dict[str, Any]) -> XeroResource:
        sb = self.sb
        return XeroResource(base_url=sb.xero_server.url, client_id=sb.xero.client_id,
                            client_secret=sb.xero.client_secret, timeout_seconds=1.0, max_attempts=4)

    def is_document_batch(self, req: Request) -> bool:
        return (req.method == "PUT" and req.path.rstrip("/").endswith(("/Invoices", "/CreditNotes"))
                and "idempotency-key" in req.headers)

    def write_key(self, req: Request) -> str | None:
        return req.headers.get("idempotency-key") if req.method in ("PUT", "POST") else None

    def refused(self, req: Request, resp: Response) -> list[tuple[str, str]]:
        out = []
        if req.method in ("PUT", "POST") and isinstance(resp.body, dict):
            for coll in ("Invoices", "CreditNotes", "Contacts"):
                for item in resp.body.get(coll) or []:
                    for err in item.get("ValidationErrors") or []:
                        out.append((item.get("Reference") or item.get("Name") or "?", err.get("Message", "")))
        return out

    def _client(self) -> Any:
        from sync_pipeline.connectors.xero import XeroClient

        sb = self.sb
        return XeroClient(sb.xero_server.url, sb.xero.client_id, sb.xero.client_secret, TENANT)

    def make_clash(self, resources: dict[str, Any], client: dict[str, Any]) -> None:
        c = self._client()
        try:
            c.create_contacts([{"Name": client["name"]}], idempotency_key="created-by-hand")
        finally:
            c.close()

    def clash_name(self, client: dict[str, Any]) -> str:
        return client["name"]

    def fix_clash(self, resources: dict[str, Any], client: dict[str, Any], number: str) -> None:
        [contact] = [c for c in self.sb.xero.all("Contacts", TENANT) if c["Name"] == client["name"]]
        c = self._client()
        try:
            c.update("Contacts", [{"ContactID": contact["ContactID"], "ContactNumber": number}],
                     idempotency_key="linked-by-hand")
        finally:
            c.close()


class QboChaos(ChaosSystem):
    name = "qbo"
    path = r"^/v3/company/"
    methods = ("POST", "GET")
    # Intuit sends no Retry-After with a 429 and asks for a 60 s wait (connectors.qbo.client.THROTTLE_PAUSE):
    # a random 429 here would stall a repetition a minute each time. Throttling has its own tests
    # (connectors/qbo/test_client.py, sandbox/test_qbo_limits.py).
    kinds = tuple(k for k in FAULTS if k != "429")

    @property
    def app(self) -> App:
        return self.sb.qbo

    @property
    def realm(self) -> str:
        from sync_pipeline_tests.accounting_targets import QBO_COMPANY

        return str(QBO_COMPANY["realm_id"])

    def resource(self, resources: dict[str, Any]) -> XeroResource:
        sb, known = self.sb, resources["xero"].qbo
        if known is None:
            import pytest

            pytest.skip("the QuickBooks Online sandbox did not start")
        qbo = QboResource(base_url=sb.qbo_server.url, token_url=known.token_url, client_id=sb.qbo.client_id,
                          client_secret=sb.qbo.client_secret, store_url=known.store_url, timeout_seconds=1.0,
                          max_attempts=4)
        return XeroResource(base_url=sb.xero_server.url, client_id=sb.xero.client_id,
                            client_secret=sb.xero.client_secret, timeout_seconds=1.0, max_attempts=4, qbo=qbo)

    @staticmethod
    def _items(req: Request) -> dict[str, dict[str, Any]]:
        try:
            body = loads(req.body)
        except ValueError:
            return {}
        items = body.get("BatchItemRequest") if isinstance(body, dict) else None
        return {str(it.get("bId")): it for it in items or [] if isinstance(it, dict)}

    def is_document_batch(self, req: Request) -> bool:
        if req.method != "POST" or not req.path.rstrip("/").endswith("/batch") or not req.arg("requestid"):
            return False
        return any(it.get("operation") == "create" and ("Invoice" in it or "CreditMemo" in it)
                   for it in self._items(req).values())

    def write_key(self, req: Request) -> str | None:
        return req.arg("requestid") if req.method == "POST" else None

    @staticmethod
    def _name(body: Any) -> str:
        from sync_pipeline.connectors.qbo.payloads import reference_of

        if not isinstance(body, dict):
            return "?"
        return reference_of(body) or str(body.get("DisplayName") or body.get("Name") or body.get("Id") or "?")

    def refused(self, req: Request, resp: Response) -> list[tuple[str, str]]:
        if req.method != "POST" or not isinstance(resp.body, dict) or req.path.rstrip("/").endswith("/query"):
            return []
        if req.path.rstrip("/").endswith("/batch"):
            sent, out = self._items(req), []
            for r in resp.body.get("BatchItemResponse") or []:
                fault = r.get("Fault") or {}
                if not fault or fault.get("type") == "SystemFault":
                    continue
                item = sent.get(str(r.get("bId")), {})
                entity = next((k for k in item if k not in ("bId", "operation", "optionsData")), None)
                out.append((self._name(item.get(entity)), str(fault.get("Error"))))
            return out
        fault = resp.body.get("Fault")
        if resp.status >= 400 and isinstance(fault, dict) and fault.get("type") not in ("SystemFault", "SERVICE"):
            try:
                body = loads(req.body)
            except ValueError:
                body = None
            return [(self._name(body), str(fault.get("Error")))]
        return []

    def _client(self, resources: dict[str, Any]) -> Any:
        return resources["xero"].qbo.client(self.realm)

    def _tagged(self, client: dict[str, Any], tag: str) -> dict[str, Any]:
        from sync_pipeline_tests.accounting_targets import QBO_COMPANY

        body: dict[str, Any] = {"DisplayName": f"{client['name']} {tag}", "CompanyName": client["name"]}
        if client["currency"] != QBO_COMPANY["home_currency"]:
            body["CurrencyRef"] = {"value": client["currency"]}
        return body

    def make_clash(self, resources: dict[str, Any], client: dict[str, Any]) -> None:
        c = self._client(resources)
        try:
            c.create("Customer", self._tagged(client, f"[harvest-{client['id']}]"), "created-by-hand")
        finally:
            c.close()

    def clash_name(self, client: dict[str, Any]) -> str:
        return f"{client['name']} [HARVEST-{client['id']}]"

    def fix_clash(self, resources: dict[str, Any], client: dict[str, Any], number: str) -> None:
        [customer] = [c for c in self.sb.qbo.all("Customer", self.realm)
                      if c["DisplayName"] == f"{client['name']} [harvest-{client['id']}]"]
        c = self._client(resources)
        try:
            c.update("Customer", customer["Id"], {"DisplayName": f"{client['name']} [{number}]"}, "linked-by-hand")
        finally:
            c.close()


SYSTEMS: dict[str, type[ChaosSystem]] = {"xero": XeroChaos, "qbo": QboChaos}


class Killer:
    """SIGKILLs the posting subprocess when the sandbox receives a batch write of documents: before it commits,
    or after (then the answer is lost with the process: only the write's idempotency key stands between the
    restart and a duplicate)."""

    def __init__(self, system: ChaosSystem) -> None:
        self.system, app = system, system.app
        self.proc: subprocess.Popen | None = None
        self.after_commit = False
        self.fired: list[str] = []
        self._lock = threading.Lock()
        self._orig = app.handle
        app.handle = self.handle

    def arm(self, proc: subprocess.Popen, after_commit: bool) -> None:
        self.proc, self.after_commit = proc, after_commit

    def handle(self, req: Request) -> Response:
        with self._lock:
            proc = self.proc
            hit = proc is not None and self.system.is_document_batch(req)
            if hit:
                self.proc = None
        if not hit:
            return self._orig(req)
        assert proc is not None
        if self.after_commit:
            resp = self._orig(req)
            os.kill(proc.pid, signal.SIGKILL)
            self.fired.append(f"killed after commit of {req.path}")
            return resp
        os.kill(proc.pid, signal.SIGKILL)
        self.fired.append(f"killed before commit of {req.path}")
        raise ApiError(503, {"message": "the client is gone"})


class Refusals:
    """The sandbox's own record of every item it refused (per-item validation errors, 4xx answers to writes), and
    of the writes it answered more than once for the same idempotency key (a retry after a lost answer: the
    sandbox, like the system, answers it from the first request)."""

    def __init__(self, system: ChaosSystem) -> None:
        self.system = system
        self.items: list[tuple[str, str]] = []  # (reference or name, message)
        self.keys: Counter[str] = Counter()  # idempotency key → writes answered with it
        self._orig = system.app.handle
        system.app.handle = self.handle

    def handle(self, req: Request) -> Response:
        resp = self._orig(req)
        self.items.extend(self.system.refused(req, resp))
        key = self.system.write_key(req)
        if key and resp.status < 500:
            self.keys[key] += 1
        return resp

    @property
    def replayed(self) -> int:
        """Writes answered again for a key already answered."""
        return sum(n - 1 for n in self.keys.values())
