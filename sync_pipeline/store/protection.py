"""Encryption at rest: field encryption, pseudonyms and per-person keys, key rotation.

The whole API (other modules protect their data through it; see ``docs/data-protection.md``)::

    from sync_pipeline.store.protection import protector

    p = protector(store)                                     # one per operational store, keys from SYNC_PIPELINE_KEYS
    token = p.encrypt_field(text, "sync_ledger.payload")     # "enc1:<key id>:<base64>" (None stays None)
    p.decrypt_field(token, "sync_ledger.payload")            # the text; a value written before encryption passes through

    pid = p.person_pseudonym("harvest", "3", name="Carol Chen", email=None)   # "P-…": stable, the same for everyone
    p.identity(pid)                                          # {"name": "Carol Chen", "email": None, ...}; None once erased
    token = p.encrypt_for_person(pid, notes, "raw_time_entries.notes")         # under the person's own data key
    p.destroy_person_key(pid, actor="alice")                 # the person's identity and notes are unreadable for good

    p.rotate(actor=...) ; p.reencrypt(actor=...) ; p.status()  # `sync-pipeline keys rotate|reencrypt|status`

How: AES-256-GCM (``cryptography``) with the column as associated data (a ciphertext moved to another column
does not decrypt). Data keys live in ``data_keys`` and ``person_keys`` only in wrapped form (``store.keys``: a
master key outside the data wraps them), so a copy of the database alone reveals nothing. A pseudonym is an
HMAC of the person's source id under the pseudonym key: stable across runs and entities, useless without the key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
import weakref
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.engine import Engine

from sync_pipeline.contracts import classification
from sync_pipeline.store.keys import KEY_BYTES, NONCE_BYTES, KeyProvider, KeyUnavailable, provider_from_env
from sync_pipeline.store.operational import metadata, now_iso

TOKEN_PREFIX = "enc1:"
CURRENT_KEY_TTL_S = 60.0  # a long-running process picks up a rotation made elsewhere within a minute
PSEUDONYM_PREFIX = "P-"
HASH_PREFIX = "kh1:"  # a keyed hash (Protector.keyed_hash): compared, never read back

data_keys = sa.Table(
    "data_keys",
    metadata,
    sa.Column("key_id", sa.String(40), primary_key=True),
    sa.Column("purpose", sa.String(16), nullable=False),  # field | pseudonym
    sa.Column("kek_id", sa.String(255), nullable=False),  # the master key that wrapped it
    sa.Column("wrapped", sa.Text, nullable=False),  # base64 of the wrapped data key
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("retired_at", sa.String(40)),  # no longer encrypts (still decrypts what it wrote)
)

person_keys = sa.Table(
    "person_keys",
    metadata,
    sa.Column("pseudonym", sa.String(40), primary_key=True),
    sa.Column("kek_id", sa.String(255)),
    sa.Column("wrapped", sa.Text),  # NULL once destroyed: everything under the key is unreadable
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("destroyed_at", sa.String(40)),
    sa.Column("destroyed_by", sa.String(255)),
)

person_identities = sa.Table(
    "person_identities",
    metadata,
    sa.Column("pseudonym", sa.String(40), primary_key=True),
    sa.Column("source", sa.String(32), nullable=False),
    sa.Column("source_person_id", sa.Text),  # encrypted under the person's key
    sa.Column("name", sa.Text),  # encrypted under the person's key
    sa.Column("email", sa.Text),  # encrypted under the person's key
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
)

def encrypted_columns() -> list[tuple[str, str, tuple[str, ...]]]:
    """(table, column, primary key columns) of every store column the classification marks ``encrypted``."""
    from sync_pipeline.store.operational import register_tables

    register_tables()
    return [(t, col, tuple(c.name for c in metadata.tables[t].primary_key.columns))
            for t, col in classification.encrypted_columns()]


class PersonErased(LookupError):
    """The person's key was destroyed (``privacy erase``): what was encrypted under it is gone for good."""


def _b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).decode("ascii").rstrip("=")


