"""Workbench users and roles.

A YAML file (``SYNC_PIPELINE_WORKBENCH_USERS``, default ``data/workbench_users.yaml``)::

    users:
      - name: alice
        role: accountant          # viewer | accountant | admin
        password: pbkdf2_sha256$200000$<salt hex>$<hash hex>

Create entries with ``sync-pipeline workbench user NAME --role ROLE`` (asks for the password).

What each role may do:

| role       | see exceptions, history | comment | accept / reject matches | apply rule templates | create templates |
|------------|-------------------------|---------|-------------------------|----------------------|------------------|
| viewer     | yes                     | yes     | no                      | no                   | no               |
| accountant | yes                     | yes     | yes                     | yes                  | no               |
| admin      | yes                     | yes     | yes                     | yes                  | yes              |
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import yaml

ROLES = ("viewer", "accountant", "admin")
PERMISSIONS = {
    "view": {"viewer", "accountant", "admin"},
    "comment": {"viewer", "accountant", "admin"},
    "decide": {"accountant", "admin"},
    "apply_template": {"accountant", "admin"},
    "create_template": {"admin"},
}
ITERATIONS = 200_000


@dataclass(frozen=True)
class User:
    name: str
    role: str

    def may(self, permission: str) -> bool:
        return self.role in PERMISSIONS[permission]


def hash_password(password: str, *, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return f"pbkdf2_sha256${iterations}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        algo, iterations, salt, digest = stored.split("$")
    except ValueError:
        return False
    if algo != "pbkdf2_sha256":
        return False
    got = hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt), int(iterations))
    return hmac.compare_digest(got.hex(), digest)


class UserStore:
    def __init__(self, users: dict[str, tuple[str, str]]) -> None:
        self._users = users  # name -> (role, password hash)

    @classmethod
    def load(cls, path: str | Path) -> UserStore:
        p = Path(path)
        if not p.exists():
            raise FileNotFoundError(f"no workbench users file at {p}: create one with "
                                    "`sync-pipeline workbench user NAME --role accountant`")
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        users = {}
        for n, u in enumerate(data.get("users") or [], start=1):
            if u.get("role") not in ROLES:
                raise ValueError(f"{p}: user #{n} ({u.get('name')}) has role {u.get('role')!r}; use one of {ROLES}")
            users[str(u["name"])] = (u["role"], str(u["password"]))
        return cls(users)

    def authenticate(self, name: str, password: str) -> User | None:
        found = self._users.get(name)
        if found is None or not verify_password(password, found[1]):
            return None
        return User(name, found[0])

    def role_of(self, name: str) -> str | None:
        found = self._users.get(name)
        return found[0] if found else None


def add_user(path: str | Path, name: str, role: str, password: str) -> None:
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}")
    p = Path(path)
    data = (yaml.safe_load(p.read_text(encoding="utf-8")) if p.exists() else None) or {}
    users = [u for u in data.get("users") or [] if u.get("name") != name]
    users.append({"name": name, "role": role, "password": hash_password(password)})
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(yaml.safe_dump({"users": users}, sort_keys=False), encoding="utf-8")
    os.chmod(p, 0o600)
