"""Trace ids: one id that follows a change from the sensor tick (or webhook) that noticed it to the ledger line.

A trace id is 32 lowercase hex digits (the W3C Trace Context / OpenTelemetry trace-id format). The change-feed
sensor mints one at the tick that notices a change; the Xero webhook receiver mints one when a delivery arrives and
stores it with its events, and the sensor that turns them into a run puts that one on the run's tags
(:data:`TRACE_TAG`); a run launched without one (by hand,
from the UI, a backfill) is traced under its run id (a UUID: the same 32 hex digits without dashes). Posting writes
the run's trace id onto the ledger rows it wrote, so ``sync-pipeline trace`` prints it with the run ids.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping

TRACE_TAG = "sync_pipeline/trace_id"
LINKED_TRACES_TAG = "sync_pipeline/linked_traces"  # other changes coalesced into the run (comma separated)
_HEX32 = re.compile(r"^[0-9a-f]{32}$")


def new_trace_id() -> str:
    """A fresh random trace id (never all zeros, which W3C reserves as invalid)."""
    while True:
        tid = secrets.token_hex(16)
        if tid != "0" * 32:
            return tid


def is_trace_id(value: str) -> bool:
    return bool(_HEX32.match(value)) and value != "0" * 32


def trace_id_of(tags: Mapping[str, str], run_id: str) -> str:
    """The run's trace id: its tag when a sensor or webhook set a valid one, else derived from the run id."""
    tagged = str(tags.get(TRACE_TAG) or "").lower()
    if is_trace_id(tagged):
        return tagged
    derived = run_id.replace("-", "").lower()
    return derived if is_trace_id(derived) else new_trace_id()
