"""Posting against the sandboxes, asserted on what the target holds and the operational store.

Tests taking ``target`` run on Xero and on QuickBooks Online and read back through ``AccountingTarget``; tests
taking ``xero`` read the Xero sandbox's own tables or requests (each says why).
"""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from sync_pipeline.domain import ids
from sync_pipeline.domain.periods import Period
from sync_pipeline.sandbox import demo_data
from sync_pipeline.services.approvals import AwaitingApproval
from sync_pipeline.services.posting import PostingBlocked, PostingRun, apply_plan, build_plan, plan_frame
from sync_pipeline.services.posting_links import billed_entries, entry_links_frame
from sync_pipeline.store.controls import PostingControls
from sync_pipeline.store.dead_letters import DeadLetters
from sync_pipeline_tests.identity import approve_awaiting, standing_policy
from sync_pipeline_tests.posting.conftest import ENTITY, as_target, drafts, live_documents
from sync_pipeline_tests.posting.conftest import net_per_reference as target_net

P = Period.parse("2026-10")
TENANT = demo_data.XERO_TENANT_ID
RUN = PostingRun("pytest", "run-1")

BASE = [
    ("1", "Acme Corp", "GBP", "11", "1", "100", "3.0", "1002"),
    ("1", "Acme Corp", "GBP", "11", "2", "120", "1.25", "1003"),
    ("2", "Globex GmbH", "EUR", "21", "1", "110", "4.0", "1005"),
]


def apply_approved(plan, xero, store, run=RUN, replay=None):
    """Post a plan, four eyes: when it awaits approval, carol (not its trigger) approves it, then it posts."""
    try:
        return apply_plan(plan, target=as_target(xero), store=store, run=run, replay=replay)
    except AwaitingApproval as e:
        if e.plan is None or e.plan.status != "awaiting_approval":
            raise
        approve_awaiting(store, plan.entity.key, plan.period.key)
        return apply_plan(plan, target=as_target(xero), store=store, run=run, replay=replay)


def post(d, xero, store, today=None, run=RUN, replay=None):
    plan = build_plan(d, entity=ENTITY, period=P, target=as_target(xero), store=store, today=today)
    return apply_approved(plan, xero, store, run, replay)


def live(sandboxes, coll="Invoices"):
    return [d for d in sandboxes.xero.all(coll, TENANT) if d["Status"] not in ("VOIDED", "DELETED")]


def net_per_reference(sandboxes) -> dict[str, Decimal]:
    """Live invoices minus credit notes, per invoice group (the reference of revision 1)."""
    out: dict[str, Decimal] = {}
    for inv in live(sandboxes):
        base = ids.parse_reference(inv["Reference"])
        key = ids.invoice_reference(base["entity"], base["client_id"], base["period"])
        out[key] = out.get(key, Decimal(0)) + inv["SubTotal"]
    for cn in live(sandboxes, "CreditNotes"):
        base = ids.parse_reference(cn["Reference"])
        key = ids.invoice_reference(base["entity"], base["client_id"], base["period"])
        out[key] = out.get(key, Decimal(0)) - cn["SubTotal"]
    return out


def writes(xero):
    sent: list[str] = []
    xero.http.event_hooks["request"].append(lambda r: sent.append(f"{r.method} {r.url.path}")
                                            if r.method != "GET" else None)
    return sent


def unkeyed_writes(xero) -> list[str]:
    """Every write sent without an Idempotency-Key (should stay empty)."""
    bad: list[str] = []
    xero.http.event_hooks["request"].append(lambda r: bad.append(f"{r.method} {r.url.path}")
                                            if r.method != "GET" and not r.headers.get("Idempotency-Key") else None)
    return bad


