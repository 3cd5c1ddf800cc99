"""Master keys (key-encryption keys) kept outside the data, behind one small interface.

Nothing in the warehouse or the operational store is encrypted with a master key directly: data keys are
generated per purpose (the store's fields, the pseudonym key) and per person, and only their *wrapped* form
(AES-256-GCM under a master key, with the master key's id) is stored beside the data — envelope encryption,
as a cloud KMS does it. A provider only wraps and unwraps; which master key wrapped a data key is part of
the stored record, so after a rotation the old master keys still unwrap and the new one wraps.

Providers (``SYNC_PIPELINE_KEYS``, see :func:`provider_from_env`):

=====================  ==========================================================================================
``file:PATH``          a keyring JSON file (mode 0600, folder 0700) holding the master keys; ``rotate`` adds one.
                       The default is ``<data dir>.keys/keyring.json``, next to (never inside) the data folder,
                       created on first use.
``env:VAR``            master keys from an environment variable ``kid:base64key,kid:base64key`` (first = current;
                       keep the old ones listed until ``keys reencrypt`` has run). Rotation is the operator's:
                       put the new key first, run ``sync-pipeline keys reencrypt``.
``local-kms:DIR``      a KMS-style service: callers never see master key material, only ``encrypt``/``decrypt``
                       of data keys by key id (the shape of AWS KMS ``Encrypt``/``Decrypt``); :class:`LocalKms`
                       implements it in a local folder for development; :class:`KmsKeyProvider` takes any client
                       of that shape (e.g. ``boto3.client("kms")`` with a key ARN).
=====================  ==========================================================================================
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12


class KeyUnavailable(LookupError):
    """A key is missing, destroyed or cannot be read; the message says which and what to do."""


def _b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).decode("ascii").rstrip("=")


def _unb64(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def new_key_id(prefix: str = "k") -> str:
    return f"{prefix}{datetime.now(UTC).strftime('%Y%m%d')}-{secrets.token_hex(3)}"


def aes_wrap(kek: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """AES-256-GCM of ``plaintext`` under ``kek``: nonce || ciphertext+tag."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    return nonce + AESGCM(kek).encrypt(nonce, plaintext, aad)


def aes_unwrap(kek: bytes, blob: bytes, aad: bytes) -> bytes:
    return AESGCM(kek).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)


class KeyProvider(Protocol):
    """Wraps and unwraps data keys under master keys it keeps (never inside the data)."""

    name: str

    def current_key_id(self) -> str: ...

    def key_ids(self) -> list[str]: ...

    def wrap(self, data_key: bytes, context: str) -> tuple[str, bytes]:
        """``(master key id, wrapped data key)``; ``context`` is bound to the result (AES-GCM AAD)."""
        ...

    def unwrap(self, key_id: str, wrapped: bytes, context: str) -> bytes: ...

    def rotate(self) -> str:
        """Make a new master key current (old ones keep unwrapping); its id."""
        ...


class _KeyringProvider:
    """A provider over an in-memory keyring ``{kid: key}`` with a current kid."""

    name = "keyring"

    def __init__(self, keys: Mapping[str, bytes], current: str) -> None:
        self._keys = dict(keys)
        self._current = current
        for kid, k in self._keys.items():
            if len(k) != KEY_BYTES:
                raise KeyUnavailable(f"master key {kid!r} of {self.name} is {len(k)} bytes; it must be {KEY_BYTES} "
                                f"(generate one with `sync-pipeline keys generate`)")
        if current not in self._keys:
            raise KeyUnavailable(f"{self.name}: the current master key {current!r} is not in the keyring")

    def current_key_id(self) -> str:
        return self._current

    def key_ids(self) -> list[str]:
        return list(self._keys)

    def wrap(self, data_key: bytes, context: str) -> tuple[str, bytes]:
        kid = self._current
        return kid, aes_wrap(self._keys[kid], data_key, f"{kid}|{context}".encode())

    def unwrap(self, key_id: str, wrapped: bytes, context: str) -> bytes:
        key = self._keys.get(key_id)
        if key is None:
            raise KeyUnavailable(f"master key {key_id!r} is not in {self.name} (it holds {', '.join(self._keys)}): "
                            f"restore it from your key backup, or the data keys it wrapped cannot be read")
        try:
            return aes_unwrap(key, wrapped, f"{key_id}|{context}".encode())
        except InvalidTag:
            raise KeyUnavailable(f"a data key ({context}) does not unwrap under master key {key_id!r}: the wrapped key "
                            f"or the master key was altered") from None

    def rotate(self) -> str:
        raise KeyUnavailable(f"{self.name} cannot rotate by itself: add a new key to it, then run "
                        f"`sync-pipeline keys reencrypt`")


