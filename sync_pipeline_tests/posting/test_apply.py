"""Posting through any AccountingTarget: an in-memory target (no Xero) shows what the services rely on — batches
of the target's size, neutral drafts, a draft its contract refuses parked alone, never a crash of the partition."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sync_pipeline.connectors.accounting import Capabilities, Listing, PostResult, Usage
from sync_pipeline.contracts.payloads.accounting import Customer, Document, DocumentLineV1, InvoiceDraftV2, Tracking
from sync_pipeline.domain.money import from_minor
from sync_pipeline.domain.periods import Period
from sync_pipeline.services.posting import PostingRun, build_plan
from sync_pipeline.store.dead_letters import DeadLetters
from sync_pipeline_tests.posting.conftest import ENTITY, drafts
from sync_pipeline_tests.posting.test_posting_service import apply_approved


class MemoryTarget:
    """A whole accounting system in a dict: enough of AccountingTarget for posting."""

    system, name, account_id = "memory", "Memory Books", "books-1"
    capabilities = Capabilities(max_batch=2, max_concurrency=1, page_size=100)

    def __init__(self) -> None:
        self.docs: dict[str, Document] = {}
        self.contacts: dict[str, Document] = {}
        self.calls: list[tuple[str, int]] = []
        self.ids = itertools.count(1)

    def _doc(self, kind: str, draft: Any) -> Document:
        n = next(self.ids)
        lines = [DocumentLineV1(description=li.description, quantity=li.quantity, unit_amount=li.unit_amount,
                                line_amount=from_minor(li.line_amount_minor, draft.currency),
                                account_code=li.account_code, tax_type=li.tax_type,
                                tracking=[Tracking(category=t.category, option=t.option) for t in li.tracking])
                 for li in draft.lines]
        subtotal = sum((li.line_amount for li in lines), Decimal(0))
        return Document(kind=kind, id=f"doc-{n}", number=f"M-{n:04d}", reference=draft.reference,
                        status=draft.status, currency=draft.currency, contact_id=draft.contact_id, lines=lines,
                        subtotal=subtotal, total=subtotal, amount_due=subtotal, line_amount_types="Exclusive")

    def create(self, kind: str, drafts_: Sequence[Any], *, idempotency_key: str) -> list[PostResult]:
        self.calls.append((kind, len(drafts_)))
        assert len(drafts_) <= self.capabilities.max_batch and idempotency_key
        out = []
        for n, d in enumerate(drafts_):
            if isinstance(d, Customer):
                doc = self.contacts[d.number] = Document(kind="contact", id=f"c-{d.number}", number=d.number)
            else:
                assert isinstance(d, InvoiceDraftV2)
                doc = self._doc(kind, d)
                self.docs[doc.id] = doc
            out.append(PostResult(str(n), True, doc, [], idempotency_key))
        return out

    def documents(self, kind: str, *, reference_prefix: str | None = None, **_: Any) -> Listing:
        return Listing([d for d in self.docs.values() if d.kind == kind
                        and (d.reference or "").startswith(reference_prefix or "")])

    def find_contacts(self, numbers: Sequence[str]) -> dict[str, Document]:
        return {n: self.contacts[n] for n in numbers if n in self.contacts}

    def usage(self) -> Usage:
        return Usage(len(self.calls))

    def close(self) -> None:
        pass


def test_posting_speaks_to_any_target_in_its_batch_size_and_parks_a_refused_draft_alone(sqlite_store):
    target = MemoryTarget()
    lines = [("1", "Acme", "GBP", "11", "1", "100", "2.5", "1001"),
             ("2", "Globex", "GBP", "21", "1", "100", "1.0", "1002"),
             ("3", "Initech", "GBP", "31", "1", "100", "4.0", "1003"),
             ("4", "Hooli", "GBP", "41", "1", "100", "0", "1004")]  # zero hours: the draft contract refuses it
    plan = build_plan(drafts("acme-uk", "2026-10", lines), entity=ENTITY, period=Period.parse("2026-10"),
                      target=target, store=sqlite_store)
    res = apply_approved(plan, target, sqlite_store, PostingRun("schedule:nightly", "run-1"))
    outcome = dict(zip(res.frame["reference"], res.frame["outcome"], strict=True))
    assert outcome == {"SP-acme-uk-2026-10-C1-R1": "created", "SP-acme-uk-2026-10-C2-R1": "created",
                       "SP-acme-uk-2026-10-C3-R1": "created", "SP-acme-uk-2026-10-C4-R1": "failed"}
    assert [c for c in target.calls if c[0] == "invoice"] == [("invoice", 2), ("invoice", 1)]  # max_batch 2
    [letter] = DeadLetters(sqlite_store).open_for("acme-uk")
    assert letter["reference"] == "SP-acme-uk-2026-10-C4-R1" and "breaks its contract" in letter["error"]
    again = build_plan(drafts("acme-uk", "2026-10", lines[:3]), entity=ENTITY, period=Period.parse("2026-10"),
                       target=target, store=sqlite_store)
    assert [op.op for _, op in again.ops] == []  # read back through the target: nothing to write twice