def test_first_post_batches_contacts_and_invoices_and_records_every_link(sandboxes, xero, any_store):
    sent, unkeyed = writes(xero), unkeyed_writes(xero)
    res = post(drafts("acme-uk", "2026-10", BASE), xero, any_store)
    assert sorted(sent) == ["PUT /api.xro/2.0/Contacts", "PUT /api.xro/2.0/Invoices"]  # one call each
    assert unkeyed == []
    assert set(res.frame["outcome"]) == {"created"}
    invs = {d["Reference"]: d for d in live(sandboxes)}
    assert invs["SP-acme-uk-2026-10-C1-R1"]["SubTotal"] == Decimal("450.00")
    assert invs["SP-acme-uk-2026-10-C1-R1"]["Status"] == "AUTHORISED"  # October is closed
    # every line names its entries; the store maps entries to documents and back
    descs = [li["Description"] for li in invs["SP-acme-uk-2026-10-C1-R1"]["LineItems"]]
    assert descs[0].startswith("Project 11 — Task 1 (ref line_")
    links = entry_links_frame(any_store, "acme-uk", "2026-10")
    assert billed_entries(links) == {"1002": 1, "1003": 1, "1005": 1}
    assert set(links["triggered_by"]) == {"pytest"} and set(links["run_id"]) == {"run-1"}
    assert set(links["document_number"]) == {invs["SP-acme-uk-2026-10-C1-R1"]["InvoiceNumber"],
                                             invs["SP-acme-uk-2026-10-C2-R1"]["InvoiceNumber"]}
    audit = [a["action"] for a in any_store.audit_entries("acme-uk")]
    assert audit.count("create_invoice") == 2


def test_due_date_follows_the_clients_payment_terms_else_the_entitys(sandboxes, xero, sqlite_store):
    from sync_pipeline.contracts.mapping import ClientMap

    entity = ENTITY.model_copy(update={"payment_terms_days": 30,
                                       "clients": [ClientMap(source_id="2", payment_terms_days=14)]})
    plan = build_plan(drafts("acme-uk", "2026-10", BASE), entity=entity, period=P, target=as_target(xero), store=sqlite_store)
    apply_approved(plan, xero, sqlite_store)
    invs = {d["Reference"]: d for d in live(sandboxes)}
    acme, globex = invs["SP-acme-uk-2026-10-C1-R1"], invs["SP-acme-uk-2026-10-C2-R1"]

    def day(xero_date: str) -> date:  # Xero's /Date(<ms since the epoch>+0000)/
        return datetime.fromtimestamp(int(xero_date[6:].split("+")[0].split(")")[0]) / 1000, UTC).date()

    assert day(acme["Date"]) == day(globex["Date"]) == plan.invoice_date
    assert day(acme["DueDate"]) == date(2026, 11, 30)  # no override: the entity's 30 days
    assert day(globex["DueDate"]) == date(2026, 11, 14)  # client 2 overrides them: 14 days


def test_a_second_run_writes_nothing(target, sqlite_store):
    d = drafts("acme-uk", "2026-10", BASE)
    post(d, target, sqlite_store)
    sent = writes(target.client)
    res = post(d, target, sqlite_store)
    assert sent == []
    assert len(live_documents(target)) == 2
    assert set(res.frame["outcome"]) == {"already_posted"}
    assert res.api_calls == 0  # the plan's two bulk reads happen in build_plan, not here


EDITED = [*BASE[:1], ("1", "Acme Corp", "GBP", "11", "2", "120", "0.75", "1003"), BASE[2]]  # 1.25 h → 0.75 h


def test_late_edit_writes_the_credit_note_before_the_rebill_each_under_a_key(xero, sqlite_store):
    # Xero-only: reads Xero's request paths and Idempotency-Key headers
    post(drafts("acme-uk", "2026-10", BASE), xero, sqlite_store)
    sent, unkeyed = writes(xero), unkeyed_writes(xero)
    post(drafts("acme-uk", "2026-10", EDITED), xero, sqlite_store)
    # credit note first, then the rebill, then the allocation: every write under an Idempotency-Key
    assert [w.split("/api.xro/2.0/")[1].split("/")[0] for w in sent] == ["CreditNotes", "Invoices", "CreditNotes"]
    assert sent[-1].endswith("/Allocations") and unkeyed == []


