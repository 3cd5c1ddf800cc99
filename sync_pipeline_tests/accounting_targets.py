"""Tests that run against either accounting system: the mapping variant that puts the demo entity on a target, and
what the accounting system holds, read back through ``AccountingTarget`` (never the sandbox's own tables).

``@pytest.mark.parametrize("accounting", TARGETS, indirect=True)`` (or the ``accounting`` fixture's own params)
gives a test an :class:`Accounting`: ``accounting.use(resources)`` points the test's mapping at that target,
``accounting.invoices()`` / ``contacts()`` list the live documents in neutral terms.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sync_pipeline.contracts.mapping import load_mapping
from sync_pipeline.contracts.payloads.accounting import Document
from sync_pipeline.defs import settings
from sync_pipeline.domain import ids
from sync_pipeline.sandbox import demo_data

TARGETS = ["xero", "qbo"]

#: the demo entity's QuickBooks company: the sandbox's non-US one (GBP home, multicurrency, VAT codes per line)
QBO_COMPANY = {
    "realm_id": demo_data.QBO_REALM_UK, "home_currency": "GBP", "tax_model": "global",
    "tax_codes": {"OUTPUT2": "20.0% S", "ECOUTPUTSERVICES": "0.0% Z", "NONE": "No VAT"},
    "accounts": {"200": "Services", "260": "Sales of Product Income", "090": "Checking"},
}


def mapping_on(target: str, dst: Path, src: str | Path | None = None, entity: str = demo_data.DEMO_ENTITY) -> Path:
    """The mapping at ``src`` (default the demo's) with ``entity`` posting to ``target``."""
    doc = yaml.safe_load(Path(src or settings.mapping_path()).read_text(encoding="utf-8"))
    for e in doc["entities"]:
        if e["key"] == entity and target == "qbo":
            e["target"] = "qbo"
            e.pop("xero_tenant_id", None)
            e["qbo"] = dict(QBO_COMPANY)
    dst.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    load_mapping(dst)  # refuses a variant that does not load, here rather than inside a run
    return dst


@dataclass
class Accounting:
    """One accounting system for a test: the mapping variant and a neutral view of what it holds."""

    name: str
    resources: dict[str, Any]
    entity: str = demo_data.DEMO_ENTITY

    def target(self) -> Any:
        mapping = self.resources["mapping"].load()
        return self.resources["xero"].target(mapping.entity(self.entity))

    def invoices(self, period: str = demo_data.DEMO_PERIOD) -> dict[str, Document]:
        """Live invoices of the entity's period by reference."""
        t = self.target()
        try:
            listing = t.documents("invoice", reference_prefix=ids.reference_prefix(self.entity, period))
        finally:
            t.close()
        return {d.reference: d for d in listing.documents if d.status not in ("VOIDED", "DELETED") and d.reference}

    def credit_notes(self, period: str = demo_data.DEMO_PERIOD) -> dict[str, Document]:
        t = self.target()
        try:
            listing = t.documents("credit_note", reference_prefix=ids.reference_prefix(self.entity, period))
        finally:
            t.close()
        return {d.reference: d for d in listing.documents if d.status not in ("VOIDED", "DELETED") and d.reference}

    def contacts(self, numbers: list[str]) -> dict[str, str]:
        """Customer number → name, for the numbers the target holds."""
        t = self.target()
        try:
            return {n: str(d.name) for n, d in t.find_contacts(numbers).items()}
        finally:
            t.close()
