"""Services speak neutral documents through ``AccountingTarget``: no concrete accounting connector imported, no
provider field named. An accounting connector is a package under ``connectors/`` with a ``target.py``; its field
names come from its ``fields.provider_fields()`` (Xero's: derived from the vendored official spec)."""

from __future__ import annotations

import ast
import importlib
import re
from functools import cache
from pathlib import Path

import pytest

import sync_pipeline.connectors
import sync_pipeline.services

SERVICES = Path(sync_pipeline.services.__file__).parent
CONNECTORS = Path(sync_pipeline.connectors.__file__).parent
ACCOUNTING = sorted(p.parent.name for p in CONNECTORS.glob("*/target.py")) or ["xero"]
#: concrete accounting connectors and provider SDKs: services reach them only through AccountingTarget
FORBIDDEN_IMPORTS = re.compile(rf"^(sync_pipeline\.connectors\.({'|'.join(ACCOUNTING)}|qbo|quickbooks)(\.|$)"
                               r"|xero_python|quickbooks|intuitlib)")
COMPOUND = re.compile(r"^[A-Z][a-z0-9]+[A-Z]")  # InvoiceID, LineItems, UpdatedDateUTC: never plain English


@cache
def provider_fields() -> frozenset[str]:
    """The field names of every accounting connector that keeps a list (``<package>/fields.py``)."""
    names: set[str] = set()
    for name in ACCOUNTING:
        if (CONNECTORS / name / "fields.py").exists():
            names |= importlib.import_module(f"sync_pipeline.connectors.{name}.fields").provider_fields()
    return frozenset(names)


def _modules() -> list[Path]:
    return sorted(SERVICES.rglob("*.py"))


def _docstrings(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            out.add(id(body[0].value))
    return out


def provider_names_in(source: str) -> list[str]:
    """Provider field names a module's code uses: string constants that are one (``"Status"``), or hold a compound
    one as a word (``'Reference.StartsWith("SP-")'``); docstrings are prose and are not read."""
    tree = ast.parse(source)
    skip = _docstrings(tree)
    fields = provider_fields()
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            if node.value in fields:
                found.append(f"line {node.lineno}: {node.value!r}")
            else:
                words = {w for w in re.findall(r"[A-Za-z][A-Za-z0-9]*", node.value) if COMPOUND.match(w)}
                found += [f"line {node.lineno}: {w!r} in {node.value[:40]!r}" for w in sorted(words & fields)]
    return found


def provider_imports_in(source: str) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(source)):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module or ""] if isinstance(node, ast.ImportFrom) else []
        out += [f"line {node.lineno}: {n}" for n in names if FORBIDDEN_IMPORTS.match(n)]
    return out


def test_the_connectors_yield_the_provider_fields():
    assert "xero" in ACCOUNTING
    fields = provider_fields()
    assert len(fields) > 300
    assert {"InvoiceID", "LineItems", "AmountDue", "Contact", "CreditNotes", "Allocations", "Payments",
            "Status", "UpdatedDateUTC", "RemainingCredit"} <= fields


def test_the_checks_catch_what_they_are_for():
    assert provider_names_in('x = doc.get("AmountDue")\ny = f"where ContactID=={n}"') == [
        "line 1: 'AmountDue'", "line 2: 'ContactID' in 'where ContactID=='"]
    assert provider_names_in('def f():\n    """The InvoiceID of a Status."""\n    return "status"') == []
    assert provider_imports_in("from sync_pipeline.connectors.xero import XeroClient\nimport quickbooks") == [
        "line 1: sync_pipeline.connectors.xero", "line 2: quickbooks"]
    assert provider_imports_in("from sync_pipeline.connectors.accounting import AccountingTarget") == []


@pytest.mark.parametrize("module", _modules(), ids=lambda p: str(p.relative_to(SERVICES)))
def test_services_import_no_concrete_accounting_connector(module: Path):
    assert provider_imports_in(module.read_text()) == [], \
        f"{module.name} imports a concrete accounting connector; use connectors.accounting.AccountingTarget"


@pytest.mark.parametrize("module", _modules(), ids=lambda p: str(p.relative_to(SERVICES)))
def test_services_name_no_provider_field(module: Path):
    assert provider_names_in(module.read_text()) == [], \
        f"{module.name} names provider fields; read the neutral documents (contracts/payloads/accounting.py)"