def test_late_edit_becomes_a_credit_note_for_the_changed_line_and_a_rebill(target, any_store):
    post(drafts("acme-uk", "2026-10", BASE), target, any_store)
    edited = EDITED
    plan = build_plan(drafts("acme-uk", "2026-10", edited), entity=ENTITY, period=P, target=target, store=any_store)
    pf = plan_frame(plan)
    assert list(pf[pf["op"].notna()][["action", "op", "reference", "amount_minor", "delta_minor"]].itertuples(
        index=False, name=None)) == [
        ("adjust", "create_credit_note", "SP-acme-uk-2026-10-C1-R1-CN1", 15000, -15000),
        ("adjust", "create_invoice", "SP-acme-uk-2026-10-C1-R2", 9000, 9000)]
    res = apply_approved(plan, target, any_store)
    assert set(res.frame.set_index("reference")["outcome"].items()) >= {
        ("SP-acme-uk-2026-10-C1-R1-CN1", "created"), ("SP-acme-uk-2026-10-C1-R2", "created"),
        ("SP-acme-uk-2026-10-C1-R1", "already_posted")}
    [cn] = live_documents(target, "credit_note")
    assert [(li.quantity, li.unit_amount, li.line_amount) for li in cn.lines] == [
        (Decimal("1.25"), Decimal("120"), Decimal("150.00"))]
    # linked to the original: allocated against it, so R1 now owes 360 (450 + VAT) - 180 (150 + VAT)
    r1 = next(d for d in live_documents(target) if d.reference == "SP-acme-uk-2026-10-C1-R1")
    assert r1.amount_due == Decimal("360.00") and cn.amount_due == Decimal("0.00")
    assert target_net(target) == {"SP-acme-uk-2026-10-C1-R1": Decimal("390.00"),
                                  "SP-acme-uk-2026-10-C2-R1": Decimal("440.00")}
    links = entry_links_frame(any_store, "acme-uk", "2026-10")
    assert billed_entries(links) == {"1002": 1, "1003": 1, "1005": 1}
    roles = links[links["entry_id"] == "1003"][["role", "reference"]].values.tolist()
    assert sorted(roles) == [["billed", "SP-acme-uk-2026-10-C1-R1"], ["billed", "SP-acme-uk-2026-10-C1-R2"],
                             ["credited", "SP-acme-uk-2026-10-C1-R1-CN1"]]
    # and nothing more to do afterwards
    again = build_plan(drafts("acme-uk", "2026-10", edited), entity=ENTITY, period=P, target=target, store=any_store)
    assert again.counts() == {"unchanged": 2} and again.documents_written == 0


def test_deleted_entry_is_credited_and_a_whole_client_gone_is_credited_in_full(target, sqlite_store):
    post(drafts("acme-uk", "2026-10", BASE), target, sqlite_store)
    res = post(drafts("acme-uk", "2026-10", BASE[:1]), target, sqlite_store)  # 1003 deleted, client 2 gone
    assert sorted(res.plan.counts().items()) == [("credit", 2)]
    assert target_net(target) == {"SP-acme-uk-2026-10-C1-R1": Decimal("300.00"),
                                  "SP-acme-uk-2026-10-C2-R1": Decimal("0.00")}
    assert len(live_documents(target)) == 2  # issued invoices are corrected by credit notes, never silently replaced


