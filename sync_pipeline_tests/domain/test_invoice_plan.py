"""The invoice plan, on hand-built states: every action, and convergence after partial application."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync_pipeline.domain import ids
from sync_pipeline.domain.invoice_plan import (
    Doc,
    DocOp,
    Group,
    Limits,
    Line,
    breaches_of,
    guard_breaches,
    invoices_written,
    live_lines,
    plan_group,
    plan_totals,
    totals_of,
)

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


def test_a_voided_draft_takes_its_whole_amount_off():
    a, b = line("1", "3"), line("2", "1.5")
    p = plan_group(None, [invoice(1, "DRAFT", a, b)], new_status="DRAFT", base_key=BASE_KEY, base_reference=BASE_REF,
                   client_id="1", currency="GBP")
    [op] = p.ops
    assert (op.op, op.target_id, op.amount_minor, op.delta_minor) == ("void_invoice", "x-1", 0, -45000)
    assert p.delta_minor == -45000 and p.billed_minor == 45000 and p.desired_minor == 0


def test_a_draft_update_changes_the_total_by_new_minus_old():
    a, b, c = line("1", "3"), line("2", "1.5"), line("3", "2")
    p = plan_group(group(a, c), [invoice(1, "DRAFT", a, b)], new_status="DRAFT")
    [op] = p.ops
    assert (op.amount_minor, op.delta_minor) == (50000, 50000 - 45000)
    shrink = plan_group(group(a), [invoice(1, "DRAFT", a, b)], new_status="DRAFT")
    assert shrink.ops[0].delta_minor == -15000 == shrink.delta_minor


def test_a_draft_whose_lines_only_changed_order_is_rewritten_in_the_new_order():
    a, b = line("1", "3"), line("2", "1.5")
    p = plan_group(group(b, a), [invoice(1, "DRAFT", a, b)], new_status="DRAFT")
    # the same lines, so nothing is added; the draft keeps its own order and needs no write
    assert (p.action, p.ops) == ("unchanged", [])
    open_ = plan_group(group(a, b), [invoice(1, "DRAFT", a, b)], new_status="DRAFT")
    assert open_.ops == []  # still open: a draft stays a draft without a write


def test_one_of_two_identical_lines_credited_leaves_the_other_billed():
    a = line("1", "3")
    inv = invoice(1, "AUTHORISED", a, a)
    live = live_lines([inv, credit(inv, 1, a)])
    assert live == {inv.key: [a]}
    assert live_lines([inv]) == {inv.key: [a, a]}
    # a voided credit note credits nothing; a credit note of another invoice neither
    voided = credit(inv, 1, a)
    voided.status = "VOIDED"
    inv2 = invoice(2, "AUTHORISED", a)
    assert live_lines([inv, voided, inv2, credit(inv2, 1, a)]) == {inv.key: [a, a], inv2.key: []}


def test_dead_invoices_have_no_live_lines():
    a = line("1", "3")
    assert live_lines([invoice(1, "VOIDED", a), invoice(2, "DELETED", a)]) == {}
    assert set(live_lines([invoice(1, s, a) for s in ("DRAFT",)] + [invoice(2, "PAID", a)])) == {
        ids.revision_key(BASE_KEY, 1), ids.revision_key(BASE_KEY, 2)}


def test_a_second_credit_note_on_the_same_invoice_gets_the_next_number_and_its_own_key():
    a, b, c = line("1", "3"), line("2", "1.5"), line("3", "2")
    inv = invoice(1, "AUTHORISED", a, b, c)
    first = credit(inv, 1, b)
    p = plan_group(group(a), [inv, first, invoice(2, "AUTHORISED")], new_status="AUTHORISED")
    [cn] = [o for o in p.ops if o.op == "create_credit_note"]
    assert cn.key == ids.credit_note_key(inv.key, 2) != first.key
    assert cn.reference == f"{BASE_REF}-CN2" and cn.lines == [c] and cn.original_target_id == "x-1"
    assert (cn.amount_minor, cn.delta_minor, cn.status) == (20000, -20000, "AUTHORISED")
    # numbering counts the highest number, not how many there are
    third = plan_group(group(), [inv, credit(inv, 5, b), credit(inv, 2, c)], new_status="AUTHORISED")
    assert [o.key for o in third.ops] == [ids.credit_note_key(inv.key, 6)]


def test_a_credit_note_mirrors_the_line_amount_types_of_the_invoice_it_credits():
    a, b = line("1", "3"), line("2", "1.5")
    inv = invoice(1, "AUTHORISED", a, b)
    inv.line_amount_types = "Inclusive"
    p = plan_group(group(a), [inv], new_status="AUTHORISED")
    assert p.ops[0].line_amount_types == "Inclusive"


@pytest.mark.parametrize(("remaining", "due", "allocated"), [
    (1, 45000, 1),  # the last minor unit of credit is allocated
    (15000, 1, 1),  # never more than is due
    (15000, 45000, 15000),
    (0, 45000, None),  # nothing left to allocate
    (15000, 0, None),  # nothing due
    (-5, 45000, None),
    (15000, -5, None),
])
def test_allocation_is_the_smaller_of_credit_left_and_amount_due(remaining, due, allocated):
    a, b = line("1", "3"), line("2", "1.5")
    inv = invoice(1, "AUTHORISED", a, b, due=due)
    p = plan_group(group(a), [inv, credit(inv, 1, b, remaining=remaining)], new_status="AUTHORISED")
    assert [o.amount_minor for o in p.ops if o.op == "allocate_credit"] == ([allocated] if allocated else [])
    assert p.action == "unchanged" and all(o.delta_minor == 0 for o in p.ops)


def test_allocation_needs_a_live_credit_note_and_an_issued_invoice_both_in_the_accounting_system():
    a, b = line("1", "3"), line("2", "1.5")

    def allocations(cn_status="AUTHORISED", cn_target="cn-1", inv_status="AUTHORISED", inv_target="x-1",
                    original=True):
        inv = invoice(1, inv_status, a, b, due=45000)
        inv.target_id = inv_target
        cn = credit(inv, 1, b, remaining=15000)
        cn.status, cn.target_id = cn_status, cn_target
        if not original:
            cn.original_key = None
        p = plan_group(group(a), [inv, cn], new_status="AUTHORISED")
        return [(o.key, o.target_id, o.original_key, o.original_reference, o.original_target_id, o.amount_minor)
                for o in p.ops if o.op == "allocate_credit"]

    inv_key = ids.revision_key(BASE_KEY, 1)
    assert allocations() == [(ids.credit_note_key(inv_key, 1), "cn-1", inv_key, BASE_REF, "x-1", 15000)]
    assert allocations(cn_status="VOIDED") == []
    assert allocations(cn_target=None) == []
    assert allocations(inv_status="PAID") == []
    assert allocations(inv_status="DRAFT") == []
    assert allocations(inv_target=None) == []
    assert allocations(original=False) == []


def test_an_invoice_with_lines_left_is_never_an_allocation_source():
    a = line("1", "3")
    inv = invoice(1, "AUTHORISED", a)
    inv.remaining_credit_minor = 500  # only credit notes carry credit
    assert plan_group(group(a), [inv], new_status="AUTHORISED").ops == []


def test_nothing_wanted_and_nothing_live_is_unchanged():
    p = plan_group(None, [], new_status="DRAFT", base_key=BASE_KEY, base_reference=BASE_REF, client_id="1",
                   currency="GBP")
    assert (p.action, p.ops, p.desired_minor, p.billed_minor, p.kept_lines) == ("unchanged", [], 0, 0, 0)


def test_rebill_after_a_void_points_at_the_previous_revision():
    a = line("1", "3")
    dead = invoice(1, "DELETED", a)
    [op] = plan_group(group(a), [dead], new_status="DRAFT").ops
    assert (op.original_key, op.original_reference, op.original_target_id) == (dead.key, BASE_REF, "x-1")
    assert (op.key, op.reference, op.status) == (ids.revision_key(BASE_KEY, 2), ids.revision_reference(BASE_REF, 2),
                                                 "DRAFT")
    [first] = plan_group(group(a), [], new_status="DRAFT").ops
    assert (first.original_key, first.original_reference, first.original_target_id) == (None, None, None)


def test_added_lines_land_on_the_newest_draft():
    a, b, c = line("1", "3"), line("2", "1.5"), line("3", "2")
    issued, draft = invoice(1, "AUTHORISED", a), invoice(2, "DRAFT", b)
    p = plan_group(group(a, b, c), [issued, draft], new_status="DRAFT")
    [op] = p.ops
    assert (p.action, op.op, op.key, op.lines, op.delta_minor) == ("update_draft", "update_invoice", draft.key, [b, c],
                                                                    20000)
    assert p.kept_lines == 2 and p.added == [c] and p.removed == []
    assert "new entries 3" in p.explanation


def test_a_draft_emptied_while_another_gains_is_voided_and_the_other_updated():
    a, b, c = line("1", "3"), line("2", "1.5"), line("3", "2")
    older, newer = invoice(1, "DRAFT", a), invoice(2, "DRAFT", b)
    p = plan_group(group(b, c), [older, newer], new_status="DRAFT")
    assert [(o.op, o.key) for o in p.ops] == [("void_invoice", older.key), ("update_invoice", newer.key)]
    assert p.action == "update_draft"


def test_a_credit_and_a_draft_update_together_are_an_adjustment():
    a, b, c = line("1", "3"), line("2", "1.5"), line("3", "2")
    p = plan_group(group(a, c), [invoice(1, "AUTHORISED", a, b), invoice(2, "DRAFT")], new_status="DRAFT")
    assert [o.op for o in p.ops] == ["create_credit_note", "update_invoice"] and p.action == "adjust"
    assert "entries no longer billable 2" in p.explanation and "new entries 3" in p.explanation


def test_an_entry_moved_to_another_line_of_the_same_content_is_reattributed_not_rebilled():
    a = line("1", "3")
    moved = Line(a.description, a.quantity, a.unit_amount, a.amount_minor, a.account_code, a.tax_type, ("7",), a.line_key)
    inv = invoice(1, "AUTHORISED", a)
    p = plan_group(group(moved), [inv], new_status="AUTHORISED")
    assert (p.action, p.ops, p.reattributed) == ("unchanged", [], [(inv.key, moved)])
    assert plan_group(group(a), [inv], new_status="AUTHORISED").reattributed == []


def test_explanation_without_entry_ids_counts_lines():
    bare = Line("Fee", Decimal(1), Decimal(500), 50000, "200", "OUTPUT2")
    other = Line("Fee", Decimal(1), Decimal(600), 60000, "200", "OUTPUT2")
    p = plan_group(group(other), [invoice(1, "AUTHORISED", bare)], new_status="AUTHORISED")
    assert p.explanation == "1 line(s) replaced by 1"


def test_guard_limits_are_inclusive_of_the_limit_itself():
    a = line("1", "3")
    create = plan_group(group(a), [], new_status="AUTHORISED")
    assert guard_breaches([create], Limits(max_invoices=1)) == []
    assert guard_breaches([create, create], Limits(max_invoices=1)) == [
        "the plan writes 2 documents, more than the limit of 1"]
    assert guard_breaches([create], Limits(max_total_minor={"GBP": 30000})) == []
    assert guard_breaches([create], Limits(max_total_minor={"GBP": 29999})) == [
        "GBP: the plan writes 30000 minor units, more than the limit of 29999"]
    assert invoices_written([create, create]) == 2


def test_guard_totals_count_every_write_at_its_size_and_credits_as_credits():
    a, b, c = line("1", "3"), line("2", "1.5"), line("3", "2")
    adjust = plan_group(group(a, c), [invoice(1, "AUTHORISED", a, b)], new_status="AUTHORISED")  # CN 150, rebill 200
    void = plan_group(None, [invoice(1, "DRAFT", c)], new_status="DRAFT", base_key=BASE_KEY, base_reference=BASE_REF,
                      client_id="1", currency="EUR")  # void 200
    update = plan_group(group(a), [invoice(1, "DRAFT", a, b)], new_status="DRAFT")  # update -150
    assert plan_totals([adjust, update]) == {"GBP": {"invoiced_minor": 20000, "credited_minor": 15000,
                                                     "net_change_minor": 5000 - 15000,
                                                     "gross_minor": 15000 + 20000 + 15000}}
    assert plan_totals([void])["EUR"] == {"invoiced_minor": 0, "credited_minor": 0, "net_change_minor": -20000,
                                          "gross_minor": 20000}
    assert guard_breaches([adjust, update], Limits(max_total_minor={"GBP": 50000})) == []
    assert guard_breaches([adjust, update], Limits(max_total_minor={"GBP": 49999})) != []


def test_allocations_are_not_writes_for_the_guard():
    rows = [("GBP", "allocate_credit", 15000, 0), ("GBP", "create_credit_note", 100, -100)]
    assert totals_of(rows)["GBP"] == {"invoiced_minor": 0, "credited_minor": 100, "net_change_minor": -100,
                                      "gross_minor": 100}
    assert breaches_of(rows, Limits(max_invoices=1)) == []
    assert breaches_of(rows * 2, Limits(max_invoices=1)) == ["the plan writes 2 documents, more than the limit of 1"]


def test_fingerprint_covers_every_field_the_document_shows():
    a = line("1", "3")
    same = Line(a.description, Decimal("3.0"), Decimal("100.00"), a.amount_minor, a.account_code, "output2",
                ("9",), "other", approved_by="someone", tax_amount_minor=123)
    assert same.fingerprint == a.fingerprint  # entries, approver and tax amount are not content
    variants = [
        Line("other", a.quantity, a.unit_amount, a.amount_minor, a.account_code, a.tax_type),
        Line(a.description, Decimal(4), a.unit_amount, a.amount_minor, a.account_code, a.tax_type),
        Line(a.description, a.quantity, Decimal(101), a.amount_minor, a.account_code, a.tax_type),
        Line(a.description, a.quantity, a.unit_amount, a.amount_minor + 1, a.account_code, a.tax_type),
        Line(a.description, a.quantity, a.unit_amount, a.amount_minor, "260", a.tax_type),
        Line(a.description, a.quantity, a.unit_amount, a.amount_minor, a.account_code, "NONE"),
        Line(a.description, a.quantity, a.unit_amount, a.amount_minor, a.account_code, a.tax_type, item_code="DEV"),
        Line(a.description, a.quantity, a.unit_amount, a.amount_minor, a.account_code, a.tax_type,
             tracking=(("Region", "North"),)),
    ]
    assert len({v.fingerprint for v in variants} | {a.fingerprint}) == len(variants) + 1
    t1 = Line("x", Decimal(1), Decimal(1), 100, "200", "T", tracking=(("A", "1"), ("B", "2")))
    t2 = Line("x", Decimal(1), Decimal(1), 100, "200", "T", tracking=(("B", "2"), ("A", "1")))
    assert t1.fingerprint == t2.fingerprint  # tracking is a set of (category, option)
    assert Line("x", Decimal(1), Decimal(1), 100, "", "", ).fingerprint == \
        Line("x", Decimal(1), Decimal(1), 100, None, None).fingerprint  # type: ignore[arg-type]


def test_doc_helpers():
    a, b = line("1", "3"), line("2", "1.5")
    doc = invoice(1, "AUTHORISED", a, b)
    assert doc.subtotal_minor == 45000 and doc.live
    assert not invoice(1, "VOIDED").live and not invoice(1, "DELETED").live
    assert plan_group(group(a, b), [], new_status="DRAFT").ops[0].source_entry_ids == ["1", "2"]


# -- the plan as a whole: applied by a faithful accounting system, it converges and nets to the change -----------

def apply(plan, docs: list[Doc]) -> list[Doc]:
    """What the accounting system holds after the plan's writes (each document gets an id; allocations move money)."""
    docs = [Doc(**{**d.__dict__, "lines": list(d.lines), "allocated_minor": dict(d.allocated_minor)}) for d in docs]
    by_key = {d.key: d for d in docs}
    for o in plan.ops:
        if o.op == "create_invoice":
            docs.append(Doc(o.key, "invoice", o.reference, o.revision, o.status, list(o.lines), target_id=f"t-{o.key}",
                            amount_due_minor=o.amount_minor))
        elif o.op == "update_invoice":
            d = by_key[o.key]
            d.lines, d.status, d.amount_due_minor = list(o.lines), o.status, o.amount_minor
        elif o.op == "void_invoice":
            by_key[o.key].status = o.status
        elif o.op == "create_credit_note":
            docs.append(Doc(o.key, "credit_note", o.reference, o.revision, o.status, list(o.lines),
                            target_id=f"t-{o.key}", original_key=o.original_key,
                            credit_number=ids.parse_reference(o.reference)["credit_note"],
                            remaining_credit_minor=o.amount_minor))
        elif o.op == "allocate_credit":
            cn, inv = by_key[o.key], by_key[o.original_key]
            assert 0 < o.amount_minor <= min(cn.remaining_credit_minor, inv.amount_due_minor)
            cn.remaining_credit_minor -= o.amount_minor
            inv.amount_due_minor -= o.amount_minor
        by_key = {d.key: d for d in docs}
    return docs


