"""The invoice plan: what the accounting system should hold against what it holds, as document operations.

Pure: no I/O. The desired state of one *group* (entity × period × client: the invoice billing drafts)
is a list of lines; the current state is our documents in the accounting system (invoice revisions
and credit notes, each with its lines). Lines are compared by content (description — which carries
the line's source reference —, quantity, unit amount, amount, account, tax type), so the plan
converges whatever happened before: a crash between any two writes, a lost operational store, a
document changed by hand.

Per group, the plan is one action:

- ``create``: nothing posted yet → revision 1;
- ``unchanged``: the live lines are exactly the desired lines;
- ``update_draft``: only a draft (still editable) invoice changes — its lines are replaced in place,
  and it is authorised once the billing period has closed;
- ``void``: a draft invoice whose lines all went away is deleted (never an issued one);
- ``credit``: lines on an issued invoice went away or changed and nothing is to be rebilled →
  a credit note for exactly those lines, as billed, against the invoice that carries them;
- ``adjust``: lines on an issued invoice changed (edited hours, deleted entries, refunds, late
  entries) → a credit note for exactly the changed lines as billed, then a rebill (revision + 1) with
  their corrected values. Unchanged lines are never touched, never billed twice; the net effect is
  exactly the change, to the cent.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property

from sync_pipeline.domain import ids

LIVE_INVOICE_STATUSES = frozenset({"DRAFT", "SUBMITTED", "AUTHORISED", "PAID"})
EDITABLE_STATUSES = frozenset({"DRAFT", "SUBMITTED"})
DEAD_STATUSES = frozenset({"VOIDED", "DELETED"})
ACTIONS = ("create", "unchanged", "update_draft", "void", "credit", "adjust")
OPS = ("create_invoice", "update_invoice", "void_invoice", "create_credit_note", "allocate_credit")


def _norm(d: Decimal) -> str:
    """3.0, 3 and 3.000000 are the same quantity."""
    return format(Decimal(d).normalize(), "f")


@dataclass(frozen=True)
class Line:
    """One document line: what it says, and (when known) which source entries it bills."""

    description: str
    quantity: Decimal
    unit_amount: Decimal
    amount_minor: int
    account_code: str
    tax_type: str
    source_entry_ids: tuple[str, ...] = ()
    line_key: str = ""
    approved_by: str | None = None
    item_code: str | None = None
    tracking: tuple[tuple[str, str], ...] = ()  # (category, option)
    approved_at: str | None = None  # when the line's entries were approved (latest), with approved_by: who
    # the line's tax as billed (minor units); sent as Xero's TaxAmount so the document's tax is ours to the
    # cent (invoice-level rounding spreads the invoice's tax over its lines). Not part of the fingerprint:
    # the tax follows from the amount, the tax type and the rounding rule.
    tax_amount_minor: int | None = None

    @cached_property
    def fingerprint(self) -> str:
        """Identity of the line's content (not of its entries: those are named in the description)."""
        parts = [self.description, _norm(self.quantity), _norm(self.unit_amount), str(self.amount_minor),
                 self.account_code or "", (self.tax_type or "").upper(), self.item_code or "",
                 ";".join(f"{c}={o}" for c, o in sorted(self.tracking))]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]


@dataclass
class Doc:
    """One of our documents as the accounting system holds it."""

    key: str
    kind: str  # invoice | credit_note
    reference: str
    revision: int
    status: str
    lines: list[Line]
    target_id: str | None = None
    number: str | None = None
    original_key: str | None = None  # credit note: the invoice it credits
    credit_number: int | None = None  # credit note: its number against the original
    amount_due_minor: int = 0  # invoice: what is still owed
    remaining_credit_minor: int = 0  # credit note: what is not yet allocated
    allocated_minor: dict[str, int] = field(default_factory=dict)  # credit note: invoice target id → amount
    line_amount_types: str = "Exclusive"

    @property
    def live(self) -> bool:
        return self.status not in DEAD_STATUSES

    @property
    def subtotal_minor(self) -> int:
        return sum(li.amount_minor for li in self.lines)


@dataclass
class Group:
    """The desired state of one invoice group (what billing drafted)."""

    group_key: str  # the key of revision 1
    base_reference: str  # the reference of revision 1
    client_id: str
    client_name: str
    currency: str
    lines: list[Line]
    line_amount_types: str = "Exclusive"