def test_open_period_updates_drafts_in_place_and_voids_an_emptied_one(sandboxes, xero, sqlite_store):
    # Xero-only: QuickBooks Online has no draft invoices to update in place
    today = date(2026, 10, 20)
    post(drafts("acme-uk", "2026-10", BASE), xero, sqlite_store, today=today)
    assert {d["Status"] for d in live(sandboxes)} == {"DRAFT"}
    more = [*BASE[:2], ("1", "Acme Corp", "GBP", "12", "3", "90", "0.75", "1004")]  # client 2 gone, 1004 new
    res = post(drafts("acme-uk", "2026-10", more), xero, sqlite_store, today=today)
    assert res.plan.counts() == {"update_draft": 1, "void": 1}
    invs = sandboxes.xero.all("Invoices", TENANT)
    assert len(invs) == 2 and not live(sandboxes, "CreditNotes")
    c1 = next(d for d in invs if d["Reference"].endswith("C1-R1"))
    assert (c1["Status"], c1["SubTotal"], len(c1["LineItems"])) == ("DRAFT", Decimal("517.50"), 3)
    assert next(d for d in invs if d["Reference"].endswith("C2-R1"))["Status"] == "DELETED"
    # once the period has closed the draft is authorised by the next run, and the deleted one comes back as R2
    res = post(drafts("acme-uk", "2026-10", BASE), xero, sqlite_store, today=date(2026, 11, 2))
    assert res.plan.counts() == {"update_draft": 1, "create": 1}
    refs = {d["Reference"]: d["Status"] for d in live(sandboxes)}
    assert refs == {"SP-acme-uk-2026-10-C1-R1": "AUTHORISED", "SP-acme-uk-2026-10-C2-R2": "AUTHORISED"}
    assert net_per_reference(sandboxes) == {"SP-acme-uk-2026-10-C1-R1": Decimal("450.00"),
                                            "SP-acme-uk-2026-10-C2-R1": Decimal("440.00")}


def test_kill_switch_holds_every_write_until_resumed(target, sqlite_store):
    ctl = PostingControls(sqlite_store)
    ctl.pause("acme-uk", reason="month-end freeze", actor="alice")
    sent = writes(target.client)
    res = post(drafts("acme-uk", "2026-10", BASE), target, sqlite_store)
    assert sent == [] and set(res.frame["outcome"]) == {"held"}
    assert "month-end freeze" in res.frame["error"].iloc[0]
    ctl.resume("acme-uk", actor="alice")
    res = post(drafts("acme-uk", "2026-10", BASE), target, sqlite_store)
    assert set(res.frame["outcome"]) == {"created"}
    assert [a["action"] for a in sqlite_store.audit_entries("acme-uk")][:5] == [
        "posting_paused", "mapping_baseline", "plan_awaiting_approval", "plan_approved", "posting_resumed"]


def test_guard_blocks_a_plan_over_the_limits_unless_someone_approves(target, sqlite_store):
    PostingControls(sqlite_store).set_limits("acme-uk", actor="alice", max_total_minor={"GBP": 40000})
    standing_policy(sqlite_store, "acme-uk")  # auto-approval never covers a plan over the guard's limits
    plan = build_plan(drafts("acme-uk", "2026-10", BASE), entity=ENTITY, period=P, target=target, store=sqlite_store)
    assert plan.breaches == ["GBP: the plan writes 45000 minor units, more than the limit of 40000"]
    with pytest.raises(PostingBlocked, match="awaiting approval"):
        apply_plan(plan, target=target, store=sqlite_store, run=PostingRun("bob", "run-1", approved_by="bob",
                                                                       override_guard=True))  # claims count for nothing
    assert live_documents(target) == []
    approve_awaiting(sqlite_store, "acme-uk", "2026-10", approver="carol")
    res = apply_plan(plan, target=target, store=sqlite_store, run=PostingRun("bob", "run-2"))
    assert set(res.frame["outcome"]) == {"created"}
    assert all(a.startswith(f"posting: carol at {res.run.approved_at}") for a in res.frame["approved_by"])
    assert ("carol", "guard_overridden") in [(a["actor"], a["action"]) for a in sqlite_store.audit_entries("acme-uk")]


