"""Stable business identifiers.

Identity derives from business facts, never from request ids: an invoice's key from
(entity, client, period, grouping, revision); a line's from its source entries.
Re-running with the same facts yields the same keys, which is what makes posting
idempotent.
"""

from __future__ import annotations

import hashlib
import re
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


# -- revisions, credit notes and lines on documents ------------------------------------------
_REF_RE = re.compile(
    r"^(?P<prefix>[A-Z]+)-(?P<entity>.+)-(?P<period>\d{4}-\d{2})-C(?P<client>.+?)-R(?P<revision>\d+)"
    r"(?:-CN(?P<credit>\d+))?$"
)


def revision_key(base_key: str, revision: int) -> str:
    """Business identity of revision ``revision`` of the invoice whose first revision is ``base_key``.

    Revision 1 is the base key itself (what billing drafts); a rebill after a late change is
    revision 2, 3, ... and gets a key derived from the base, stable across runs.
    """
    if revision < 1:
        raise ValueError(f"revision must be >= 1, got {revision}")
    return base_key if revision == 1 else f"inv_{_digest(base_key, 'revision', str(revision))}"


def revision_reference(base_reference: str, revision: int) -> str:
    """``SP-e-2026-10-C1-R1`` → ``SP-e-2026-10-C1-R<revision>``."""
    m = _REF_RE.match(base_reference)
    if not m or m.group("credit") or m.group("revision") != "1":
        raise ValueError(f"not the reference of a first revision: {base_reference!r}")
    return f"{base_reference[: m.start('revision')]}{revision}"


def credit_note_key(original_key: str, number: int) -> str:
    """Business identity of the ``number``-th credit note against one invoice."""
    return f"cn_{_digest(original_key, 'credit', str(number))}"


def credit_note_reference(original_reference: str, number: int) -> str:
    """A credit note's reference names the invoice it corrects: ``SP-…-R1-CN1``."""
    return f"{original_reference}-CN{number}"


def parse_reference(reference: str) -> dict[str, str | int | None] | None:
    """Split one of our references into entity, period, client, revision and credit note number."""
    m = _REF_RE.match(reference or "")
    if not m or m.group("prefix") != REFERENCE_PREFIX:
        return None
    return {"entity": m.group("entity"), "period": m.group("period"), "client_id": m.group("client"),
            "revision": int(m.group("revision")),
            "credit_note": int(m.group("credit")) if m.group("credit") else None}


def line_reference(line_key_value: str) -> str:
    """The text a document line carries to name its source entries (resolved in the posted-lines store)."""
    return f"ref {line_key_value}"
