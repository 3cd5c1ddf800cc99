"""``sync-pipeline keys``: encryption keys at rest — status, rotation without downtime, re-encryption.

    sync-pipeline keys status              master key, data keys, encrypted values per key and column, what is pending
    sync-pipeline keys rotate              a new master key (file / local-kms providers) and field key, current from now on
    sync-pipeline keys rotate --field-only a new field key under the current master key (env: after you put a new
                                           master key first in the variable)
    sync-pipeline keys reencrypt           move everything to the current keys, store and warehouse (safe to
                                           interrupt and re-run; the Dagster job keys_reencrypt_job does the same)
    sync-pipeline keys generate            print a fresh master key ``kid:base64`` for an ``env:`` provider

Between ``rotate`` and the end of ``reencrypt`` the pipeline keeps running: old keys decrypt, new keys encrypt.
Which provider: ``SYNC_PIPELINE_KEYS`` (docs/data-protection.md). Who may run each: ``keys.*`` in
``domain/access.py``; rotations land in the audit trail.
"""

from __future__ import annotations

import argparse
import json

from sync_pipeline.cli import UserError
from sync_pipeline.cli._identity import store, who


def _protector():
    from sync_pipeline.store.keys import KeyUnavailable
    from sync_pipeline.store.protection import protector

    try:
        return protector(store())
    except KeyUnavailable as e:
        raise UserError(str(e)) from None


def _warehouse(args: argparse.Namespace):
    from sync_pipeline.defs import settings
    from sync_pipeline.store.warehouse import Warehouse

    return None if args.store_only else Warehouse(args.warehouse or settings.warehouse_root())


def cmd_status(args: argparse.Namespace) -> int:
    from sync_pipeline.services.key_rotation import status

    _protector()  # the keys are there, or a clear error
    st = status(store(), _warehouse(args))
    if args.json:
        print(json.dumps(st, indent=1))
        return 0
    print(f"provider     : {st['provider']}")
    print(f"master key   : {st['master_key']} (current)")
    print(f"field key    : {st['field_key']} (current)")
    for d in st["data_keys"]:
        state = "retired" if d["retired_at"] else "current" if d["key_id"] == st["field_key"] else "active"
        print(f"  data key {d['key_id']:<14} {d['purpose']:<9} {state:<8} wrapped by {d['kek_id']}")
    people = st["people"]
    print(f"people       : {people['known']} known, {people['erased']} erased, "
          f"{people['wrapped_by_old_master_key']} keys wrapped by an old master key")
    for col, by in {**st["columns"], **st.get("warehouse_columns", {})}.items():
        print(f"  {col:<30} " + (", ".join(f"{k}: {n}" for k, n in sorted(by.items())) or "empty"))
    print(f"pending      : {st['pending']}" + (" (run `sync-pipeline keys reencrypt`)" if st["pending"] else
                                              " (everything is under the current keys)"))
    return 0


def cmd_rotate(args: argparse.Namespace) -> int:
    from sync_pipeline.store.keys import KeyUnavailable

    try:
        out = _protector().rotate(actor=who(args), master=not args.field_only)
    except KeyUnavailable as e:
        raise UserError(f"{e} (or rotate only the field key: `sync-pipeline keys rotate --field-only`)") from None
    print(f"rotated: master key {out['master_key']}, field key {out['field_key']} encrypt from now on; old keys "
          f"still decrypt. Next: `sync-pipeline keys reencrypt`")
    return 0


def cmd_reencrypt(args: argparse.Namespace) -> int:
    from sync_pipeline.services.key_rotation import reencrypt_all

    wh = _warehouse(args)
    try:
        _protector()  # the keys are there, or a clear error
        counts = reencrypt_all(store(), wh, actor=who(args), batch=args.batch)
    except ValueError as e:
        raise UserError(f"{e}: run it where the warehouse folder is, or add --store-only") from None
    print(", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in counts.items()))
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from sync_pipeline.store.keys import generate_key

    print(generate_key())
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("keys", help="encryption keys at rest: status, rotate, reencrypt (docs/data-protection.md)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ps = p.add_subparsers(dest="keys_command", required=True)
    s = ps.add_parser("status", help="keys, and encrypted values per key and column")
    s.add_argument("--json", action="store_true", help="machine-readable")
    s.add_argument("--warehouse", help="warehouse root (default: the configured one)")
    s.add_argument("--store-only", action="store_true", help="leave the warehouse's encrypted columns out")
    s.set_defaults(func=cmd_status)
    s = ps.add_parser("rotate", help="new master and field keys encrypt from now on; old ones still decrypt")
    s.add_argument("--field-only", action="store_true", help="keep the master key, rotate only the field key")
    s.set_defaults(func=cmd_rotate)
    s = ps.add_parser("reencrypt", help="move every wrapped key and encrypted value to the current keys")
    s.add_argument("--batch", type=int, default=500, help="rows per transaction (default 500)")
    s.add_argument("--warehouse", help="warehouse root (default: the configured one)")
    s.add_argument("--store-only", action="store_true", help="leave the warehouse's encrypted columns as they are")
    s.set_defaults(func=cmd_reencrypt)
    s = ps.add_parser("generate", help="print a fresh master key for SYNC_PIPELINE_MASTER_KEYS")
    s.set_defaults(func=cmd_generate)
