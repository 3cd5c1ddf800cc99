"""The invoice plan, on hand-built states: every action, and convergence after partial application."""

from decimal import Decimal

from sync_pipeline.domain import ids
from sync_pipeline.domain.invoice_plan import Doc, Group, Limits, Line, guard_breaches, plan_group, plan_totals

BASE_KEY = ids.invoice_key("e", "1", "2026-10")
BASE_REF = ids.invoice_reference("e", "1", "2026-10")


def line(entries: str, hours: str, rate: str = "100", desc: str = "Web — Dev") -> Line:
    ents = tuple(entries.split(","))
    lk = ids.line_key(ents)
    amount = int((Decimal(hours) * Decimal(rate) * 100).quantize(Decimal(1)))
    return Line(f"{desc} ({ids.line_reference(lk)})", Decimal(hours), Decimal(rate), amount, "200", "OUTPUT2", ents, lk)


def group(*lines: Line) -> Group:
    return Group(BASE_KEY, BASE_REF, "1", "Acme", "GBP", list(lines))


def invoice(rev: int, status: str, *lines: Line, due: int | None = None) -> Doc:
    key = ids.revision_key(BASE_KEY, rev)
    ref = BASE_REF if rev == 1 else ids.revision_reference(BASE_REF, rev)
    total = sum(li.amount_minor for li in lines)
    return Doc(key, "invoice", ref, rev, status, list(lines), target_id=f"x-{rev}", number=f"INV-{rev}",
               amount_due_minor=total if due is None else due)


def credit(inv: Doc, n: int, *lines: Line, remaining: int = 0) -> Doc:
    return Doc(ids.credit_note_key(inv.key, n), "credit_note", ids.credit_note_reference(inv.reference, n),
               inv.revision, "AUTHORISED", list(lines), target_id=f"cn-{n}", original_key=inv.key, credit_number=n,
               remaining_credit_minor=remaining)


def test_nothing_posted_creates_revision_one():
    p = plan_group(group(line("1", "3"), line("2", "1.5", "120")), [], new_status="AUTHORISED")
    assert p.action == "create"
    [op] = p.ops
    assert (op.op, op.key, op.reference, op.revision, op.amount_minor) == ("create_invoice", BASE_KEY, BASE_REF, 1,
                                                                          48000)
    assert op.source_entry_ids == ["1", "2"]


def test_same_lines_are_unchanged():
    a, b = line("1", "3"), line("2", "1.5")
    p = plan_group(group(a, b), [invoice(1, "AUTHORISED", a, b)], new_status="AUTHORISED")
    assert (p.action, p.ops, p.delta_minor) == ("unchanged", [], 0)


def test_edited_hours_on_an_issued_invoice_credit_the_changed_line_and_rebill_it():
    a, b = line("1", "3"), line("2", "1.5")
    b2 = line("2", "1.0")  # entry 2 edited from 1.5 h to 1.0 h
    inv = invoice(1, "AUTHORISED", a, b)
    p = plan_group(group(a, b2), [inv], new_status="AUTHORISED")
    assert p.action == "adjust"
    cn, rebill = p.ops
    assert (cn.op, cn.reference, cn.lines, cn.amount_minor) == ("create_credit_note", f"{BASE_REF}-CN1", [b], 15000)
    assert cn.original_key == inv.key
    assert (rebill.op, rebill.revision, rebill.reference, rebill.lines) == (
        "create_invoice", 2, ids.revision_reference(BASE_REF, 2), [b2])
    assert rebill.original_key == inv.key
    assert p.delta_minor == -5000 == sum(o.delta_minor for o in p.ops)
    assert "changed entries 2" in p.explanation


def test_deleted_entry_is_a_credit_only():
    a, b = line("1", "3"), line("2", "1.5")
    p = plan_group(group(a), [invoice(1, "AUTHORISED", a, b)], new_status="AUTHORISED")
    assert p.action == "credit"
    [cn] = p.ops
    assert cn.lines == [b] and cn.delta_minor == -15000


def test_convergence_after_the_credit_note_landed_but_not_the_rebill():
    a, b, b2 = line("1", "3"), line("2", "1.5"), line("2", "1.0")
    inv = invoice(1, "AUTHORISED", a, b)
    p = plan_group(group(a, b2), [inv, credit(inv, 1, b)], new_status="AUTHORISED")
    [op] = p.ops
    assert (op.op, op.revision, op.lines) == ("create_invoice", 2, [b2])
    # and once the rebill is there too, nothing is left to do
    done = plan_group(group(a, b2), [inv, credit(inv, 1, b), invoice(2, "AUTHORISED", b2)], new_status="AUTHORISED")
    assert (done.action, done.ops) == ("unchanged", [])


