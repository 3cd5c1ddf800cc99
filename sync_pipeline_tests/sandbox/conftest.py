"""Fixtures for the sandbox tests: a Xero sandbox on a free port, an HTTP helper that checks every
request and response against the official Xero OpenAPI spec (vendored in sync_pipeline/contracts/xero/)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from sync_pipeline.contracts import xero_spec as official_spec
from sync_pipeline.contracts.codec import dumps, loads
from sync_pipeline.sandbox.server import SandboxServer
from sync_pipeline.sandbox.xero import XeroSandbox

TENANT = "7a1c0c4e-1f2b-4c3d-9e8f-001122334455"
SHARED_SPEC_REASON = ("the shared copy of the Xero OpenAPI spec is not there (expected shared/contracts/xero/ "
                      "next to the checkout, or under $SYNC_PIPELINE_SHARED_DIR)")


def shared_dir() -> Path:
    # same rule as sync_pipeline.defs.settings.shared_dir (tests may import any layer; the sandbox may not)
    root = Path(__file__).resolve().parents[2]
    return Path(os.environ.get("SYNC_PIPELINE_SHARED_DIR", root.parent / "shared"))


@pytest.fixture(scope="session")
def xero_spec():
    path = official_spec.SPEC_PATH  # vendored from XeroAPI/Xero-OpenAPI (MIT): always there, CI included
    from jsonschema_path import SchemaPath
    from openapi_core import Config, OpenAPI

    return OpenAPI(SchemaPath.from_file_path(str(path)), config=Config(spec_validator_cls=None))


class _OARequest:
    def __init__(self, r: httpx.Request) -> None:
        from openapi_core.datatypes import RequestParameters
        from werkzeug.datastructures import Headers, ImmutableMultiDict

        self.host_url = "https://api.xero.com"  # the spec's server; the sandbox mirrors its paths
        self.path = r.url.path
        self.method = r.method.lower()
        self.parameters = RequestParameters(query=ImmutableMultiDict(parse_qs(urlsplit(str(r.url)).query)),
                                            header=Headers(dict(r.headers)), cookie=ImmutableMultiDict())
        self.content_type = r.headers.get("content-type", "application/json")
        self.body = r.content or None


class _OAResponse:
    def __init__(self, r: httpx.Response) -> None:
        from werkzeug.datastructures import Headers

        self.status_code = r.status_code
        self.headers = Headers(dict(r.headers))
        self.content_type = r.headers.get("content-type", "").split(";")[0]
        self.data = r.content


class XeroApi:
    """Calls the sandbox; with a spec, asserts that the request and the response conform to it."""

    def __init__(self, sb: XeroSandbox, url: str, tenant: str, spec: Any = None) -> None:
        self.sb = sb
        self.url = url
        self.tenant = tenant
        self.spec = spec
        self.http = httpx.Client(base_url=url, timeout=10)
        self.token = self.http.post("/connect/token", data={"grant_type": "client_credentials"},
                                    auth=(sb.client_id, sb.client_secret)).json()["access_token"]
        self.validated = 0

    def call(self, method: str, path: str, body: Any = None, *, params: dict[str, Any] | None = None,
             headers: dict[str, str] | None = None, validate: bool = True) -> httpx.Response:
        h = {"Authorization": f"Bearer {self.token}", "Xero-Tenant-Id": self.tenant, "Accept": "application/json",
             **(headers or {})}
        content = None
        if body is not None:
            content = dumps(body)
            h["Content-Type"] = "application/json"
        req = self.http.build_request(method, f"/api.xro/2.0/{path}", params=params, content=content, headers=h)
        resp = self.http.send(req)
        if self.spec is not None and validate and resp.status_code in (200, 400):
            oreq = _OARequest(req)
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "Unsupported scheme type")  # OAuth2 is not checked offline
                self.spec.validate_request(oreq)
                self.spec.validate_response(oreq, _OAResponse(resp))
            self.validated += 1
        return resp

    def ok(self, method: str, path: str, body: Any = None, **kw: Any) -> dict[str, Any]:
        r = self.call(method, path, body, **kw)
        assert r.status_code == 200, r.text
        return loads(r.content)

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def xero(tmp_path: Path) -> Iterator[tuple[XeroSandbox, SandboxServer]]:
    sb = XeroSandbox(str(tmp_path / "xero.sqlite3"), minute_limit=0, day_limit=0, concurrent_limit=50)
    sb.add_tenant(TENANT, "Sandbox Ltd", "GBP")
    server = SandboxServer(sb).start()
    try:
        yield sb, server
    finally:
        server.stop()


@pytest.fixture
def api(xero, request) -> Iterator[XeroApi]:
    sb, server = xero
    spec = request.getfixturevalue("xero_spec")
    a = XeroApi(sb, server.url, TENANT, spec)
    try:
        yield a
    finally:
        a.close()


# -- QuickBooks Online ------------------------------------------------------------------------------------------
QBO_REALM = "4620816365178300000"


class QboApi:
    """Calls a QBO sandbox company with a bearer token; ``ok``/``fault`` assert the status."""

    def __init__(self, sb: Any, url: str, realm: str = QBO_REALM) -> None:
        self.sb, self.url, self.realm = sb, url, realm
        self.http = httpx.Client(base_url=url, timeout=10)
        self.token = sb.issue_tokens(realm)["access_token"]

    def call(self, method: str, path: str, body: Any = None, *, params: dict[str, Any] | None = None,
             token: str | None = None, realm: str | None = None) -> httpx.Response:
        h = {"Authorization": f"Bearer {token or self.token}", "Accept": "application/json"}
        content = None
        if body is not None:
            content = body.encode() if isinstance(body, str) else dumps(body)
            h["Content-Type"] = "application/text" if isinstance(body, str) else "application/json"
        return self.http.request(method, f"/v3/company/{realm or self.realm}/{path}", content=content,
                                 params={"minorversion": "75", **(params or {})}, headers=h)

    def ok(self, method: str, path: str, body: Any = None, **kw: Any) -> dict[str, Any]:
        r = self.call(method, path, body, **kw)
        assert r.status_code == 200, r.text
        return loads(r.content)

    def fault(self, method: str, path: str, body: Any = None, *, status: int = 400, **kw: Any) -> dict[str, Any]:
        """The single Error of a fault answer, after checking the envelope."""
        r = self.call(method, path, body, **kw)
        assert r.status_code == status, r.text
        got = loads(r.content)
        assert set(got) == {"Fault", "time"} and set(got["Fault"]) == {"Error", "type"}, got
        (err,) = got["Fault"]["Error"]
        assert set(err) == {"Message", "Detail", "code", "element"}, err
        return {**err, "type": got["Fault"]["type"]}

    def query(self, text: str) -> dict[str, Any]:
        return self.ok("GET", "query", params={"query": text})["QueryResponse"]

    def close(self) -> None:
        self.http.close()


def qbo_sandbox(path: Path, **kw: Any) -> Any:
    from sync_pipeline.sandbox.qbo import QboSandbox

    limits = {"minute_limit": 0, "second_limit": 0, "concurrent_limit": 50, "batch_minute_limit": 0, **kw}
    return QboSandbox(str(path), **limits)


@pytest.fixture(scope="module")
def qbo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, SandboxServer]]:
    """One US company (no multicurrency, automatic numbers) shared by a module's tests."""
    sb = qbo_sandbox(tmp_path_factory.mktemp("qbo") / "qbo.sqlite3")
    sb.add_company(QBO_REALM, "Sandbox Co", country="US")
    server = SandboxServer(sb).start()
    sb.base_url = server.url
    try:
        yield sb, server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def qbo(qbo_server: tuple[Any, SandboxServer]) -> Iterator[QboApi]:
    sb, server = qbo_server
    api = QboApi(sb, server.url)
    try:
        yield api
    finally:
        api.close()