@dataclass
class DocOp:
    """One write the plan asks for."""

    op: str
    key: str
    kind: str
    reference: str
    revision: int
    lines: list[Line] = field(default_factory=list)
    status: str | None = None  # the status the document should have after the write
    target_id: str | None = None  # existing document (update, void, allocate)
    original_key: str | None = None
    original_reference: str | None = None
    original_target_id: str | None = None
    amount_minor: int = 0  # subtotal written (allocation: amount allocated)
    delta_minor: int = 0  # change of the group's net billed subtotal
    line_amount_types: str = "Exclusive"  # a credit note mirrors the invoice it credits

    @property
    def source_entry_ids(self) -> list[str]:
        return sorted({e for li in self.lines for e in li.source_entry_ids})


@dataclass
class GroupPlan:
    group_key: str
    base_reference: str
    client_id: str
    client_name: str
    currency: str
    action: str
    ops: list[DocOp]
    desired_minor: int
    billed_minor: int  # net live subtotal before the plan
    kept_lines: int
    added: list[Line]
    removed: list[tuple[str, Line]]  # (invoice key, line)
    reattributed: list[tuple[str, Line]] = field(default_factory=list)  # (invoice key, desired line)
    explanation: str = ""
    line_amount_types: str = "Exclusive"

    @property
    def delta_minor(self) -> int:
        return self.desired_minor - self.billed_minor


def _counter(lines: list[Line]) -> Counter[str]:
    return Counter(li.fingerprint for li in lines)


def live_lines(docs: list[Doc]) -> dict[str, list[Line]]:
    """Per live invoice: its lines minus those its live credit notes credit (by content)."""
    out: dict[str, list[Line]] = {}
    credited: dict[str, Counter[str]] = {}
    for cn in docs:
        if cn.kind == "credit_note" and cn.live and cn.original_key:
            credited.setdefault(cn.original_key, Counter()).update(_counter(cn.lines))
    for inv in docs:
        if inv.kind != "invoice" or inv.status not in LIVE_INVOICE_STATUSES:
            continue
        left = credited.get(inv.key, Counter()).copy()
        keep: list[Line] = []
        for li in inv.lines:
            if left[li.fingerprint] > 0:
                left[li.fingerprint] -= 1
            else:
                keep.append(li)
        out[inv.key] = keep
    return out


def _explain(added: list[Line], removed: list[tuple[str, Line]]) -> str:
    def entries(lines: list[Line]) -> set[str]:
        return {e for li in lines for e in li.source_entry_ids}

    was, now = entries([li for _, li in removed]), entries(added)
    parts = []
    if now - was:
        parts.append(f"new entries {', '.join(sorted(now - was)[:10])}")
    if was & now:
        parts.append(f"changed entries {', '.join(sorted(was & now)[:10])}")
    if was - now:
        parts.append(f"entries no longer billable {', '.join(sorted(was - now)[:10])}")
    if not parts and (added or removed):
        parts.append(f"{len(removed)} line(s) replaced by {len(added)}")
    return "; ".join(parts)