class EnvKeyProvider(_KeyringProvider):
    """Master keys from an environment variable: ``kid:base64,kid:base64`` — the first is current."""

    def __init__(self, var: str = "SYNC_PIPELINE_MASTER_KEYS", environ: Mapping[str, str] | None = None) -> None:
        self.name = f"env:{var}"
        text = (environ if environ is not None else os.environ).get(var, "").strip()
        if not text:
            raise KeyUnavailable(f"{var} is empty: set it to `kid:base64key` (`sync-pipeline keys generate` prints one)")
        pairs: list[tuple[str, bytes]] = []
        for part in text.split(","):
            kid, sep, b64 = part.strip().partition(":")
            if not sep or not kid:
                raise KeyUnavailable(f"{var}: entry {len(pairs) + 1} is not `kid:base64key`")
            pairs.append((kid, _unb64(b64)))
        super().__init__(dict(pairs), pairs[0][0])


class FileKeyProvider(_KeyringProvider):
    """A keyring file ``{"current": kid, "keys": {kid: base64}}``, 0600 in a 0700 folder; created when missing."""

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        self.path = Path(path)
        self.name = f"file:{self.path}"
        if not self.path.exists():
            if not create:
                raise KeyUnavailable(f"no keyring at {self.path}: restore it from your key backup")
            kid = new_key_id()
            self._save({kid: secrets.token_bytes(KEY_BYTES)}, kid)
        super().__init__(*self._load())

    def _load(self) -> tuple[dict[str, bytes], str]:
        doc = json.loads(self.path.read_text(encoding="utf-8"))
        return {k: _unb64(v) for k, v in doc["keys"].items()}, doc["current"]

    def unwrap(self, key_id: str, wrapped: bytes, context: str) -> bytes:
        if key_id not in self._keys:  # rotated by another process since this one read the keyring
            self._keys, self._current = self._load()
        return super().unwrap(key_id, wrapped, context)

    def _save(self, keys: Mapping[str, bytes], current: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        doc = {"current": current, "keys": {k: _b64(v) for k, v in keys.items()},
               "note": "sync_pipeline master keys: back this file up apart from the data; never commit it"}
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".keyring-")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(doc, f, indent=1)
            os.replace(tmp, self.path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def rotate(self) -> str:
        kid = new_key_id()
        self._keys[kid] = secrets.token_bytes(KEY_BYTES)
        self._current = kid
        self._save(self._keys, kid)
        return kid


class KmsClient(Protocol):
    """The part of a KMS API envelope encryption needs (AWS KMS ``Encrypt``/``Decrypt`` shape)."""

    def encrypt(self, *, KeyId: str, Plaintext: bytes, EncryptionContext: dict[str, str]) -> dict[str, Any]: ...  # noqa: N803

    def decrypt(self, *, CiphertextBlob: bytes, EncryptionContext: dict[str, str], KeyId: str) -> dict[str, Any]: ...  # noqa: N803


class LocalKms:
    """A KMS for development and tests: master keys live in ``folder`` (0700) and never leave this object.

    Same calls and answers as AWS KMS ``Encrypt``/``Decrypt`` (``CiphertextBlob``, ``Plaintext``, ``KeyId``), so
    :class:`KmsKeyProvider` is the code production runs against a real KMS. ``create_key`` adds a key version.
    """

    def __init__(self, folder: str | Path) -> None:
        self._ring = FileKeyProvider(Path(folder) / "kms-keys.json")

    def encrypt(self, *, KeyId: str, Plaintext: bytes, EncryptionContext: dict[str, str]) -> dict[str, Any]:  # noqa: N803
        kid = self._ring.current_key_id() if KeyId == "alias/sync-pipeline" else KeyId
        ctx = json.dumps(EncryptionContext, sort_keys=True)
        blob = aes_wrap(self._ring._keys[kid], Plaintext, f"{kid}|{ctx}".encode())
        return {"CiphertextBlob": blob, "KeyId": kid}

    def decrypt(self, *, CiphertextBlob: bytes, EncryptionContext: dict[str, str], KeyId: str) -> dict[str, Any]:  # noqa: N803
        return {"Plaintext": self._ring.unwrap(KeyId, CiphertextBlob, json.dumps(EncryptionContext, sort_keys=True)),
                "KeyId": KeyId}

    def create_key(self) -> str:
        return self._ring.rotate()

    def current(self) -> str:
        return self._ring.current_key_id()

    def key_ids(self) -> list[str]:
        return self._ring.key_ids()


class KmsKeyProvider:
    """Envelope encryption through a KMS: data keys are wrapped by the KMS, master keys never leave it."""

    def __init__(self, kms: LocalKms | KmsClient, key_id: str = "alias/sync-pipeline") -> None:
        self.kms = kms
        self.alias = key_id
        self.name = f"kms:{key_id}"

    def current_key_id(self) -> str:
        return self.kms.current() if isinstance(self.kms, LocalKms) else self.alias

    def key_ids(self) -> list[str]:
        return self.kms.key_ids() if isinstance(self.kms, LocalKms) else [self.alias]

    def wrap(self, data_key: bytes, context: str) -> tuple[str, bytes]:
        out = self.kms.encrypt(KeyId=self.alias, Plaintext=data_key, EncryptionContext={"purpose": context})
        return str(out["KeyId"]), bytes(out["CiphertextBlob"])

    def unwrap(self, key_id: str, wrapped: bytes, context: str) -> bytes:
        out = self.kms.decrypt(CiphertextBlob=wrapped, EncryptionContext={"purpose": context}, KeyId=key_id)
        return bytes(out["Plaintext"])

    def rotate(self) -> str:
        if isinstance(self.kms, LocalKms):
            return self.kms.create_key()
        raise KeyUnavailable(f"{self.name}: rotate the key in the KMS itself, then run `sync-pipeline keys reencrypt`")


def default_keyring(data_dir: Path) -> Path:
    """``<data dir>.keys/keyring.json``: beside the data folder, never in it (a copy of the data is not a key)."""
    return data_dir.with_name(data_dir.name + ".keys") / "keyring.json"


def provider_from_spec(spec: str) -> KeyProvider:
    """``file:PATH`` | ``env:VAR`` | ``local-kms:DIR``."""
    kind, _, arg = spec.partition(":")
    if kind == "file" and arg:
        return FileKeyProvider(arg)
    if kind == "env":
        return EnvKeyProvider(arg or "SYNC_PIPELINE_MASTER_KEYS")
    if kind == "local-kms" and arg:
        return KmsKeyProvider(LocalKms(arg))
    raise KeyUnavailable(f"SYNC_PIPELINE_KEYS={spec!r} is not a key provider: use file:PATH, env:VAR or local-kms:DIR")


def provider_from_env(data_dir: Path | None = None) -> KeyProvider:
    """The provider ``SYNC_PIPELINE_KEYS`` names; unset: the file keyring beside the data folder."""
    spec = os.environ.get("SYNC_PIPELINE_KEYS", "").strip()
    if spec:
        return provider_from_spec(spec)
    if data_dir is None:
        data_dir = Path(os.environ.get("SYNC_PIPELINE_DATA_DIR", Path(__file__).resolve().parents[2] / "data"))
    return FileKeyProvider(default_keyring(data_dir))


def generate_key() -> str:
    """A fresh master key as ``kid:base64`` (for ``env:`` providers)."""
    return f"{new_key_id()}:{_b64(secrets.token_bytes(KEY_BYTES))}"
