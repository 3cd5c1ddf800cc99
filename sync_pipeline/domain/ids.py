"""Stable business identifiers.

Identity derives from business facts, never from request ids: an invoice's key from
(entity, client, period, grouping, revision); a line's from its source entries.
Re-running with the same facts yields the same keys, which is what makes posting
idempotent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

REFERENCE_PREFIX = "SP"


def _digest(*parts: str, length: int = 16) -> str:
    h = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return h[:length]


def invoice_key(entity: str, client_id: str, period: str, grouping: str = "client", revision: int = 1) -> str:
    """Business identity of an invoice; stable across runs and machines."""
    return f"inv_{_digest(entity, str(client_id), period, grouping, str(revision))}"


def invoice_reference(entity: str, client_id: str, period: str, revision: int = 1) -> str:
    """Human-readable reference written into the accounting document.

    It is also how we find our own documents in the accounting system after a crash
    between the POST and recording its result.
    """
    return f"{REFERENCE_PREFIX}-{entity}-{period}-C{client_id}-R{revision}"


def reference_prefix(entity: str, period: str) -> str:
    return f"{REFERENCE_PREFIX}-{entity}-{period}-"


def line_key(source_entry_ids: Iterable[str]) -> str:
    ids = sorted(str(i) for i in source_entry_ids)
    return f"line_{_digest(*ids)}"


def contact_number(source_system: str, client_id: str) -> str:
    """Stable contact number linking an accounting contact to its source client."""
    return f"{source_system.upper()}-{client_id}"


def payload_hash(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()