def _unb64(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def is_token(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(TOKEN_PREFIX)


def token_key(value: str) -> str:
    """The key id (or pseudonym) a token was written under."""
    return value[len(TOKEN_PREFIX):].split(":", 1)[0]


def _seal(key: bytes, key_ref: str, plaintext: str, context: str) -> str:
    nonce = secrets.token_bytes(NONCE_BYTES)
    ct = AESGCM(key).encrypt(nonce, plaintext.encode("utf-8"), context.encode())
    return f"{TOKEN_PREFIX}{key_ref}:{_b64(nonce + ct)}"


def _seal_many(key: bytes, key_ref: str, values: Iterable[tuple[str, str]], nonces: bytes) -> list[str]:
    """:func:`_seal` of several (plaintext, context) under one key: one AES-GCM object, the random nonces given
    (``NONCE_BYTES`` each, from the OS's CSPRNG, like :func:`_seal`'s)."""
    aes, head, out = AESGCM(key), f"{TOKEN_PREFIX}{key_ref}:", []
    for i, (plaintext, context) in enumerate(values):
        nonce = nonces[i * NONCE_BYTES:(i + 1) * NONCE_BYTES]
        out.append(head + _b64(nonce + aes.encrypt(nonce, plaintext.encode("utf-8"), context.encode())))
    return out


def _open(key: bytes, token: str, context: str) -> str:
    blob = _unb64(token.rsplit(":", 1)[1])
    try:
        return AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], context.encode()).decode("utf-8")
    except InvalidTag:
        raise KeyUnavailable(f"an encrypted {context} value does not decrypt: it was altered, or written for "
                             f"another column") from None


