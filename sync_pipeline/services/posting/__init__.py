"""Posting: plan what the accounting system should hold, then apply the plan exactly once.

1. **Plan** (``plan.build_plan``, a dry run): the desired state is what billing drafted for the partition
   (``desired``); the current state is our documents in the accounting system — every invoice revision and credit
   note under the partition's reference prefix, read in bulk through the ``AccountingTarget`` — joined with the
   operational store (``state``). ``domain.invoice_plan`` turns the difference into document operations per invoice
   group: create, update a draft, void a draft, credit, adjust.
2. **Apply** (``apply.apply_plan``): the approval and the guard come first; then contacts (``contacts``: matched by
   customer number or created, in batches), voids and draft updates, credit notes, new invoices and rebills
   (batches of the target's size), and credit allocations. The documents sent are neutral drafts (``drafts``);
   every write carries an idempotency key derived from its business keys and drafts; the intent is recorded in the
   sync ledger before the request and the result after it (``ledger``), so a crash anywhere is recovered by the
   next plan (which reads the accounting system again). Transient errors are retried by the HTTP layer and, when
   they persist, leave the document pending for the next run; permanent errors park the write in the dead-letter
   store with its payload, error, attempts and source records. ``results``: the posted-invoices frame.
"""

from sync_pipeline.services.posting.apply import apply_plan, describe_error, post_invoices
from sync_pipeline.services.posting.desired import desired_groups
from sync_pipeline.services.posting.ledger import Outcome, PostingRun
from sync_pipeline.services.posting.plan import PLAN_COLUMNS, Plan, build_plan, op_content_hash, plan_drift, plan_frame
from sync_pipeline.services.posting.results import RESULT_COLUMNS, PostingResult, result_rows
from sync_pipeline.services.posting.state import PartitionState, PostingBlocked, load_state, target_line


class PostingIncomplete(RuntimeError):
    """Some writes could not be confirmed (the target kept failing); they are pending, not lost."""


__all__ = ["PLAN_COLUMNS", "RESULT_COLUMNS", "Outcome", "PartitionState", "Plan", "PostingBlocked",
           "PostingIncomplete", "PostingResult", "PostingRun", "apply_plan", "build_plan", "describe_error",
           "desired_groups", "load_state", "op_content_hash", "plan_drift", "plan_frame", "post_invoices",
           "result_rows", "target_line"]
