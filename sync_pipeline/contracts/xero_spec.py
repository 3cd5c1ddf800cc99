"""Xero's official Accounting API spec (vendored, MIT: ``contracts/xero/``) as rules a program can check.

The spec is XeroAPI/Xero-OpenAPI's ``xero_accounting.yaml`` (version in ``info.version``), copied unchanged
with its licence. This module reads it once per process and answers two questions:

- ``check(value, schema)``: what is wrong with a JSON value against one of the spec's schemas (type, enum,
  ``maxLength``, ``format: uuid``, ``required``), and the value with the properties the schema does not
  declare removed (Xero ignores unknown fields; it neither stores nor echoes them).
- ``max_length(schema, field)``: a string field's limit, for senders that must stay inside it.

The spec has no ``allOf``/``oneOf``/``nullable``: a schema is a ``$ref`` or a plain typed schema.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import yaml

SPEC_PATH = Path(__file__).parent / "xero" / "xero_accounting.yaml"
API = "/api.xro/2.0"


@cache
def spec() -> dict[str, Any]:
    with SPEC_PATH.open("rb") as f:
        return yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def schema(name: str) -> dict[str, Any]:
    """A component schema by name (``Invoice``, ``Contact`` ...)."""
    return spec()["components"]["schemas"][name]


def resolve(s: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in s:
        s = _ref(s["$ref"])
    return s


def _ref(ref: str) -> dict[str, Any]:
    node: Any = spec()
    for part in ref.lstrip("#/").split("/"):
        node = node[part]
    return node


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    pattern: re.Pattern[str]
    literal_segments: int
    parameters: tuple[dict[str, Any], ...]
    body: dict[str, Any] | None  # the application/json request schema


@cache
def operations() -> tuple[Operation, ...]:
    doc = spec()
    ops = []
    for template, item in doc["paths"].items():
        common = [resolve(p) for p in item.get("parameters", [])]
        regex = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "/?$"
        literal = sum(1 for seg in template.split("/") if seg and not seg.startswith("{"))
        for method, op in item.items():
            if method not in ("get", "put", "post", "delete", "patch"):
                continue
            params = [*common, *(resolve(p) for p in op.get("parameters", []))]
            content = (op.get("requestBody") or {}).get("content") or {}
            body = (content.get("application/json") or {}).get("schema")
            ops.append(Operation(method.upper(), template, re.compile(regex, re.IGNORECASE), literal,
                                 tuple(params), body))
    return tuple(ops)


def find_operation(method: str, path: str) -> Operation | None:
    """The spec's operation for ``path`` (under ``/api.xro/2.0``); literal segments win over templates."""
    sub = path[len(API):] if path.startswith(API) else path
    found = [op for op in operations() if op.method == method and op.pattern.match(sub)]
    return max(found, key=lambda op: op.literal_segments) if found else None


def max_length(schema_name: str, field: str) -> int | None:
    """The ``maxLength`` of a string property of a component schema (None when the spec sets none)."""
    prop = schema(schema_name).get("properties", {}).get(field)
    return resolve(prop).get("maxLength") if prop else None


@dataclass(frozen=True)
class Problem:
    """One way a value breaks its schema: where (``Invoices[0].Contact.Name``) and what."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


def _type_ok(value: Any, typ: str) -> bool:
    if typ == "object":
        return isinstance(value, dict)
    if typ == "array":
        return isinstance(value, list)
    if typ == "string":
        return isinstance(value, str)
    if typ == "boolean":
        return isinstance(value, bool)
    if typ == "integer":
        return isinstance(value, int) and not isinstance(value, bool) or (
            isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value())
    if typ == "number":
        if isinstance(value, bool):
            return False
        if isinstance(value, Decimal):
            return value.is_finite()
        return isinstance(value, (int, float)) and value == value and value not in (float("inf"), float("-inf"))
    return True


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return False
    return len(value) in (32, 36, 38)


def check(value: Any, s: dict[str, Any], where: str = "") -> tuple[Any, list[Problem]]:
    """``value`` checked against schema ``s``: (the value without undeclared properties, problems)."""
    problems: list[Problem] = []
    return _check(value, s, where, problems), problems


def _check(value: Any, s: dict[str, Any], where: str, problems: list[Problem]) -> Any:
    s = resolve(s)
    typ = s.get("type") or ("object" if "properties" in s else None)
    if value is None:
        problems.append(Problem(where, "must not be null"))
        return value
    if typ and not _type_ok(value, typ):
        problems.append(Problem(where, f"must be {'an' if typ[0] in 'aeiou' else 'a'} {typ}, "
                                       f"not {_describe(value)}"))
        return value
    if typ == "object":
        props = s.get("properties", {})
        out = {}
        for k, v in value.items():
            if k in props:
                out[k] = _check(v, props[k], f"{where}.{k}" if where else k, problems)
        for k in s.get("required", []):
            if k not in value:
                problems.append(Problem(where, f"{k} is required"))
        return out
    if typ == "array":
        item = s.get("items", {})
        return [_check(v, item, f"{where}[{i}]", problems) for i, v in enumerate(value)]
    if typ == "string":
        if (limit := s.get("maxLength")) is not None and len(value) > limit:
            problems.append(Problem(where, f"must be at most {limit} characters long (it has {len(value)})"))
        if (allowed := s.get("enum")) and value not in allowed:
            shown = ", ".join(allowed[:8]) + (", ..." if len(allowed) > 8 else "")
            problems.append(Problem(where, f"{value[:40]!r} is not one of {shown}"))
        if s.get("format") == "uuid" and not is_uuid(value):
            problems.append(Problem(where, f"{value[:40]!r} is not a GUID"))
    return value


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float, Decimal)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def check_query_value(raw: str, s: dict[str, Any], name: str) -> Problem | None:
    """A query parameter's text against its schema (integer, boolean, array of strings or GUIDs)."""
    s = resolve(s)
    typ = s.get("type")
    if typ == "integer":
        text = raw.strip()
        if not text.lstrip("-").isdigit() or not text.isascii():
            return Problem(name, f"must be a whole number, not {raw[:40]!r}")
    elif typ == "boolean":
        if raw.lower() not in ("true", "false"):
            return Problem(name, f"must be true or false, not {raw[:40]!r}")
    elif typ == "array":
        item = resolve(s.get("items", {}))
        for part in raw.split(","):
            if item.get("format") == "uuid" and not is_uuid(part.strip().strip('"')):
                return Problem(name, f"{part[:40]!r} is not a GUID")
    return None
