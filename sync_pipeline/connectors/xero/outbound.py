"""What the Xero connector sends stays inside Xero's official spec, checked before it leaves.

Two steps, both before any HTTP:

1. Fitting (payload builders): free text that only describes gets shortened to the spec's limit, ending in
   ``…``; the full text stays where it came from (the billing tables' ``description``, the customer record).

   | field | limit | source of the limit |
   | --- | --- | --- |
   | Contact ``Name`` | 255 | spec (``Contact.Name``) |
   | line ``Description`` | 4,000 | Xero's documentation; the spec sets none on ``LineItem`` (its ``Item.Description`` is 4,000) |

2. Checking (every write): the body is checked against the spec's request schema of its operation (types,
   enums, ``maxLength``, GUIDs, required parts). A record that still breaks it — an identifier that cannot
   be shortened without changing what it names (``ContactNumber`` over 50, a tracking category name over 100)
   — is refused with the spec's reason and never sent: in a batch, that record alone fails (the posting
   service quarantines it with the reason); any other write raises :class:`OutboundContractError`.
"""

from __future__ import annotations

from typing import Any

from sync_pipeline.connectors.http import PermanentError
from sync_pipeline.contracts import xero_spec

ELLIPSIS = "…"
LINE_DESCRIPTION_MAX = 4000


class OutboundContractError(PermanentError):
    """A payload Xero would refuse (it breaks the official spec); it was not sent."""


def shorten(text: str, limit: int | None) -> str:
    """``text`` within ``limit`` characters: cut, ending in an ellipsis, when longer."""
    if limit is None or len(text) <= limit:
        return text
    return text[:limit - 1] + ELLIPSIS


def contact_name(name: str) -> str:
    return shorten(name, xero_spec.max_length("Contact", "Name"))


def line_description(text: str) -> str:
    return shorten(text, LINE_DESCRIPTION_MAX)


def item_problems(collection: str, item: dict[str, Any]) -> list[str]:
    """Why the spec refuses one item of ``PUT /{collection}`` (empty when it conforms)."""
    op = xero_spec.find_operation("PUT", f"/{collection}")
    if op is None or op.body is None:
        return []
    _, problems = xero_spec.check({collection: [item]}, op.body)
    return [f"refused before sending to Xero: {str(p).removeprefix(f'{collection}[0].')}" for p in problems]


def check_write(method: str, path: str, body: Any) -> None:
    """Raise :class:`OutboundContractError` when ``body`` breaks the spec's schema of ``method path``."""
    op = xero_spec.find_operation(method, f"/{path}")
    if op is None or op.body is None:
        return
    _, problems = xero_spec.check(body, op.body)
    if problems:
        shown = "; ".join(str(p) for p in problems[:10])
        raise OutboundContractError(f"not sent: Xero's spec refuses this {method} {path} body: {shown}",
                                    system="xero", method=method, url=path)