def test_a_second_change_credits_the_rebill_with_the_next_credit_number():
    a, b, b2, b3 = line("1", "3"), line("2", "1.5"), line("2", "1.0"), line("2", "2.0")
    inv1 = invoice(1, "AUTHORISED", a, b)
    docs = [inv1, credit(inv1, 1, b), invoice(2, "AUTHORISED", b2)]
    p = plan_group(group(a, b3), docs, new_status="AUTHORISED")
    cn, rebill = p.ops
    assert cn.original_key == docs[2].key and cn.reference == f"{docs[2].reference}-CN1"
    assert rebill.revision == 3 and rebill.lines == [b3]


def test_drafts_are_updated_in_place_and_authorised_once_the_period_closed():
    a, b, c = line("1", "3"), line("2", "1.5"), line("3", "2")
    draft = invoice(1, "DRAFT", a, b)
    open_period = plan_group(group(a, c), [draft], new_status="DRAFT")
    [op] = open_period.ops
    assert (open_period.action, op.op, op.status, op.lines) == ("update_draft", "update_invoice", "DRAFT", [a, c])
    closed = plan_group(group(a, b), [draft], new_status="AUTHORISED")
    [op] = closed.ops
    assert (op.op, op.status, op.lines) == ("update_invoice", "AUTHORISED", [a, b])


def test_a_draft_with_nothing_left_is_voided_an_issued_invoice_is_credited():
    a = line("1", "3")
    v = plan_group(None, [invoice(1, "DRAFT", a)], new_status="DRAFT", base_key=BASE_KEY, base_reference=BASE_REF,
                   client_id="1", currency="GBP")
    assert v.action == "void" and v.ops[0].status == "DELETED"
    c = plan_group(None, [invoice(1, "AUTHORISED", a)], new_status="AUTHORISED", base_key=BASE_KEY,
                   base_reference=BASE_REF, client_id="1", currency="GBP")
    assert c.action == "credit" and c.ops[0].lines == [a]


def test_voided_revisions_still_count_for_numbering():
    a = line("1", "3")
    dead = invoice(1, "DELETED", a)
    p = plan_group(group(a), [dead], new_status="DRAFT")
    assert p.ops[0].revision == 2 and p.ops[0].op == "create_invoice"


def test_late_entry_on_an_issued_invoice_is_a_rebill_without_credit():
    a, c = line("1", "3"), line("9", "1")
    p = plan_group(group(a, c), [invoice(1, "AUTHORISED", a)], new_status="AUTHORISED")
    assert p.action == "adjust" and [o.op for o in p.ops] == ["create_invoice"] and p.ops[0].lines == [c]


def test_unallocated_credit_is_allocated_against_the_amount_due():
    a, b = line("1", "3"), line("2", "1.5")
    inv = invoice(1, "AUTHORISED", a, b, due=45000)
    p = plan_group(group(a), [inv, credit(inv, 1, b, remaining=15000)], new_status="AUTHORISED")
    [op] = p.ops
    assert (op.op, op.amount_minor, op.original_target_id) == ("allocate_credit", 15000, "x-1")


def test_guard_counts_documents_and_gross_amounts():
    plans = [plan_group(group(line("1", "3")), [], new_status="AUTHORISED")]
    assert plan_totals(plans)["GBP"] == {"invoiced_minor": 30000, "credited_minor": 0, "net_change_minor": 30000,
                                         "gross_minor": 30000}
    assert guard_breaches(plans, Limits()) == []
    assert guard_breaches(plans, Limits(max_invoices=0)) == [
        "the plan writes 1 documents, more than the limit of 0"]
    assert "GBP" in guard_breaches(plans, Limits(max_total_minor={"GBP": 29999}))[0]
    assert guard_breaches(plans, Limits(max_total_minor={"GBP": 30000, "EUR": 1})) == []


def test_quantities_compare_by_value():
    assert line("1", "3").fingerprint == line("1", "3.000").fingerprint
    assert line("1", "3").fingerprint != line("1", "3.01").fingerprint
