"""``sync-pipeline trace``: one trail from a time entry to the bank, with who did each step and when.

    sync-pipeline trace 1001                       a time entry (its id in the project system)
    sync-pipeline trace expense:9001               an expense (as invoice lines cite it)
    sync-pipeline trace INV-00001                  an invoice: its number, our reference (SP-…) or its id
    sync-pipeline trace 090:DEMO-GBP-0001          a bank line: its line id, or the bank's reference alone
    sync-pipeline trace 1001 --entity acme-uk --kind entry --json

Prints the entry (person, hours, who approved it when), the billable (rate in force, amount), the invoice line
and the invoice (number, net / tax / gross, who triggered the posting in which run, the four-eyes approval), the
settlements pulled back from the accounting system, and the bank line with its matching decision and history.
Reads the warehouse (SYNC_PIPELINE_WAREHOUSE) and the operational store (SYNC_PIPELINE_STORE_URL). Who may: ``trace`` in
``domain/access.py``; each trace is recorded in the audit trail's access stream (it shows people and amounts).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from sync_pipeline.cli import UserError
from sync_pipeline.cli.posting import store, who


def render_entry(e: dict[str, Any]) -> str:
    """One time entry or expense of a trail, as text."""
    return "\n".join(_entry_text(e))


def _approval_line(e: dict[str, Any]) -> str:
    return f"  approval: {e.get('approval_status') or '-'} by {e.get('approved_by') or '-'} at {e.get('approved_at') or '-'}"


def _not_billed_line(e: dict[str, Any]) -> str:
    return f"  not billed: {e.get('disposition') or '?'}" + (f" ({e['reason']})" if e.get("reason") else "")


def _expense_text(e: dict[str, Any]) -> list[str]:
    out = [f"Expense {e['entry_id']}  {e['entity']} {e['period']}  ({e.get('source') or '?'})",
           f"  {e.get('person')}: {e.get('cost')} {e.get('category') or ''} on {e.get('date')}, {e.get('client')} / "
           f"{e.get('project')}" + (f" (receipt {e['receipt_url']})" if e.get("receipt_url") else ""),
           _approval_line(e)]
    b = e.get("billable")
    if b:
        out.append(f"  billable: {b['cost']} {b['currency']} + {b['markup_percent']} % markup ({b['markup_source']})"
                   f" = {b['value']} {b['currency']}, invoiced in {b['invoice_currency']}")
    else:
        out.append(_not_billed_line(e))
    return out


def _entry_text(e: dict[str, Any]) -> list[str]:
    if e.get("missing"):
        what = "Expense" if e.get("kind") == "expense" else "Time entry"
        return [f"{what} {e['entry_id']} ({e['entity']}): not in the warehouse (extract its period first)"]
    if e.get("kind") == "expense":
        return _expense_text(e)
    out = [f"Time entry {e['entry_id']}  {e['entity']} {e['period']}  ({e.get('source') or '?'})",
           f"  {e.get('person')}: {e.get('hours')} h on {e.get('date')}, {e.get('client')} / {e.get('project')} / "
           f"{e.get('task')}",
           _approval_line(e)]
    b = e.get("billable")
    if b:
        out.append(f"  billable: {b['hours']} h x {b['rate']} {b['currency']} (rate source {b['rate_source']}, "
                   f"list {b['list_rate']}) = {b['value']} {b['currency']}, invoiced in {b['invoice_currency']}")
    else:
        out.append(_not_billed_line(e))
    return out


def _invoice_text(inv: dict[str, Any]) -> list[str]:
    cur = inv["currency"]
    word = "Credit note" if inv["kind"] == "credit_note" else "Invoice"
    out = [f"{word} {inv['number'] or '(no number yet)'}  {inv['reference']}  id {inv['target_id']}  "
           f"ledger {inv['status']}, accounting system {inv['target_status'] or '-'}",
           f"  net {inv['net']}  tax {inv['tax'] or '-'}  gross {inv['gross'] or '-'} {cur}; paid {inv['paid'] or '-'},"
           f" due {inv['due'] or '-'}; dated {inv['date'] or '-'}, due {inv['due_date'] or '-'}",
           f"  posted by {inv['posted_by']} at {inv['posted_at']} in run {inv['run_id']}"
           + (f" (trace {inv['trace_id']})" if inv.get("trace_id") else ""),
           f"  four eyes: plan {str(inv['plan_hash'] or '-')[:12]} by {inv['plan_created_by'] or '-'}, approved by "
           f"{inv['four_eyes_approver'] or '-'} at {inv['four_eyes_approved_at'] or '-'}"]
    for li in inv["lines"]:
        out.append(f"  line {li['line_no']}: {li['description']}  {li['quantity']} x {li['unit_amount']} = "
                   f"{li['amount']} {li['currency']}  (entries {', '.join(li['entries'])}; approved by "
                   f"{li['approved_by'] or '-'} at {li['approved_at'] or '-'})")
    for p in inv["payments"]:
        out.append(f"  settlement: {p['kind']} {p['amount']} {p['currency']} on {p['date']} ({p['status']}, id "
                   f"{p['id']}{', ref ' + p['reference'] if p.get('reference') else ''})")
    if not inv["payments"]:
        out.append("  settlement: none pulled back yet")
    for c in inv.get("changes_received", []):
        out.append(f"  change received: {c['source']} {c['event']} at {c['at']}, received {c['received_at']}"
                   + (f" (trace {c['trace_id']})" if c.get("trace_id") else ""))
    return out


def _bank_text(b: dict[str, Any]) -> list[str]:
    out = [f"Bank line {b['line_id']}  {b['date']}  {b['amount']} {b['currency']}  {b.get('payer') or ''}  "
           f"{b.get('description') or ''}".rstrip(),
           f"  decision {b['decision_id']}: {b['outcome']} by rule {b['rule']}"
           + (f" ({b['model']})" if b.get("model") else "")
           + f", confidence {b['confidence']:.2f}, status {b['status']}; decided by {b['decided_by']} at "
           f"{b['decided_at']}" + (f" in run {b['run_id']}" if b.get("run_id") else "")
           + (f" (trace {b['trace_id']})" if b.get("trace_id") else "")]
    for a in b["allocations"]:
        out.append(f"  applies {a['applied']} {a['currency']} to {a['invoice_number'] or a['invoice_id']}"
                   + (f" (payment {a['payment_id']})" if a.get("payment_id") else ""))
    for h in b["history"]:
        out.append(f"  {h['at']}  {h['actor']}: {h['action']}" + (f" — {h['text']}" if h.get("text") else ""))
    return out


def render(trail: dict[str, Any]) -> str:
    """The trail as text for a person, in the order the money moved."""
    out = [f"Trace of {trail['start']['kind'].replace('_', ' ')} {trail['start']['ref']}", ""]
    for e in trail["entries"]:
        out += [*_entry_text(e), ""]
    for inv in trail["invoices"]:
        out += [*_invoice_text(inv), ""]
    for b in trail["bank_lines"]:
        out += [*_bank_text(b), ""]
    if not trail["bank_lines"]:
        out += ["Bank: no bank line matched to it yet", ""]
    out.append(f"Runs: {', '.join(trail['run_ids']) or '-'}")
    if trail.get("trace_ids"):
        out.append(f"Trace ids: {', '.join(trail['trace_ids'])}")
    return "\n".join(out)


def cmd_trace(args: argparse.Namespace) -> int:
    from sync_pipeline.defs import settings
    from sync_pipeline.services.trace import TraceNotFound, trace
    from sync_pipeline.store import audit
    from sync_pipeline.store.warehouse import Warehouse

    s = store()
    try:
        trail = trace(s, Warehouse(settings.warehouse_root()), args.ref, kind=args.kind, entity=args.entity)
    except TraceNotFound as e:
        raise UserError(str(e)) from None
    audit.record_access(s, actor=who(args), what="trace", subject=f"{trail.start['kind']} {args.ref}",
                        entity=args.entity, detail={"invoices": [i["reference"] for i in trail.invoices]})
    print(json.dumps(trail.as_dict(), indent=2, default=str) if args.json else render(trail.as_dict()))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("trace", help="one trail from a time entry, invoice or bank line: who did each step, when",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("ref", help="a time entry id, an invoice number / reference / id, or a bank line id / reference")
    p.add_argument("--kind", choices=["entry", "invoice", "bank_line"],
                   help="what REF is (guessed otherwise: an invoice, then a bank line, else a time entry)")
    p.add_argument("--entity", help="only this entity (entry ids are per project system)")
    p.add_argument("--json", action="store_true", help="the trail as JSON, for machines")
    p.set_defaults(func=cmd_trace)