def plan_group(group: Group | None, docs: list[Doc], *, new_status: str, base_key: str | None = None,
               base_reference: str | None = None, client_id: str | None = None, currency: str | None = None,
               client_name: str = "", line_amount_types: str = "Exclusive") -> GroupPlan:
    """Plan one group: ``group`` is what billing wants (None: nothing any more), ``docs`` what exists.

    ``new_status`` is the status new invoices get (DRAFT while the period is open, AUTHORISED once it
    closed); a draft that survives a closed period is authorised by its update.
    """
    if group is not None:
        base_key, base_reference = group.group_key, group.base_reference
        client_id, currency, client_name = group.client_id, group.currency, group.client_name
        line_amount_types = group.line_amount_types
    assert base_key and base_reference and client_id is not None and currency
    desired = list(group.lines) if group else []
    invoices = sorted((d for d in docs if d.kind == "invoice"), key=lambda d: d.revision)
    live = live_lines(docs)
    live_invoices = [i for i in invoices if i.key in live]
    # match desired lines to live lines: issued invoices first, so changes land on drafts where possible
    remaining = _counter(desired)
    kept: dict[str, list[Line]] = {}
    removed: list[tuple[str, Line]] = []
    for inv in sorted(live_invoices, key=lambda i: (i.status in EDITABLE_STATUSES, i.revision)):
        kept[inv.key] = []
        for li in live[inv.key]:
            if remaining[li.fingerprint] > 0:
                remaining[li.fingerprint] -= 1
                kept[inv.key].append(li)
            else:
                removed.append((inv.key, li))
    by_fp: dict[str, list[Line]] = {}
    for li in desired:
        by_fp.setdefault(li.fingerprint, []).append(li)
    added: list[Line] = []
    for fp, n in remaining.items():
        if n > 0:
            added.extend(by_fp[fp][-n:])
    added.sort(key=lambda li: desired.index(li))
    # kept lines whose entries changed without changing the document (same content): re-attribute
    reattributed: list[tuple[str, Line]] = []
    for inv_key, lines in kept.items():
        for li in lines:
            want = next((d for d in by_fp.get(li.fingerprint, []) if d.source_entry_ids), None)
            if want is not None and li.source_entry_ids and want.source_entry_ids != li.source_entry_ids:
                reattributed.append((inv_key, want))

    billed = sum(li.amount_minor for lines in live.values() for li in lines)
    desired_minor = sum(li.amount_minor for li in desired)
    inv_by_key = {i.key: i for i in invoices}
    next_revision = 1 + max((i.revision for i in invoices), default=0)
    ops: list[DocOp] = []

    # 1. credit notes for lines removed from issued invoices (one per invoice, numbered per invoice)
    for inv in live_invoices:
        if inv.status in EDITABLE_STATUSES:
            continue
        gone = [li for k, li in removed if k == inv.key]
        if not gone:
            continue
        n = 1 + max((d.credit_number or 0 for d in docs if d.kind == "credit_note" and d.original_key == inv.key),
                    default=0)
        amount = sum(li.amount_minor for li in gone)
        ops.append(DocOp("create_credit_note", ids.credit_note_key(inv.key, n), "credit_note",
                         ids.credit_note_reference(inv.reference, n), inv.revision, gone, status="AUTHORISED",
                         original_key=inv.key, original_reference=inv.reference, original_target_id=inv.target_id,
                         amount_minor=amount, delta_minor=-amount, line_amount_types=inv.line_amount_types))

    # 2. drafts: replace their lines (kept + everything added lands on the newest draft), or delete them
    drafts = [i for i in live_invoices if i.status in EDITABLE_STATUSES]
    target_draft = drafts[-1] if drafts else None
    for d in drafts:
        new_lines = kept.get(d.key, []) + (added if d is target_draft else [])
        if not new_lines:
            ops.append(DocOp("void_invoice", d.key, "invoice", d.reference, d.revision, [], status="DELETED",
                             target_id=d.target_id, amount_minor=0, delta_minor=-sum(li.amount_minor for li in live[d.key])))
            continue
        old = live[d.key]
        status = new_status if new_status not in EDITABLE_STATUSES else d.status
        if _counter(new_lines) != _counter(old) or [li.fingerprint for li in new_lines] != [li.fingerprint for li in old] \
                or status != d.status:
            new_amount = sum(li.amount_minor for li in new_lines)
            ops.append(DocOp("update_invoice", d.key, "invoice", d.reference, d.revision, new_lines, status=status,
                             target_id=d.target_id, amount_minor=new_amount,
                             delta_minor=new_amount - sum(li.amount_minor for li in old),
                             line_amount_types=line_amount_types))

    # 3. added lines with no draft to land on: a new invoice (revision 1, or a rebill)
    if added and target_draft is None:
        key = ids.revision_key(base_key, next_revision)
        ref = base_reference if next_revision == 1 else ids.revision_reference(base_reference, next_revision)
        amount = sum(li.amount_minor for li in added)
        prev = live_invoices[-1] if live_invoices else (invoices[-1] if invoices else None)
        ops.append(DocOp("create_invoice", key, "invoice", ref, next_revision, added, status=new_status,
                         original_key=prev.key if prev else None, original_reference=prev.reference if prev else None,
                         original_target_id=prev.target_id if prev else None, amount_minor=amount, delta_minor=amount,
                         line_amount_types=line_amount_types))

    # 4. allocations still owed: a live credit note with credit left, against its invoice with an amount due
    for cn in docs:
        if cn.kind != "credit_note" or not cn.live or cn.remaining_credit_minor <= 0 or not cn.target_id:
            continue
        inv = inv_by_key.get(cn.original_key or "")
        if inv is None or not inv.target_id or inv.status != "AUTHORISED" or inv.amount_due_minor <= 0:
            continue
        amount = min(cn.remaining_credit_minor, inv.amount_due_minor)
        ops.append(DocOp("allocate_credit", cn.key, "credit_note", cn.reference, cn.revision, [], target_id=cn.target_id,
                         original_key=inv.key, original_reference=inv.reference, original_target_id=inv.target_id,
                         amount_minor=amount, delta_minor=0))

    writes = {o.op for o in ops}
    if not live_invoices and "create_invoice" in writes:
        action = "create"
    elif "create_credit_note" in writes and "create_invoice" in writes:
        action = "adjust"
    elif "create_credit_note" in writes:
        action = "adjust" if "update_invoice" in writes else "credit"
    elif "create_invoice" in writes:
        action = "adjust"  # late entries on an issued invoice: a rebill
    elif "void_invoice" in writes and "update_invoice" not in writes:
        action = "void"
    elif "update_invoice" in writes or "void_invoice" in writes:
        action = "update_draft"
    else:
        action = "unchanged"  # allocations alone finish an earlier adjustment
    return GroupPlan(base_key, base_reference, client_id, client_name, currency, action, ops, desired_minor, billed,
                     sum(len(v) for v in kept.values()), added, removed, reattributed, _explain(added, removed),
                     line_amount_types)


