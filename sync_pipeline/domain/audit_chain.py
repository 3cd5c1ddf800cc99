"""The audit trail's hash chain and signed digests: pure functions, no I/O.

Every event carries its stream, its sequence number in that stream, the hash of the event before it
(``prev_hash``; the first event of a stream points to :data:`GENESIS`) and its own ``hash``: SHA-256 over
the canonical JSON of its fields (:data:`HASHED_FIELDS`, keys sorted, no spaces, UTF-8). Changing any
field of an event, removing one or moving one breaks the chain where it happened, and
:func:`verify_chain` says where and what.

A digest (stream, count, sequence range, time range, head hash) signed with HMAC-SHA256 lets an
auditor check an export with the key alone (:func:`sign_digest`, :func:`check_digest`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64
HASHED_FIELDS = ("stream", "seq", "event_id", "at", "actor", "action", "entity", "subject", "detail", "prev_hash")
SIGNATURE_ALGORITHM = "HMAC-SHA256"


def canonical_json(value: Any) -> str:
    """One spelling per value: keys sorted, no whitespace, non-ASCII kept, anything else as ``str``."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def event_hash(event: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of the event's hashed fields (``detail`` as its stored text)."""
    body = {k: event.get(k) for k in HASHED_FIELDS}
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ChainProblem:
    """Something wrong in a chain, named by where it is: stream, sequence number, event id."""

    stream: str
    seq: int | None
    event_id: str | None
    kind: str  # modified | missing | reordered | broken_link | head_mismatch | signature | digest | absent
    message: str

    def __str__(self) -> str:
        where = f"{self.stream} seq {self.seq}" if self.seq is not None else self.stream
        ident = f" (event {self.event_id})" if self.event_id else ""
        return f"{where}{ident}: {self.kind}: {self.message}"


RECENT = 100_000  # hashes remembered to tell a moved event from a rewritten one (moves are local)


def verify_chain(stream: str, events: Iterable[Mapping[str, Any]], *, start_seq: int = 1,
                 start_prev: str = GENESIS) -> Iterator[ChainProblem]:
    """Check one stream's events, given in ``seq`` order (as stored); yield every problem found.

    - ``modified``: an event's fields no longer give its hash;
    - ``missing``: a gap in the sequence numbers (events deleted);
    - ``reordered``: an event's ``prev_hash`` is the hash of another event than the one before it now
      (events moved), or a sequence number out of order or repeated;
    - ``broken_link``: an event's ``prev_hash`` is no event's hash (its predecessor rewritten and re-hashed).

    ``start_seq`` / ``start_prev``: where the chain is expected to begin (an export that starts mid-stream
    is anchored on its first event's ``prev_hash``).
    """
    expected_seq, prev_hash, prev_seq = start_seq, start_prev, start_seq - 1
    recent: OrderedDict[str, tuple[int, str | None]] = OrderedDict()  # hash -> (seq, event id)
    dangling: dict[str, tuple[int, str | None]] = {}  # prev_hash not (yet) seen -> the event pointing to it
    for ev in events:
        seq, eid, stored = int(ev["seq"]), ev.get("event_id"), str(ev.get("hash"))
        gap = seq > expected_seq  # then its link points into the gap: nothing more to say about it
        if gap:
            lost = f"seq {expected_seq}" if seq == expected_seq + 1 else f"seq {expected_seq} to {seq - 1}"
            yield ChainProblem(stream, seq, eid, "missing", f"{lost} deleted: seq {seq} follows seq {prev_seq}")
        elif seq < expected_seq:
            yield ChainProblem(stream, seq, eid, "reordered", f"seq {seq} comes after seq {prev_seq} "
                               "(repeated or out of order)")
        recomputed = event_hash(ev)
        if recomputed != stored:
            yield ChainProblem(stream, seq, eid, "modified",
                               f"its content no longer matches its hash (stored {stored[:12]}…, content gives "
                               f"{recomputed[:12]}…): a field was changed after it was written")
        link = ev.get("prev_hash")
        if link != prev_hash and not gap:
            if link in recent:
                was_seq, was_id = recent[link]
                yield ChainProblem(stream, seq, eid, "reordered",
                                   f"it was written after the event now at seq {was_seq} ({was_id}), "
                                   f"but follows seq {prev_seq}")
            else:
                dangling[str(link)] = (seq, eid)
        if stored in dangling:
            d_seq, d_id = dangling.pop(stored)
            yield ChainProblem(stream, d_seq, d_id, "reordered",
                               f"it was written after the event now at seq {seq} ({eid}), but follows "
                               f"seq {d_seq - 1}")
        recent[stored] = (seq, eid)
        if len(recent) > RECENT:
            recent.popitem(last=False)
        prev_hash, prev_seq, expected_seq = stored, seq, max(expected_seq, seq + 1)
    for d_seq, d_id in sorted(dangling.values(), key=lambda x: x[0]):
        yield ChainProblem(stream, d_seq, d_id, "broken_link",
                           "its prev_hash is no event's hash: the event before it was rewritten (and re-hashed) "
                           "or removed")


# -- signed digests --------------------------------------------------------------------------------------------
def digest_of(stream: str, events: list[Mapping[str, Any]]) -> dict[str, Any]:
    """What an export of one stream commits to: count, sequence and time range, first link, head hash."""
    return {
        "stream": stream,
        "count": len(events),
        "first_seq": int(events[0]["seq"]) if events else None,
        "last_seq": int(events[-1]["seq"]) if events else None,
        "first_prev_hash": events[0]["prev_hash"] if events else None,
        "head_hash": events[-1]["hash"] if events else None,
        "from": min((str(e["at"]) for e in events), default=None),
        "to": max((str(e["at"]) for e in events), default=None),
    }


def key_id(key: bytes) -> str:
    """A short public fingerprint of a signing key (which key signed), never the key itself."""
    return hashlib.sha256(b"sync_pipeline audit key\x00" + key).hexdigest()[:16]


def sign_digest(digest: Mapping[str, Any], key: bytes) -> dict[str, Any]:
    """The digest with ``algorithm``, ``key_id`` and ``signature`` (HMAC-SHA256 of its canonical JSON)."""
    body = {**{k: v for k, v in digest.items() if k != "signature"}, "algorithm": SIGNATURE_ALGORITHM,
            "key_id": key_id(key)}
    sig = hmac.new(key, canonical_json(body).encode("utf-8"), hashlib.sha256).hexdigest()
    return {**body, "signature": sig}


def check_digest(signed: Mapping[str, Any], key: bytes) -> str | None:
    """None when the signature is right for this key; else what is wrong."""
    if signed.get("algorithm") != SIGNATURE_ALGORITHM:
        return f"unknown signature algorithm {signed.get('algorithm')!r} (expected {SIGNATURE_ALGORITHM})"
    if signed.get("key_id") != key_id(key):
        return (f"signed with key {signed.get('key_id')}, but the key given is {key_id(key)}: "
                "use the key the export was signed with")
    body = {k: v for k, v in signed.items() if k != "signature"}
    good = hmac.new(key, canonical_json(body).encode("utf-8"), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(good, str(signed.get("signature"))):
        return "the signature does not match the digest: the digest (or the signature) was altered"
    return None