def net_billed(docs: list[Doc]) -> int:
    return sum(li.amount_minor for lines in live_lines(docs).values() for li in lines)


POOL = [line(str(e), h) for e in range(1, 5) for h in ("1", "2.5")] + [line("9", "1", "80", "Fee")] * 2
states = st.lists(st.sampled_from(POOL), max_size=6)


@settings(max_examples=max(1, settings.default.max_examples // 2))  # each example plans 4 rounds
@given(st.lists(states, min_size=1, max_size=4), st.lists(st.sampled_from(["DRAFT", "AUTHORISED"]), min_size=4,
                                                         max_size=4))
def test_applied_plans_converge_and_each_nets_exactly_to_the_change(wanted, statuses):
    docs: list[Doc] = []
    for lines, status in zip(wanted, statuses, strict=False):
        before = net_billed(docs)
        want = group(*lines) if lines else None
        kw = dict(base_key=BASE_KEY, base_reference=BASE_REF, client_id="1", currency="GBP")
        plan = plan_group(want, docs, new_status=status, **kw)
        desired = sum(li.amount_minor for li in lines)
        # the plan's writes change the net billed amount by exactly what changed, credit + rebill included
        assert plan.billed_minor == before
        assert sum(o.delta_minor for o in plan.ops) == plan.delta_minor == desired - before
        docs = apply(plan, docs)
        assert net_billed(docs) == desired
        again = plan_group(want, docs, new_status=status, **kw)
        # re-planning asks for nothing but allocations of the credit just written; after those, nothing at all
        assert {o.op for o in again.ops} <= {"allocate_credit"} and again.action == "unchanged"
        docs = apply(again, docs)
        assert plan_group(want, docs, new_status=status, **kw).ops == []
        for d in docs:  # allocation never exceeds what was due, nor the credit there was
            assert d.amount_due_minor >= 0 and d.remaining_credit_minor >= 0


# -- every field of every operation --------------------------------------------------------------------------------

def test_every_field_of_a_credit_note_and_its_rebill():
    a, b, b2 = line("1", "3"), line("2", "1.5"), line("2", "1.0")
    inv = invoice(1, "AUTHORISED", a, b)
    p = plan_group(group(a, b2), [inv], new_status="AUTHORISED")
    assert p.ops == [
        DocOp("create_credit_note", ids.credit_note_key(inv.key, 1), "credit_note", f"{BASE_REF}-CN1", 1, [b],
              status="AUTHORISED", target_id=None, original_key=inv.key, original_reference=BASE_REF,
              original_target_id="x-1", amount_minor=15000, delta_minor=-15000, line_amount_types="Exclusive"),
        DocOp("create_invoice", ids.revision_key(BASE_KEY, 2), "invoice", ids.revision_reference(BASE_REF, 2), 2, [b2],
              status="AUTHORISED", target_id=None, original_key=inv.key, original_reference=BASE_REF,
              original_target_id="x-1", amount_minor=10000, delta_minor=10000, line_amount_types="Exclusive"),
    ]


def test_every_field_of_a_void_an_update_and_an_allocation():
    a, b, c = line("1", "3"), line("2", "1.5"), line("3", "2")
    older, newer = invoice(1, "DRAFT", a), invoice(2, "DRAFT", b)
    g = group(b, c)
    g.line_amount_types = "Inclusive"
    p = plan_group(g, [older, newer], new_status="AUTHORISED")
    assert p.ops == [
        DocOp("void_invoice", older.key, "invoice", BASE_REF, 1, [], status="DELETED", target_id="x-1",
              amount_minor=0, delta_minor=-30000),
        DocOp("update_invoice", newer.key, "invoice", newer.reference, 2, [b, c], status="AUTHORISED",
              target_id="x-2", amount_minor=35000, delta_minor=20000, line_amount_types="Inclusive"),
    ]
    inv = invoice(1, "AUTHORISED", a, b, due=45000)
    cn = credit(inv, 1, b, remaining=15000)
    [alloc] = plan_group(group(a), [inv, cn], new_status="AUTHORISED").ops
    assert alloc == DocOp("allocate_credit", cn.key, "credit_note", cn.reference, 1, [], target_id="cn-1",
                          original_key=inv.key, original_reference=BASE_REF, original_target_id="x-1",
                          amount_minor=15000, delta_minor=0)


def test_a_group_plan_says_what_it_compared():
    a, b = line("1", "3"), line("2", "1.5")
    inv = invoice(1, "AUTHORISED", a, b)
    p = plan_group(None, [inv], new_status="AUTHORISED", base_key=BASE_KEY, base_reference=BASE_REF, client_id="1",
                   currency="GBP")
    assert (p.group_key, p.base_reference, p.client_id, p.client_name, p.currency, p.action, p.desired_minor,
            p.billed_minor, p.kept_lines, p.added, p.removed, p.line_amount_types) == (
        BASE_KEY, BASE_REF, "1", "", "GBP", "credit", 0, 45000, 0, [], [(inv.key, a), (inv.key, b)], "Exclusive")
    g = group(a)
    g.line_amount_types = "Inclusive"
    q = plan_group(g, [], new_status="DRAFT")
    assert (q.client_name, q.line_amount_types, q.ops[0].line_amount_types) == ("Acme", "Inclusive", "Inclusive")
    with pytest.raises(AssertionError):
        plan_group(None, [], new_status="DRAFT", base_key=BASE_KEY, base_reference=BASE_REF, client_id="1")
    with pytest.raises(AssertionError):
        plan_group(None, [], new_status="DRAFT", base_key=BASE_KEY, client_id="1", currency="GBP")
    with pytest.raises(AssertionError):
        plan_group(None, [], new_status="DRAFT", base_reference=BASE_REF, client_id="1", currency="GBP")


def test_a_line_on_both_an_issued_invoice_and_a_draft_stays_on_the_issued_one():
    a, b = line("1", "3"), line("2", "1.5")
    issued, draft = invoice(1, "AUTHORISED", a), invoice(2, "DRAFT", a, b)
    p = plan_group(group(a, b), [issued, draft], new_status="DRAFT")
    [op] = p.ops
    assert (op.op, op.key, op.lines) == ("update_invoice", draft.key, [b])  # the draft's copy goes, nothing credited


def test_a_submitted_draft_is_not_sent_back_to_draft_by_an_update():
    a, b = line("1", "3"), line("2", "1.5")
    [op] = plan_group(group(a, b), [invoice(1, "SUBMITTED", a)], new_status="DRAFT").ops
    assert (op.op, op.status) == ("update_invoice", "SUBMITTED")


def test_an_issued_invoice_after_a_draft_is_still_credited():
    a, b, c = line("1", "3"), line("2", "1.5"), line("3", "2")
    p = plan_group(group(c), [invoice(1, "DRAFT", a), invoice(2, "AUTHORISED", b)], new_status="DRAFT")
    assert [o.op for o in p.ops] == ["create_credit_note", "update_invoice"]


def test_a_rebill_points_at_the_newest_live_revision_not_a_voided_later_one():
    a, c = line("1", "3"), line("9", "1")
    live, dead = invoice(1, "AUTHORISED", a), invoice(2, "DELETED", c)
    [op] = plan_group(group(a, c), [live, dead], new_status="AUTHORISED").ops
    assert (op.revision, op.original_key, op.original_target_id) == (3, live.key, "x-1")


def test_every_credit_note_with_credit_left_is_allocated():
    a, b, c = line("1", "3"), line("2", "1.5"), line("3", "2")
    inv = invoice(1, "AUTHORISED", a, b, c, due=65000)
    spent, fresh = credit(inv, 1, b, remaining=0), credit(inv, 2, c, remaining=20000)
    p = plan_group(group(a), [inv, spent, fresh], new_status="AUTHORISED")
    assert [(o.op, o.key, o.amount_minor) for o in p.ops] == [("allocate_credit", fresh.key, 20000)]


def test_a_kept_line_whose_wanted_twin_names_no_entries_is_not_reattributed():
    a = line("1", "3")
    bare = Line(a.description, a.quantity, a.unit_amount, a.amount_minor, a.account_code, a.tax_type)
    p = plan_group(group(bare), [invoice(1, "AUTHORISED", a)], new_status="AUTHORISED")
    assert (p.action, p.reattributed) == ("unchanged", [])


def test_the_explanation_lists_up_to_ten_entries_of_each_kind():
    old = [line(str(i), "1") for i in range(1, 13)]
    new = [line(str(i), "2") for i in range(1, 3)] + [line(str(i), "1") for i in range(20, 32)]
    p = plan_group(group(*new), [invoice(1, "AUTHORISED", *old)], new_status="AUTHORISED")
    assert p.explanation == ("new entries 20, 21, 22, 23, 24, 25, 26, 27, 28, 29; "
                             "changed entries 1, 2; "
                             "entries no longer billable 10, 11, 12, 3, 4, 5, 6, 7, 8, 9")
    grown = [line(str(i), "2") for i in range(1, 13)]
    q = plan_group(group(*grown), [invoice(1, "AUTHORISED", *old)], new_status="AUTHORISED")
    assert q.explanation == "changed entries 1, 10, 11, 12, 2, 3, 4, 5, 6, 7"
    late = plan_group(group(old[0], line("30", "1")), [invoice(1, "AUTHORISED", old[0])], new_status="AUTHORISED")
    assert late.explanation == "new entries 30"
    bare = Line("Fee", Decimal(1), Decimal(500), 50000, "200", "OUTPUT2")
    gone = plan_group(group(), [invoice(1, "AUTHORISED", bare)], new_status="AUTHORISED")
    assert gone.explanation == "1 line(s) replaced by 0"
    assert plan_group(group(bare), [invoice(1, "AUTHORISED", bare)], new_status="AUTHORISED").explanation == ""


def test_totals_add_up_every_write_of_a_currency():
    rows = [("GBP", "create_invoice", 100, 100), ("GBP", "create_invoice", 50, 50),
            ("GBP", "create_credit_note", 30, -30), ("GBP", "create_credit_note", 20, -20),
            ("GBP", "update_invoice", 70, -5), ("GBP", "void_invoice", 0, -40), ("EUR", "create_invoice", 9, 9)]
    assert totals_of(rows) == {
        "GBP": {"invoiced_minor": 150, "credited_minor": 50, "net_change_minor": 100 + 50 - 30 - 20 - 5 - 40,
                "gross_minor": 150 + 30 + 20 + 5 + 40},
        "EUR": {"invoiced_minor": 9, "credited_minor": 0, "net_change_minor": 9, "gross_minor": 9}}
    assert breaches_of(rows, Limits(max_total_minor={"GBP": 244, "EUR": 8})) == [
        "EUR: the plan writes 9 minor units, more than the limit of 8",
        "GBP: the plan writes 245 minor units, more than the limit of 244"]