class Protector:
    """Field encryption, pseudonyms and per-person keys over one operational store (thread-safe)."""

    def __init__(self, engine: Engine, provider: KeyProvider) -> None:
        self.engine = engine
        self.provider = provider
        metadata.create_all(engine, tables=[data_keys, person_keys, person_identities])  # a store opened partially
        self._keys: dict[str, bytes] = {}  # unwrapped data keys by id (field and person keys)
        self._current: str | None = None
        self._current_seen = 0.0  # when the current field key was last looked up (another process may rotate)
        self._pseudonym_key: bytes | None = None
        self._known_people: set[str] = set()
        self._lock = threading.RLock()

    # -- data keys ---------------------------------------------------------------------------
    def _new_data_key(self, purpose: str) -> str:
        key = secrets.token_bytes(KEY_BYTES)
        key_id = f"d{secrets.token_hex(6)}"
        kek, wrapped = self.provider.wrap(key, f"data_key:{key_id}")
        with self.engine.begin() as c:
            c.execute(data_keys.insert().values(key_id=key_id, purpose=purpose, kek_id=kek, wrapped=_b64(wrapped),
                                                created_at=now_iso()))
        self._keys[key_id] = key
        return key_id

    def _data_key(self, key_id: str) -> bytes:
        key = self._keys.get(key_id)
        if key is not None:
            return key
        with self.engine.connect() as c:
            row = c.execute(sa.select(data_keys).where(data_keys.c.key_id == key_id)).mappings().first()
        if row is None:
            raise KeyUnavailable(f"data key {key_id!r} is not in the operational store ({self.engine.url!r}): was the "
                                 f"value copied from another store?")
        key = self.provider.unwrap(row["kek_id"], _unb64(row["wrapped"]), f"data_key:{key_id}")
        self._keys[key_id] = key
        return key

    def current_field_key(self) -> str:
        """The data key new field values are encrypted with (created on first use)."""
        with self._lock:
            if self._current is None or time.monotonic() - self._current_seen > CURRENT_KEY_TTL_S:
                self._current_seen = time.monotonic()
                with self.engine.connect() as c:
                    row = c.execute(sa.select(data_keys.c.key_id).where(
                        data_keys.c.purpose == "field", data_keys.c.retired_at.is_(None))
                        .order_by(data_keys.c.created_at.desc(), data_keys.c.key_id.desc())).first()
                self._current = row.key_id if row else (self._current or self._new_data_key("field"))
            return self._current

    def _pkey(self) -> bytes:
        with self._lock:
            if self._pseudonym_key is None:
                q = (sa.select(data_keys.c.key_id).where(data_keys.c.purpose == "pseudonym")
                     .order_by(data_keys.c.created_at, data_keys.c.key_id))
                with self.engine.connect() as c:
                    row = c.execute(q).first()
                if row is None:  # first use ever; concurrent creators converge on the oldest
                    self._new_data_key("pseudonym")
                    with self.engine.connect() as c:
                        row = c.execute(q).first()
                self._pseudonym_key = self._data_key(row.key_id)
            return self._pseudonym_key

    # -- fields ----------------------------------------------------------------------------------
    def encrypt_field(self, value: str | None, context: str) -> str | None:
        """``value`` encrypted under the current field key, bound to ``context`` (``table.column``)."""
        if value is None:
            return None
        key_id = self.current_field_key()
        return _seal(self._data_key(key_id), key_id, value, context)

    def decrypt_field(self, value: str | None, context: str) -> str | None:
        """The plaintext of a token; a value that is not a token (written before encryption) is returned as is."""
        if not is_token(value):
            return value
        assert value is not None
        ref = token_key(value)
        if ref.startswith(PSEUDONYM_PREFIX):
            return self.decrypt_for_person(value, context)
        return _open(self._data_key(ref), value, context)

    def keyed_hash(self, value: str, purpose: str) -> str:
        """A stable keyed hash (HMAC-SHA256 under the pseudonym key) of ``value`` for ``purpose``: what a column
        that must be looked up or compared, but never read back, keeps (``cash_payer_aliases.payer_name``)."""
        digest = hmac.new(self._pkey(), f"{purpose}|{value}".encode(), hashlib.sha256).hexdigest()
        return HASH_PREFIX + digest[:32]

    # -- people ----------------------------------------------------------------------------------
    def pseudonym_of(self, source: str, person_id: str) -> str:
        """The stable pseudonym of a person of a source system (no record written)."""
        return PSEUDONYM_PREFIX + hmac.digest(self._pkey(), f"{source}|{person_id}".encode(), "sha256").hex()[:20]

    def person_pseudonym(self, source: str, person_id: str, *, name: str | None = None,
                         email: str | None = None) -> str:
        """The person's pseudonym; the first time, their key is made and their identity kept (encrypted)."""
        return self.people([(source, person_id, name, email)])[0]

    def people(self, rows: Iterable[tuple[str, str, str | None, str | None]]) -> list[str]:
        """:meth:`person_pseudonym` for many (source, person id, name, email) at once, one transaction."""
        rows = list(rows)
        out = [self.pseudonym_of(s, pid) for s, pid, _, _ in rows]
        new = {p: r for p, r in zip(out, rows, strict=True) if p not in self._known_people}
        if not new:
            return out
        with self._lock, self.engine.begin() as c:
            have = set()
            keys = list(new)
            for i in range(0, len(keys), 500):
                have.update(r.pseudonym for r in c.execute(sa.select(person_keys.c.pseudonym).where(
                    person_keys.c.pseudonym.in_(keys[i:i + 500]))))
            krows, irows = self._new_people([(p, r) for p, r in new.items() if p not in have])
            if krows:
                c.execute(person_keys.insert(), krows)
                c.execute(person_identities.insert(), irows)
        self._known_people.update(new)
        return out

    def _new_people(self, people: list[tuple[str, tuple[str, str, str | None, str | None]]]
                    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The ``person_keys`` and ``person_identities`` rows of people seen for the first time: a fresh random key
        each (wrapped by the master key), their source id, name and email sealed under it. The randomness of the
        whole batch comes from the OS's CSPRNG in one read (keys and nonces are as random as one read each)."""
        ts, krows, irows = now_iso(), [], []
        cols = ("source_person_id", "name", "email")
        step = KEY_BYTES + len(cols) * NONCE_BYTES
        pool = secrets.token_bytes(step * len(people))
        for i, (p, (source, pid, name, email)) in enumerate(people):
            key, nonces = pool[i * step:i * step + KEY_BYTES], pool[i * step + KEY_BYTES:(i + 1) * step]
            kek, wrapped = self.provider.wrap(key, f"person_key:{p}")
            self._keys[p] = key
            krows.append({"pseudonym": p, "kek_id": kek, "wrapped": _b64(wrapped), "created_at": ts})
            given = [(c, str(v)) for c, v in zip(cols, (pid, name, email), strict=True) if v is not None]
            sealed = dict(zip((c for c, _ in given), _seal_many(
                key, p, [(v, f"person_identities.{c}") for c, v in given], nonces), strict=True))
            irows.append({"pseudonym": p, "source": source, "created_at": ts, "updated_at": ts,
                          **{c: sealed.get(c) for c in cols}})
        return krows, irows

    def _person_key(self, pseudonym: str) -> bytes:
        key = self._keys.get(pseudonym)
        if key is not None:
            return key
        with self.engine.connect() as c:
            row = c.execute(sa.select(person_keys).where(person_keys.c.pseudonym == pseudonym)).mappings().first()
        if row is None:
            raise KeyUnavailable(f"no key for person {pseudonym} in the operational store ({self.engine.url!r})")
        if row["wrapped"] is None:
            raise PersonErased(f"person {pseudonym} was erased at {row['destroyed_at']} by {row['destroyed_by']}")
        key = self.provider.unwrap(row["kek_id"], _unb64(row["wrapped"]), f"person_key:{pseudonym}")
        self._keys[pseudonym] = key
        return key

    def encrypt_for_person(self, pseudonym: str, value: str | None, context: str) -> str | None:
        """``value`` under the person's own key: erased exactly when :meth:`destroy_person_key` runs."""
        if value is None:
            return None
        return _seal(self._person_key(pseudonym), pseudonym, value, context)

    def decrypt_for_person(self, token: str, context: str) -> str:
        return _open(self._person_key(token_key(token)), token, context)

    def identity(self, pseudonym: str) -> dict[str, Any] | None:
        """Who a pseudonym is (source, source person id, name, email); None when unknown or erased."""
        with self.engine.connect() as c:
            row = c.execute(sa.select(person_identities).where(
                person_identities.c.pseudonym == pseudonym)).mappings().first()
        if row is None or row["name"] is None and row["source_person_id"] is None:  # unknown, or erased
            return None
        try:
            return {"pseudonym": pseudonym, "source": row["source"],
                    **{col: None if row[col] is None else self.decrypt_for_person(row[col], f"person_identities.{col}")
                       for col in ("source_person_id", "name", "email")}}
        except PersonErased:
            return None

    def destroy_person_key(self, pseudonym: str, *, actor: str, reason: str = "erasure") -> bool:
        """Destroy the person's key (crypto-shredding): their identity and notes cannot be read by anyone again.

        The pseudonym stays where it is (amounts kept for tax stay attributable to "someone", never to them).
        Recorded in the audit trail. False when the person is unknown or already erased.
        """
        from sync_pipeline.store import audit

        with self._lock, self.engine.begin() as c:
            done = c.execute(person_keys.update().where(person_keys.c.pseudonym == pseudonym,
                                                        person_keys.c.wrapped.is_not(None))
                             .values(wrapped=None, kek_id=None, destroyed_at=now_iso(), destroyed_by=actor)).rowcount
            if done:
                c.execute(person_identities.update().where(person_identities.c.pseudonym == pseudonym)
                          .values(source_person_id=None, name=None, email=None, updated_at=now_iso()))
                audit.append(c, actor=actor, action="person_key_destroyed", subject=pseudonym,
                             detail={"reason": reason})
            self._keys.pop(pseudonym, None)
        return bool(done)

    # -- rotation --------------------------------------------------------------------------------
    def rotate(self, *, actor: str, master: bool = True) -> dict[str, str]:
        """A new master key (when the provider makes them) and a new field key; both current from now on.

        Old keys keep decrypting; :meth:`reencrypt` moves everything to the new ones (no downtime between).
        """
        from sync_pipeline.store import audit

        with self._lock:
            kek = self.provider.rotate() if master else self.provider.current_key_id()
            field = self._new_data_key("field")
            with self.engine.begin() as c:
                c.execute(data_keys.update().where(data_keys.c.purpose == "field", data_keys.c.key_id != field,
                                                   data_keys.c.retired_at.is_(None)).values(retired_at=now_iso()))
                audit.append(c, actor=actor, action="keys_rotated", detail={"master_key": kek, "field_key": field})
            self._current = field
        return {"master_key": kek, "field_key": field}

    def reencrypt(self, *, actor: str, batch: int = 500) -> dict[str, int]:
        """Move everything to the current keys: rewrap data and person keys under the current master key, and
        re-encrypt every encrypted column (and plaintext left from before encryption) under the current field key.
        Safe to interrupt and re-run; readers keep working throughout (old keys decrypt until the end)."""
        from sync_pipeline.store import audit

        counts = {"data_keys_rewrapped": self._rewrap(data_keys, "key_id", "data_key"),
                  "person_keys_rewrapped": self._rewrap(person_keys, "pseudonym", "person_key"),
                  "values_reencrypted": 0}
        current = self.current_field_key()
        tables = metadata.tables
        for table_name, col_name, pk in encrypted_columns():
            t = tables[table_name]
            col, ctx = t.c[col_name], f"{table_name}.{col_name}"
            stale = sa.and_(col.is_not(None), sa.not_(col.startswith(f"{TOKEN_PREFIX}{current}:")),
                            sa.not_(col.startswith(f"{TOKEN_PREFIX}{PSEUDONYM_PREFIX}")))
            while True:
                with self.engine.begin() as c:
                    rows = c.execute(sa.select(*[t.c[k] for k in pk], col).where(stale).limit(batch)).all()
                    for r in rows:
                        value = self.encrypt_field(self.decrypt_field(r[-1], ctx), ctx)
                        c.execute(t.update().where(*[t.c[k] == r[i] for i, k in enumerate(pk)]).values({col_name: value}))
                counts["values_reencrypted"] += len(rows)
                if len(rows) < batch:
                    break
        with self.engine.begin() as c:
            audit.append(c, actor=actor, action="keys_reencrypted", detail={**counts, "field_key": current,
                                                                            "master_key": self.provider.current_key_id()})
        return counts

    def _rewrap(self, table: sa.Table, id_col: str, kind: str) -> int:
        kek = self.provider.current_key_id()
        n = 0
        with self.engine.begin() as c:
            rows = c.execute(sa.select(table.c[id_col], table.c.kek_id, table.c.wrapped).where(
                table.c.wrapped.is_not(None), table.c.kek_id != kek)).all()
            for key_ref, old_kek, wrapped in rows:
                key = self.provider.unwrap(old_kek, _unb64(wrapped), f"{kind}:{key_ref}")
                new_kek, new_wrapped = self.provider.wrap(key, f"{kind}:{key_ref}")
                c.execute(table.update().where(table.c[id_col] == key_ref).values(kek_id=new_kek,
                                                                                 wrapped=_b64(new_wrapped)))
                n += 1
        return n

    def status(self) -> dict[str, Any]:
        """Master keys, data keys (current / retired, which master key wraps them), values per key and column."""
        current = self.current_field_key()
        out: dict[str, Any] = {"provider": self.provider.name, "master_key": self.provider.current_key_id(),
                               "field_key": current, "data_keys": [], "columns": {}}
        with self.engine.connect() as c:
            for r in c.execute(sa.select(data_keys).order_by(data_keys.c.created_at)).mappings():
                out["data_keys"].append({k: r[k] for k in ("key_id", "purpose", "kek_id", "created_at", "retired_at")})
            people = c.execute(sa.select(sa.func.count(), sa.func.count(person_keys.c.wrapped),
                                         sa.func.count(sa.case((person_keys.c.kek_id != out["master_key"], 1))))
                               ).one()
            out["people"] = {"known": people[0], "erased": people[0] - people[1], "wrapped_by_old_master_key": people[2]}
            for table_name, col_name, _ in encrypted_columns():
                col = metadata.tables[table_name].c[col_name]
                by: dict[str, int] = {}
                for value, in c.execute(sa.select(col).where(col.is_not(None))):
                    k = token_key(value) if is_token(value) else "plaintext"
                    by[k] = by.get(k, 0) + 1
                out["columns"][f"{table_name}.{col_name}"] = by
        out["pending"] = sum(n for by in out["columns"].values() for k, n in by.items() if k != current) + sum(
            1 for d in out["data_keys"] if d["kek_id"] != out["master_key"]) + people[2]
        return out


_protectors: weakref.WeakKeyDictionary[Any, Protector] = weakref.WeakKeyDictionary()
_guard = threading.Lock()


def protector(store: Any, provider: KeyProvider | None = None) -> Protector:
    """The :class:`Protector` of an operational store (or engine), keys from ``SYNC_PIPELINE_KEYS`` by default."""
    engine = getattr(store, "engine", store)
    with _guard:
        p = _protectors.get(engine)
        if p is None or (provider is not None and p.provider is not provider):
            p = Protector(engine, provider or provider_from_env())
            _protectors[engine] = p
        return p


def encrypt_json(store: Any, value: Any, context: str) -> str | None:
    """JSON text of ``value`` (already a string: as is), encrypted (a helper for JSON payload columns)."""
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value)
    return protector(store).encrypt_field(text, context)
