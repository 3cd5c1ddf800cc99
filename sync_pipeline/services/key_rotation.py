"""Re-encryption after a key rotation, everywhere keys were used: the operational store and the warehouse.

``sync-pipeline keys reencrypt`` and the Dagster job ``keys_reencrypt_job`` both call :func:`reencrypt_all`:

- the store (``Protector.reencrypt``): data and person keys rewrapped under the current master key, every
  encrypted column re-encrypted under the current field key (plaintext from before encryption too);
- the warehouse (``services.pseudonymize.reencrypt_warehouse``): every partition holding field-key values of
  ``classification.warehouse_encrypted`` columns (bank payers, quarantined values) not under the current key,
  rewritten. Notes under a person's key stay as they are: that key is rewrapped, not the notes.

Readers keep working throughout (a token names its key; retired keys still decrypt), and both halves are safe to
interrupt and re-run. Each is one audit event (``keys_reencrypted``, ``warehouse_reencrypted``).
"""

from __future__ import annotations

from typing import Any

from sync_pipeline.services.pseudonymize import reencrypt_warehouse, warehouse_key_counts
from sync_pipeline.store import audit
from sync_pipeline.store.protection import protector


def reencrypt_all(store: Any, warehouse: Any | None, *, actor: str, batch: int = 500) -> dict[str, int]:
    """Store, then warehouse (``None``: the store only); the counts of both, the warehouse's prefixed."""
    p = protector(store)
    counts = dict(p.reencrypt(actor=actor, batch=batch))
    if warehouse is not None:
        wh = reencrypt_warehouse(store, warehouse)
        audit.append(store, actor=actor, action="warehouse_reencrypted",
                     detail={**wh, "field_key": p.current_field_key()})
        counts.update({f"warehouse_{k}": v for k, v in wh.items()})
    return counts


def status(store: Any, warehouse: Any | None) -> dict[str, Any]:
    """``Protector.status`` plus the warehouse's encrypted columns (``warehouse_columns``), ``pending`` counting
    both: what ``keys status`` prints and the job reports."""
    st = protector(store).status()
    if warehouse is not None:
        st["warehouse_columns"] = warehouse_key_counts(store, warehouse)
        st["pending"] += sum(n for by in st["warehouse_columns"].values() for k, n in by.items()
                             if k != st["field_key"])
    return st