def test_permanent_failure_is_dead_lettered_and_posted_after_replay(sandboxes, xero, any_store):
    # someone created "Globex GmbH" in Xero by hand, without our ContactNumber: the name clashes
    xero.create_contacts([{"Name": "Globex GmbH"}], idempotency_key="manual-contact")
    res = post(drafts("acme-uk", "2026-10", BASE), xero, any_store)
    outcome = dict(zip(res.frame["reference"], res.frame["outcome"], strict=True))
    assert outcome == {"SP-acme-uk-2026-10-C1-R1": "created", "SP-acme-uk-2026-10-C2-R1": "failed"}
    letters = DeadLetters(any_store).open_for("acme-uk")
    assert sorted((x["kind"], x["operation"]) for x in letters) == [("contact", "create_contact"),
                                                                    ("invoice", "create_invoice")]
    inv_letter = next(x for x in letters if x["kind"] == "invoice")
    assert "already assigned to another contact" in inv_letter["error"]
    assert inv_letter["source_records"]["lines"][0]["source_entry_ids"] == ["1005"]
    # automated runs hold it back rather than hammering the same error
    again = post(drafts("acme-uk", "2026-10", BASE), xero, any_store)
    assert dict(zip(again.frame["reference"], again.frame["outcome"], strict=True))["SP-acme-uk-2026-10-C2-R1"] == "held"
    # the fix: an accountant links the existing contact to our client number; then the replay posts it
    [c] = [c for c in sandboxes.xero.all("Contacts", TENANT) if c["Name"] == "Globex GmbH"]
    xero.update("Contacts", [{"ContactID": c["ContactID"], "ContactNumber": "HARVEST-2"}], idempotency_key="fix-1")
    replayed = post(drafts("acme-uk", "2026-10", BASE), xero, any_store, replay={x["id"] for x in letters})
    assert dict(zip(replayed.frame["reference"], replayed.frame["outcome"], strict=True))[
        "SP-acme-uk-2026-10-C2-R1"] == "created"
    assert DeadLetters(any_store).open_for("acme-uk") == []
    assert {x["status"] for x in DeadLetters(any_store).list(entity="acme-uk")} == {"replayed"}
    assert len(live(sandboxes)) == 2


def test_commit_then_drop_is_replayed_by_its_idempotency_key(sandboxes, xero, sqlite_store):
    sandboxes.xero.faults.add("commit_then_drop", method="PUT", path="/Invoices$", times=1)
    res = post(drafts("acme-uk", "2026-10", BASE), xero, sqlite_store)
    assert set(res.frame["outcome"]) == {"created"}
    assert len(sandboxes.xero.all("Invoices", TENANT)) == 2


def test_lost_response_with_retries_exhausted_is_found_by_the_next_run(sandboxes, xero, any_store):
    xero.http.max_attempts = 1
    sandboxes.xero.faults.add("commit_then_drop", method="PUT", path="/Invoices$", times=1)
    res = post(drafts("acme-uk", "2026-10", BASE), xero, any_store)
    assert set(res.frame["outcome"]) == {"pending"}
    assert {r["status"] for r in any_store.ledger_for("acme-uk", "2026-10")} == {"pending"}
    res = post(drafts("acme-uk", "2026-10", BASE), xero, any_store)
    assert set(res.frame["outcome"]) == {"found_in_target"}
    assert len(sandboxes.xero.all("Invoices", TENANT)) == 2
    assert {r["status"] for r in any_store.ledger_for("acme-uk", "2026-10")} == {"posted"}
    assert billed_entries(entry_links_frame(any_store, "acme-uk", "2026-10")) == {"1002": 1, "1003": 1, "1005": 1}


