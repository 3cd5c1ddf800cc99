"""Who a document is addressed to: the contact of the invoice a credit note or rebill corrects, else the client's
contact (remembered in the store, found by customer number, or created in batches)."""

from __future__ import annotations

import sqlalchemy as sa

from sync_pipeline.connectors.accounting import AccountingTarget, PostResult
from sync_pipeline.connectors.http import PermanentError
from sync_pipeline.contracts.codec import dumps
from sync_pipeline.contracts.payloads.accounting import Customer
from sync_pipeline.domain import ids
from sync_pipeline.domain.invoice_plan import GroupPlan
from sync_pipeline.services.posting.drafts import body, digest_key
from sync_pipeline.services.posting.ledger import Bookkeeper
from sync_pipeline.services.posting.plan import Plan
from sync_pipeline.store.operational import contact_map

SOURCE_SYSTEM = "harvest"


def contacts_of_groups(plan: Plan) -> dict[str, str]:
    """Per group with a live invoice in the target: that invoice's contact. A credit note and a rebill go to
    the contact of the invoice they correct (an allocation needs it), even when that contact was chosen by
    hand (manual billing fallback) or changed since."""
    out: dict[str, str] = {}
    for gp in plan.plans:
        docs = [d for d in plan.state.docs.get(gp.base_reference, [])
                if d.kind == "invoice" and d.live and d.key in plan.state.target_docs]
        for d in sorted(docs, key=lambda d: d.revision, reverse=True):
            cid = plan.state.target_docs[d.key].contact_id
            if cid:
                out[gp.group_key] = str(cid)
                break
    return out


class Contacts:
    """The contacts of one plan being applied: by group (the corrected invoice's), else by client."""

    def __init__(self, plan: Plan, target: AccountingTarget, books: Bookkeeper) -> None:
        self.target, self.books = target, books
        self.by_group = contacts_of_groups(plan)
        self.by_client: dict[str, str] = {}
        self.errors: dict[str, tuple[str, int]] = {}  # client id → (why no contact, its dead letter)

    def for_group(self, gp: GroupPlan) -> str | None:
        return self.by_group.get(gp.group_key) or self.by_client.get(gp.client_id)

    def ensure(self, needed: dict[str, tuple[str, str, GroupPlan]]) -> None:
        """``needed``: client id → (name, currency, a group): remembered, else matched by number, else created."""
        e, store = self.books.e, self.books.store
        with store.engine.connect() as c:
            mapped = {r.client_id: r.contact_id for r in c.execute(
                sa.select(contact_map.c.client_id, contact_map.c.contact_id).where(contact_map.c.entity == e))}
        unknown = {}
        for cid, (name, ccy, gp) in needed.items():
            if mapped.get(cid):
                self.by_client[cid] = mapped[cid]
            else:
                unknown[ids.contact_number(SOURCE_SYSTEM, cid)] = (cid, name, ccy, gp)
        if not unknown:
            return
        for number, contact in self.target.find_contacts(sorted(unknown)).items():
            self.remember(unknown[number][0], contact.id, number)
        self.create(unknown, [n for n in sorted(unknown) if unknown[n][0] not in self.by_client])
        waiting = {r["doc_key"] for r in self.books.letters.open_for(e) if r["kind"] == "contact"}
        for cid in self.by_client:
            if f"contact-{cid}" in waiting:
                self.books.letters.resolve(f"contact-{cid}", "replayed", f"contact resolved in run {self.books.run.run_id}")

    def remember(self, client_id: str, contact_id: str, number: str) -> None:
        self.books.store.remember_contact(self.books.e, client_id, contact_id, number)
        self.by_client[client_id] = contact_id

    def create(self, unknown: dict[str, tuple[str, str, str, GroupPlan]], missing: list[str]) -> None:
        """Create the contacts not found, in batches; a refused one is parked and blocks its documents."""
        size = self.target.capabilities.max_batch
        for i in range(0, len(missing), size):
            chunk = missing[i:i + size]
            customers = [Customer(number=n, name=unknown[n][1], currency=unknown[n][2]) for n in chunk]
            idem = digest_key(f"contacts-{self.books.e}", chunk, customers)
            try:
                created = self.target.create("contact", customers, idempotency_key=idem)
            except PermanentError as err:
                created = [PostResult(str(k), False, None, [str(err)]) for k in range(len(chunk))]
            for n, customer, r in zip(chunk, customers, created, strict=True):
                if r.ok and r.document is not None:
                    self.remember(unknown[n][0], r.document.id, n)
                else:
                    self.refused(n, customer, unknown[n][3], r.errors)

    def refused(self, number: str, customer: Customer, gp: GroupPlan, errors: list[str]) -> None:
        cid, b = gp.client_id, self.books
        msg = "; ".join(errors) or "no contact id returned"
        payload = body(customer)
        letter = b.letters.park(
            entity=b.e, period=b.p, doc_key=f"contact-{cid}", kind="contact", operation="create_contact",
            error=f"cannot create contact {number} ({customer.name}): {msg}", payload=payload,
            payload_hash=ids.payload_hash(dumps(payload)), reference=number, group_key=gp.group_key, client_id=cid,
            error_detail={"validation_errors": errors}, run_id=b.run.run_id, triggered_by=b.run.triggered_by,
            source_records={"client_id": cid, "client_name": customer.name})
        self.errors[cid] = (f"contact {number} ({customer.name}) could not be created: {msg}", letter)

    def forget(self, client_id: str) -> None:
        """The mapped contact is gone from the target: re-resolve it on replay."""
        with self.books.store.engine.begin() as c:
            c.execute(contact_map.delete().where(contact_map.c.entity == self.books.e,
                                                 contact_map.c.client_id == client_id))
