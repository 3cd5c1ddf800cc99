"""Exports of the audit trail for an auditor: the events as JSON lines and a signed digest per stream.

File layout (UTF-8, one JSON object per line)::

    {"record": "event", "stream": "decisions", "seq": 1, "event_id": ..., "hash": ..., ...}   every event
    {"record": "digest", "stream": "decisions", "count": ..., "head_hash": ..., "signature": ...}   one per stream

An event line holds the stored fields exactly (``detail`` as its stored JSON text), so anyone can recompute
each hash and the links (``domain.audit_chain``). The digest commits to the count, the sequence range, the
time range, the first link and the head hash; it is signed with HMAC-SHA256 under the key in
$SYNC_PIPELINE_AUDIT_KEY or the file named by $SYNC_PIPELINE_AUDIT_KEY_FILE (the key is never written out
or logged; the digest names it by a short fingerprint, ``key_id``). The auditor keeps the file; later,
``sync-pipeline audit verify --export FILE`` checks it alone, and ``--against-store`` also checks that the
store still holds every exported event unchanged (a tail deleted or history rewritten since is named).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sync_pipeline.domain.audit_chain import (
    ChainProblem,
    canonical_json,
    check_digest,
    digest_of,
    sign_digest,
    verify_chain,
)
from sync_pipeline.store import audit
from sync_pipeline.store.files import write_private

KEY_ENV, KEY_FILE_ENV = "SYNC_PIPELINE_AUDIT_KEY", "SYNC_PIPELINE_AUDIT_KEY_FILE"
MIN_KEY_BYTES = 16


class AuditKeyError(ValueError):
    """No usable signing key (the message never contains the key)."""


def signing_key(env: dict[str, str] | None = None) -> bytes:
    """The HMAC key from $SYNC_PIPELINE_AUDIT_KEY_FILE (a file's bytes, trailing newline dropped) or
    $SYNC_PIPELINE_AUDIT_KEY."""
    env = dict(os.environ) if env is None else env
    if env.get(KEY_FILE_ENV):
        path = Path(env[KEY_FILE_ENV])
        try:
            key = path.read_bytes().rstrip(b"\r\n")
        except OSError as e:
            raise AuditKeyError(f"cannot read the audit signing key file named by {KEY_FILE_ENV} ({path}): "
                                f"{e.strerror}") from None
        where = f"the file {path}"
    elif env.get(KEY_ENV):
        key, where = env[KEY_ENV].encode("utf-8"), KEY_ENV
    else:
        raise AuditKeyError(f"set {KEY_ENV} (or {KEY_FILE_ENV}, a file holding the key) to the audit signing key: "
                            "at least 16 random bytes, e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`;"
                            " give the auditor the same key to check the export")
    if len(key) < MIN_KEY_BYTES:
        raise AuditKeyError(f"the audit signing key in {where} is too short: {len(key)} bytes, "
                            f"need at least {MIN_KEY_BYTES}")
    return key


@dataclass(frozen=True)
class ExportSummary:
    path: Path
    digests: list[dict[str, Any]]


def export(store: Any, out: Path | str, *, key: bytes, actor: str,
           streams: Iterable[str] = audit.STREAMS) -> ExportSummary:
    """Write every event of ``streams`` and a signed digest of each; the export itself is recorded first
    (an ``audit_export`` access event), so it is part of what it exports."""
    streams = list(streams)
    out = Path(out)
    audit.record_access(store, actor=actor, what="audit_export", subject=str(out), export=True,
                        detail={"streams": streams})
    tmp = out.with_name(out.name + ".partial")
    digests = []
    write_private(tmp, "")  # 0600 from the start: the export holds who did what with which amounts
    with tmp.open("w", encoding="utf-8") as f:
        for stream in streams:
            events = []
            for row in audit.rows(store, stream):
                f.write(canonical_json({"record": "event", **row}) + "\n")
                events.append({k: row[k] for k in ("seq", "prev_hash", "hash", "at")})
            digest = {**digest_of(stream, events), "exported_by": actor, "exported_at": audit.timestamp()}
            digests.append(sign_digest(digest, key))
        for d in digests:
            f.write(canonical_json({"record": "digest", **d}) + "\n")
    tmp.replace(out)
    return ExportSummary(out, digests)


def read_export(path: Path | str) -> tuple[dict[str, list[dict[str, Any]]], dict[str, dict[str, Any]],
                                           list[ChainProblem]]:
    """(events per stream in seq order, digest per stream, problems reading the file)."""
    events: dict[str, list[dict[str, Any]]] = {}
    digests: dict[str, dict[str, Any]] = {}
    problems: list[ChainProblem] = []
    with Path(path).open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                kind, stream = rec.pop("record"), str(rec["stream"])
            except (ValueError, KeyError, AttributeError) as e:
                problems.append(ChainProblem("export", None, None, "unreadable", f"line {n}: {e}"))
                continue
            if kind == "event":
                events.setdefault(stream, []).append(rec)
            elif kind == "digest":
                digests[stream] = rec
            else:
                problems.append(ChainProblem(stream, None, None, "unreadable", f"line {n}: record {kind!r}"))
    for evs in events.values():
        evs.sort(key=lambda e: int(e["seq"]))
    return events, digests, problems


def verify_export(path: Path | str, *, key: bytes, store: Any | None = None) -> list[ChainProblem]:
    """Everything wrong with an export (empty: intact and signed by ``key``); with ``store``, also every
    exported event the store no longer holds as exported."""
    events, digests, problems = read_export(path)
    for stream in sorted(set(events) | set(digests)):
        evs, signed = events.get(stream, []), digests.get(stream)
        if signed is None:
            problems.append(ChainProblem(stream, None, None, "signature",
                                         f"{len(evs)} events but no signed digest: the export is incomplete"))
            continue
        bad = check_digest(signed, key)
        if bad:
            problems.append(ChainProblem(stream, None, None, "signature", bad))
        start_seq = int(signed["first_seq"]) if signed.get("first_seq") is not None else 1
        problems.extend(verify_chain(stream, evs, start_seq=start_seq,
                                     start_prev=signed.get("first_prev_hash") or audit.GENESIS))
        found = digest_of(stream, evs)
        for k, v in found.items():
            if signed.get(k) != v:
                problems.append(ChainProblem(stream, None, None, "digest",
                                             f"the signed digest says {k} = {signed.get(k)!r}, the events give "
                                             f"{v!r}: events were added, removed or changed in the file"))
        if store is not None and evs:
            problems.extend(_against_store(store, stream, evs))
    return problems


def _against_store(store: Any, stream: str, evs: list[dict[str, Any]]) -> list[ChainProblem]:
    exported = {int(e["seq"]): e for e in evs}
    first, last = min(exported), max(exported)
    problems: list[ChainProblem] = []
    for row in audit.rows(store, stream, after_seq=first - 1):
        seq = int(row["seq"])
        if seq > last:
            break
        e = exported.pop(seq, None)
        if e is not None and e["hash"] != row["hash"]:
            problems.append(ChainProblem(stream, seq, e.get("event_id"), "modified",
                                         "the store holds another event at this seq than the export "
                                         f"(event {row['event_id']}): history was rewritten since the export"))
    for seq, e in sorted(exported.items()):
        problems.append(ChainProblem(stream, seq, e.get("event_id"), "missing",
                                     "exported, but no longer in the store: deleted since the export"))
    return problems