def test_a_credit_note_whose_response_was_lost_is_recovered_with_its_entries(sandboxes, xero, sqlite_store):
    post(drafts("acme-uk", "2026-10", BASE), xero, sqlite_store)
    edited = [*BASE[:1], ("1", "Acme Corp", "GBP", "11", "2", "120", "0.75", "1003"), BASE[2]]
    xero.http.max_attempts = 1
    sandboxes.xero.faults.add("commit_then_drop", method="PUT", path="/CreditNotes$", times=1)
    first = post(drafts("acme-uk", "2026-10", edited), xero, sqlite_store)
    outcome = dict(zip(first.frame["reference"], first.frame["outcome"], strict=True))
    # the rebill waits for its credit note: never two bills for the same hours
    assert (outcome["SP-acme-uk-2026-10-C1-R1-CN1"], outcome["SP-acme-uk-2026-10-C1-R2"]) == ("pending", "pending")
    assert [d["Reference"] for d in live(sandboxes) if d["Reference"].endswith("R2")] == []
    # the posted-lines store never heard of the credit note: only the ledger's record of what was sent
    links = entry_links_frame(sqlite_store, "acme-uk", "2026-10")
    assert "SP-acme-uk-2026-10-C1-R1-CN1" not in set(links["reference"])
    second = post(drafts("acme-uk", "2026-10", edited), xero, sqlite_store)
    outcome = dict(zip(second.frame["reference"], second.frame["outcome"], strict=True))
    assert outcome["SP-acme-uk-2026-10-C1-R1-CN1"] == "found_in_target"
    assert outcome["SP-acme-uk-2026-10-C1-R2"] == "created"
    links = entry_links_frame(sqlite_store, "acme-uk", "2026-10")
    assert billed_entries(links) == {"1002": 1, "1003": 1, "1005": 1}
    credited = links[links["role"] == "credited"]
    assert list(credited["entry_id"]) == ["1003"]


def test_manual_billing_fallback_documents_made_by_hand_are_recognised_not_doubled(sandboxes, xero, any_store):
    """docs/posting.md, manual billing fallback: paused, an accountant raises the planned invoices by hand with the
    plan's references and lines; on resume the pipeline records them and posts nothing twice (a typo is adjusted)."""
    from sync_pipeline.connectors.xero import invoice_payload

    PostingControls(any_store).pause("acme-uk", reason="Xero outage: billing by hand", actor="olivia")
    d = drafts("acme-uk", "2026-10", BASE)
    plan = build_plan(d, entity=ENTITY, period=P, target=as_target(xero), store=any_store)
    by_hand = []
    for gp, op in plan.ops:  # what the accountant types in, from the plan (references, lines, descriptions)
        [contact] = xero.create_contacts([{"Name": gp.client_name}], idempotency_key=f"hand-{gp.client_id}")
        lines = [{"description": li.description, "quantity": li.quantity, "unit_amount": li.unit_amount,
                  "line_amount": Decimal(li.amount_minor) / 100, "account_code": li.account_code,
                  "tax_type": li.tax_type} for li in op.lines]
        if gp.client_id == "2":  # a typo: 4.0 h typed as 4.5 h
            lines[0].update(quantity=Decimal("4.5"), line_amount=Decimal("495.00"))
        by_hand.append(invoice_payload(contact_id=contact["ContactID"], reference=op.reference, currency=gp.currency,
                                       date="2026-10-31", due_date="2026-11-30", status="AUTHORISED", lines=lines))
    xero.create_invoices(by_hand, idempotency_key="typed-by-hand")
    PostingControls(any_store).resume("acme-uk", actor="olivia")
    res = post(d, xero, any_store)
    outcome = dict(zip(res.frame["reference"], res.frame["outcome"], strict=True))
    assert outcome["SP-acme-uk-2026-10-C1-R1"] == "found_in_target"  # recognised, recorded, not posted again
    # the typo shows up as an adjustment: credit the mistyped line, rebill the right one
    assert (outcome["SP-acme-uk-2026-10-C2-R1-CN1"], outcome["SP-acme-uk-2026-10-C2-R2"]) == ("created", "created")
    assert sorted(d["Reference"] for d in live(sandboxes)) == [
        "SP-acme-uk-2026-10-C1-R1", "SP-acme-uk-2026-10-C2-R1", "SP-acme-uk-2026-10-C2-R2"]
    assert net_per_reference(sandboxes) == {"SP-acme-uk-2026-10-C1-R1": Decimal("450.00"),
                                            "SP-acme-uk-2026-10-C2-R1": Decimal("440.00")}
    assert billed_entries(entry_links_frame(any_store, "acme-uk", "2026-10")) == {"1002": 1, "1003": 1, "1005": 1}