@dataclass(frozen=True)
class Limits:
    """Optional guard: the most a single plan may write before a person looks at it."""

    max_invoices: int | None = None
    max_total_minor: dict[str, int] = field(default_factory=dict)  # per currency, gross amount written


WRITES = ("create_invoice", "update_invoice", "void_invoice", "create_credit_note")


def _op_rows(plans: list[GroupPlan]) -> list[tuple[str, str, int, int]]:
    return [(p.currency, o.op, o.amount_minor, o.delta_minor) for p in plans for o in p.ops]


def totals_of(rows: list[tuple[str, str, int, int]]) -> dict[str, dict[str, int]]:
    """Per currency from (currency, op, amount, delta) rows: invoiced, credited, net change and gross.

    Gross is what the guard limits: new invoices at their amount, every other write at the size
    of the change it makes.
    """
    out: dict[str, dict[str, int]] = {}
    for ccy, op, amount, delta in rows:
        t = out.setdefault(ccy, {"invoiced_minor": 0, "credited_minor": 0, "net_change_minor": 0, "gross_minor": 0})
        if op == "create_invoice":
            t["invoiced_minor"] += amount
            t["gross_minor"] += amount
        elif op in WRITES:
            t["gross_minor"] += abs(delta)
        if op == "create_credit_note":
            t["credited_minor"] += amount
        t["net_change_minor"] += delta
    return out


def breaches_of(rows: list[tuple[str, str, int, int]], limits: Limits) -> list[str]:
    """What exceeds the limits, in words; empty when the plan may post."""
    problems: list[str] = []
    n = sum(1 for _, op, _, _ in rows if op in WRITES)
    if limits.max_invoices is not None and n > limits.max_invoices:
        problems.append(f"the plan writes {n} documents, more than the limit of {limits.max_invoices}")
    for ccy, t in sorted(totals_of(rows).items()):
        cap = limits.max_total_minor.get(ccy)
        if cap is not None and t["gross_minor"] > cap:
            problems.append(f"{ccy}: the plan writes {t['gross_minor']} minor units, more than the limit of {cap}")
    return problems


def plan_totals(plans: list[GroupPlan]) -> dict[str, dict[str, int]]:
    return totals_of(_op_rows(plans))


def invoices_written(plans: list[GroupPlan]) -> int:
    return sum(1 for _, op, _, _ in _op_rows(plans) if op in WRITES)


def guard_breaches(plans: list[GroupPlan], limits: Limits) -> list[str]:
    return breaches_of(_op_rows(plans), limits)
