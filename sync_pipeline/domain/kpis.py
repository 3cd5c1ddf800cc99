"""Billing-health KPIs of one entity × billing period, from plain records (formulas in docs/kpis.md).

Pure: the service (``services.kpis``) reads the warehouse and the operational store and hands these functions
lists of small records; each function returns a :class:`Kpi` with the value and what it was computed from, so
the number in the Dagster UI and on the billing-health page can be traced to its parts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

KPI_NAMES = ("touchless_billing", "billing_corrections", "close_to_invoice", "days_sales_outstanding",
             "sync_exceptions")


@dataclass(frozen=True)
class Kpi:
    """A KPI value (None when there is nothing to measure yet) and the figures behind it."""

    name: str
    value: Decimal | None
    unit: str
    parts: dict[str, Decimal | int | str] = field(default_factory=dict)


def _ratio(num: Decimal, den: Decimal, places: int = 4) -> Decimal | None:
    if den == 0:
        return None
    return (num / den).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def _days(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


# -- 1. share of billable time invoiced without a manual step ------------------------------------------------

@dataclass(frozen=True)
class BillableTime:
    """A billable (or held-for-review) time entry: its hours, whether it is billed on a live document, and the
    manual step it needed (released from review by a person, corrected by a credit note, posted by a person),
    or None."""

    entry_id: str
    hours: Decimal
    billed: bool
    manual_step: str | None = None


def touchless_billing(entries: Iterable[BillableTime]) -> Kpi:
    """Hours billed without a manual step ÷ billable hours of the period (billed or not)."""
    total = touchless = Decimal(0)
    steps: dict[str, int] = {}
    for e in entries:
        total += e.hours
        if e.billed and e.manual_step is None:
            touchless += e.hours
        if e.manual_step is not None:
            steps[e.manual_step] = steps.get(e.manual_step, 0) + 1
    unbilled = total - touchless
    return Kpi("touchless_billing", _ratio(touchless, total), "share of billable hours",
               {"billable_hours": total, "touchless_hours": touchless, "other_hours": unbilled,
                **{f"entries_{k}": v for k, v in sorted(steps.items())}})


# -- 2. billing corrections: credit notes and rebills per invoice issued -------------------------------------

@dataclass(frozen=True)
class Document:
    """A document we posted: ``invoice`` (revision 1 is the original, 2+ a rebill) or ``credit_note``."""

    kind: str
    revision: int | None
    status: str | None = None


def billing_corrections(documents: Iterable[Document]) -> Kpi:
    """(credit notes + rebills) ÷ invoices issued (revision 1, not voided before it was sent)."""
    issued = credit_notes = rebills = 0
    for d in documents:
        if d.status in ("DELETED", "VOIDED") and d.kind == "invoice" and (d.revision or 1) == 1:
            continue  # withdrawn draft: never reached the client
        if d.kind == "credit_note":
            credit_notes += 1
        elif (d.revision or 1) > 1:
            rebills += 1
        else:
            issued += 1
    return Kpi("billing_corrections", _ratio(Decimal(credit_notes + rebills), Decimal(issued)),
               "corrections per invoice issued",
               {"invoices_issued": issued, "credit_notes": credit_notes, "rebills": rebills})


# -- 3. time from period close to invoice posted ---------------------------------------------------------------

def close_to_invoice(period_closed_at: datetime, posted_at: Iterable[datetime]) -> Kpi:
    """Median days from the period's close (local midnight after its last day) to each original invoice
    being posted; also the slowest. Negative when an invoice was posted before the close (a draft)."""
    days = sorted(Decimal((p - period_closed_at).total_seconds()) / Decimal(86400) for p in posted_at)
    if not days:
        return Kpi("close_to_invoice", None, "days (median)", {"invoices": 0})
    mid = len(days) // 2
    median = days[mid] if len(days) % 2 else (days[mid - 1] + days[mid]) / 2
    return Kpi("close_to_invoice", _days(median), "days (median)",
               {"invoices": len(days), "slowest_days": _days(days[-1]), "fastest_days": _days(days[0])})


# -- 4. days sales outstanding from the payments pulled back ---------------------------------------------------

@dataclass(frozen=True)
class Receivable:
    """An invoice as the accounting system holds it: date, gross total (minor units) and the payments (and
    credits) applied to it, each ``(date, amount_minor)``."""

    invoice_date: date
    total_minor: int
    settlements: tuple[tuple[date, int], ...] = ()


def days_sales_outstanding(receivables: Iterable[Receivable], as_of: date) -> Kpi:
    """Per invoice, the days each part of its total stayed unpaid, weighted by amount (a part paid on day d
    counts d − invoice date; what is still open counts ``as_of`` − invoice date); the KPI is the mean over
    the period's invoices, so invoices in different currencies weigh the same."""
    per_invoice: list[Decimal] = []
    open_minor = paid_minor = fully_paid = 0
    for r in receivables:
        if r.total_minor <= 0:
            continue
        weighted = Decimal(0)
        left = r.total_minor
        for day, amount in sorted(r.settlements):
            part = min(max(amount, 0), left)
            weighted += Decimal(part) * max((day - r.invoice_date).days, 0)
            left -= part
        weighted += Decimal(left) * max((as_of - r.invoice_date).days, 0)
        per_invoice.append(weighted / Decimal(r.total_minor))
        open_minor += left
        paid_minor += r.total_minor - left
        fully_paid += left == 0
    if not per_invoice:
        return Kpi("days_sales_outstanding", None, "days", {"invoices": 0, "as_of": as_of.isoformat()})
    mean = sum(per_invoice, Decimal(0)) / len(per_invoice)
    return Kpi("days_sales_outstanding", _days(mean), "days",
               {"invoices": len(per_invoice), "fully_paid": fully_paid, "as_of": as_of.isoformat(),
                "share_still_open": _ratio(Decimal(open_minor), Decimal(open_minor + paid_minor)) or Decimal(0)})


# -- 5. sync exceptions per entity and team ---------------------------------------------------------------------

# Who acts on each kind of sync exception: the team whose work fixes it.
TEAM_OF = {
    "quarantined_entries": "time tracking",  # bad hours, unknown project: fixed where the time is logged
    "quarantined_expenses": "time tracking",
    "held_entries": "time tracking",  # unapproved or over the daily limit: approved or decided by a lead
    "posting_failures": "billing",  # refused by the accounting system, parked as dead letters
    "held_documents": "billing",  # over the posting limits or awaiting approval
    "reconciliation_differences": "accounting",  # missing, extra or mismatched documents
    "unreadable_documents": "accounting",  # accounting documents that did not read strictly
}
TEAMS = ("time tracking", "billing", "accounting")


def sync_exceptions(counts: dict[str, int]) -> Kpi:
    """Open sync exceptions of the partition, in total and per team (``TEAM_OF``)."""
    unknown = sorted(set(counts) - set(TEAM_OF))
    if unknown:
        raise ValueError(f"sync exception kind(s) {', '.join(unknown)} have no team: add them to TEAM_OF")
    per_team = dict.fromkeys(TEAMS, 0)
    for kind, n in counts.items():
        per_team[TEAM_OF[kind]] += int(n)
    total = sum(per_team.values())
    return Kpi("sync_exceptions", Decimal(total), "open exceptions",
               {**{f"team {t}": n for t, n in per_team.items()}, **{k: int(v) for k, v in sorted(counts.items())}})
