"""JSON codec for API payloads: Decimals in, Decimals out, never a binary float.

``simplejson`` writes a Decimal as a JSON number with its exact digits (the stdlib
``json`` can only write it as a string or via float), and we parse numbers with
``parse_float=Decimal``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import simplejson


def dumps(obj: Any) -> bytes:
    return simplejson.dumps(obj, use_decimal=True, separators=(",", ":"), default=str).encode("utf-8")


def loads(data: bytes | str) -> Any:
    return simplejson.loads(data, use_decimal=True) if data else None


__all__ = ["Decimal", "dumps", "loads"]
