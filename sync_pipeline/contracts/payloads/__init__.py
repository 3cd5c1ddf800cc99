"""Versioned API payload contracts (pydantic) and the translators between their versions.

Every payload that crosses a connector boundary has a *kind* (``"accounting.invoice"``,
``"source.time_entry"`` ...) and an integer *version*. A producer writes the version it knows;
a consumer asks for the version it understands with :func:`translate`, which walks the
registered one-step translators (v1→v2, v2→v1, ...). So two versions run side by side while
consumers move over one at a time. A translator that would lose information raises
:class:`TranslationError` rather than drop it silently.

Adding a version: define the model, register it with :func:`register`, register translators
both ways, add a line to ``docs/contracts-changelog.md``; the compatibility tests
(``sync_pipeline_tests/contracts/test_payload_compat.py``) replay the stored examples of every
older version through the translators and fail if an older consumer could no longer read them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel


class TranslationError(ValueError):
    """A payload cannot be expressed in the requested version without losing information."""


_MODELS: dict[tuple[str, int], type[BaseModel]] = {}
_TRANSLATORS: dict[tuple[str, int, int], Callable[[dict[str, Any]], dict[str, Any]]] = {}


def register(kind: str, version: int):
    def deco(model: type[BaseModel]) -> type[BaseModel]:
        _MODELS[(kind, version)] = model
        model.__payload_kind__ = kind  # type: ignore[attr-defined]
        model.__payload_version__ = version  # type: ignore[attr-defined]
        return model

    return deco


def translator(kind: str, source: int, target: int):
    if abs(source - target) != 1:
        raise ValueError("translators go one version step at a time")

    def deco(fn: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[[dict[str, Any]], dict[str, Any]]:
        _TRANSLATORS[(kind, source, target)] = fn
        return fn

    return deco


def model_for(kind: str, version: int) -> type[BaseModel]:
    try:
        return _MODELS[(kind, version)]
    except KeyError:
        known = sorted(v for k, v in _MODELS if k == kind)
        raise TranslationError(f"no payload contract {kind} v{version}; known versions: {known}") from None


def versions(kind: str) -> list[int]:
    return sorted(v for k, v in _MODELS if k == kind)


def kinds() -> list[str]:
    return sorted({k for k, _ in _MODELS})


def latest(kind: str) -> int:
    return versions(kind)[-1]


def translate(kind: str, payload: BaseModel | dict[str, Any], source: int | None = None,
              target: int | None = None) -> BaseModel:
    """Validate ``payload`` as ``kind`` v``source`` and return it as a v``target`` model."""
    if isinstance(payload, BaseModel):
        source = payload.__payload_version__  # type: ignore[attr-defined]
        data = payload.model_dump(mode="python")
    else:
        data = dict(payload)
    if source is None:
        raise ValueError("give the source version of a plain dict payload")
    target = latest(kind) if target is None else target
    data = model_for(kind, source).model_validate(data).model_dump(mode="python")
    step = 1 if target > source else -1
    v = source
    while v != target:
        fn = _TRANSLATORS.get((kind, v, v + step))
        if fn is None:
            raise TranslationError(f"no translator for {kind} v{v} → v{v + step}")
        data = fn(data)
        v += step
    return model_for(kind, target).model_validate(data)


# Register the contracts (import for side effects).
import sync_pipeline.contracts.payloads.accounting  # noqa: E402,F401
import sync_pipeline.contracts.payloads.source  # noqa: E402,F401