def test_a_refused_item_is_dead_lettered_while_the_rest_of_its_batch_posts(sandboxes, xero, any_store):
    three = [*BASE, ("3", "Initech", "GBP", "31", "1", "80", "2.0", "1011")]
    bad = drafts("acme-uk", "2026-10", three)
    bad.loc[bad["client_id"] == "3", "account_code"] = "999"  # a mapping mistake: no such revenue account
    sent = writes(xero)
    res = post(bad, xero, any_store)
    assert sent.count("PUT /api.xro/2.0/Invoices") == 1  # one batch of three
    outcome = dict(zip(res.frame["reference"], res.frame["outcome"], strict=True))
    assert outcome == {"SP-acme-uk-2026-10-C1-R1": "created", "SP-acme-uk-2026-10-C2-R1": "created",
                       "SP-acme-uk-2026-10-C3-R1": "failed"}
    [letter] = DeadLetters(any_store).open_for("acme-uk")
    assert (letter["reference"], letter["operation"]) == ("SP-acme-uk-2026-10-C3-R1", "create_invoice")
    assert "Account code '999' is not a valid code" in letter["error"]
    assert letter["payload"]["lines"][0]["account_code"] == "999"  # the neutral draft that was refused
    assert letter["source_records"]["lines"][0]["source_entry_ids"] == ["1011"]
    # the mapping is corrected and billing re-run: the new content posts on the next run, the letter is superseded
    res = post(drafts("acme-uk", "2026-10", three), xero, any_store)
    assert dict(zip(res.frame["reference"], res.frame["outcome"], strict=True))["SP-acme-uk-2026-10-C3-R1"] == "created"
    assert DeadLetters(any_store).get(letter["id"])["status"] == "superseded"
    assert len(live(sandboxes)) == 3


@pytest.mark.parametrize(("collection", "field_name", "value"),
                         [("Invoices", "AmountDue", "0.00"), ("Invoices", "Status", "PAYED"),
                          ("CreditNotes", "Total", True)])
def test_an_unreadable_document_of_ours_stops_the_plan_by_name_and_nothing_is_written(
        sandboxes, xero, sqlite_store, collection, field_name, value):
    """Left out, an unreadable invoice would look "not posted" and be billed twice: the plan refuses, naming it."""
    post(drafts("acme-uk", "2026-10", BASE), xero, sqlite_store)
    edited = [BASE[0], (*BASE[1][:6], "2.25", BASE[1][7]), BASE[2]]  # a late edit: a credit note and a rebill
    post(drafts("acme-uk", "2026-10", edited), xero, sqlite_store)
    store = sandboxes.xero.store
    [doc] = [d for d in store.query(collection, TENANT) if d["Reference"].startswith("SP-acme-uk-2026-10-C1-R1")]
    store.put(collection, TENANT, doc["InvoiceID" if collection == "Invoices" else "CreditNoteID"],
              {**doc, field_name: value})
    sent = writes(xero)
    with pytest.raises(PostingBlocked) as err:
        build_plan(drafts("acme-uk", "2026-10", BASE), entity=ENTITY, period=P, target=as_target(xero), store=sqlite_store)
    message = str(err.value)
    assert doc["Reference"] in message and field_name in message and "do not read" in message
    assert sent == []
