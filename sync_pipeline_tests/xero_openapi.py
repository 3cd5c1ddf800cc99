"""Contract test plumbing: every request the Xero connector sends is checked against Xero's OpenAPI spec.

``conftest.py`` wraps ``XeroClient.__init__`` for every test so the client's httpx ``request`` event hook
records what it sends; at the end of each test the recorded requests (method, path, query, headers,
body) are validated against Xero's official spec (vendored in ``sync_pipeline/contracts/xero/``) with
openapi-core. A
request the spec rejects fails that test with the validator's reasons. When the spec file or
openapi-core is missing, the check is skipped with a reason, once per session.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from urllib.parse import parse_qs

import httpx

from sync_pipeline.contracts import xero_spec

XERO_SERVER = "https://api.xero.com"
API_PREFIX = "/api.xro/2.0/"


def spec_path() -> Path:
    return xero_spec.SPEC_PATH


@cache
def load_spec():
    """The OpenAPI object, or a string saying why there is none."""
    path = spec_path()
    if not path.exists():
        return f"Xero OpenAPI spec not found at {path} (set SYNC_PIPELINE_SHARED_DIR)"
    try:
        from jsonschema_path import SchemaPath
        from openapi_core import Config, OpenAPI
    except ImportError:
        return "openapi-core is not installed (pip install -e '.[dev]')"
    # The spec itself fails strict OpenAPI validation (string defaults on booleans): skip that step.
    return OpenAPI(SchemaPath.from_file_path(str(path)), config=Config(spec_validator_cls=None))


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes | None

    # the openapi-core request protocol
    host_url = XERO_SERVER

    @cached_property  # openapi-core fills in the path variables on this object: it must persist
    def parameters(self):
        from openapi_core.datatypes import RequestParameters
        from werkzeug.datastructures import Headers, ImmutableMultiDict

        return RequestParameters(query=ImmutableMultiDict(parse_qs(self.query)), header=Headers(self.headers),
                                 cookie=ImmutableMultiDict())

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "application/json")

    @property
    def full_url_pattern(self) -> str:
        return XERO_SERVER + self.path

    def describe(self) -> str:
        return f"{self.method.upper()} {self.path}?{self.query}"


def record(request: httpx.Request, sink: list[Recorded]) -> None:
    if not request.url.path.startswith(API_PREFIX):
        return  # the token endpoint is not part of the Accounting API spec
    body = request.content if request.method in ("PUT", "POST") else None
    sink.append(Recorded(request.method.lower(), request.url.path, request.url.query.decode(),
                         {k.lower(): v for k, v in request.headers.items()}, body))


def validate(recorded: list[Recorded]) -> list[str]:
    """Problems, one line each; empty when every request conforms."""
    spec = load_spec()
    if isinstance(spec, str):
        return []
    problems = []
    for r in recorded:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "Unsupported scheme type" for OAuth2 security
                spec.validate_request(r)
        except Exception as e:  # noqa: BLE001 - report every validator complaint
            cause = e.__cause__
            details = [f"{'.'.join(str(p) for p in x.path)}: {x.message}"
                       for x in (getattr(cause, "schema_errors", None) or [])]
            problems.append(f"{r.describe()}: {e}" + ("".join(f"\n    - {d}" for d in details)))
    return problems
