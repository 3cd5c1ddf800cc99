"""What the alerting sensors watch, without Dagster: dead letters, and the alerts' wording."""

from __future__ import annotations

import importlib
from collections import Counter
from typing import Any, Protocol

from sync_pipeline.services.alerts import Alert
from sync_pipeline.store.operational import OperationalStore


class DeadLetterSource(Protocol):
    """The interface the dead-letter sensor needs: the open dead letters, each a dict with at least
    ``id``, ``entity``, ``period``, ``kind`` and ``error``."""

    def open_letters(self) -> list[dict[str, Any]]: ...


class _StoreDeadLetters:
    def __init__(self, letters: Any) -> None:
        self.letters = letters

    def open_letters(self) -> list[dict[str, Any]]:
        return sorted(self.letters.list(status="open"), key=lambda d: int(d["id"]))


def dead_letter_source(store: OperationalStore) -> DeadLetterSource | None:
    """The operational store's dead letters (``sync_pipeline.store.dead_letters``), when this build has them."""
    try:
        mod = importlib.import_module("sync_pipeline.store.dead_letters")
    except ModuleNotFoundError as e:
        if e.name != "sync_pipeline.store.dead_letters":
            raise
        return None
    return _StoreDeadLetters(mod.DeadLetters(store))


def dead_letter_alert(letters: list[dict[str, Any]], *, backlog: bool, open_total: int | None = None) -> Alert:
    per_entity = Counter(str(d.get("entity")) for d in letters)
    head = [{k: d.get(k) for k in ("id", "entity", "period", "kind", "operation", "reference", "error")}
            for d in letters[:20]]
    what = "open dead letters (backlog at first look)" if backlog else "new dead letters"
    return Alert(
        kind="dead_letters",
        severity="error",
        summary=f"{len(letters)} {what}: " + ", ".join(f"{e} {n}" for e, n in sorted(per_entity.items())),
        details={"per_entity": dict(per_entity), "open_total": open_total if open_total is not None else len(letters),
                 "letters": head},
        action="inspect with `sync-pipeline dlq list`, fix the cause, then `sync-pipeline dlq replay`",
    )
