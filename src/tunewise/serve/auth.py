"""Bearer-key checks as FastAPI dependencies, over the key ring the app holds.

With no key in the store the server is open (and `tunewise serve` then binds loopback only);
once one key exists every chat request needs a valid key and admin routes an admin key. The ring
is refreshed with the catalog; a key not yet seen is looked up in the store once, so a key that
was just created works at once, and a revoked one stops within `serve.flags_ttl_s`.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import Request

from tunewise.serve.errors import AuthenticationFailed, PermissionDenied


def hash_key(key: str) -> str:
    """What the store keeps of a key."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class KeyInfo:
    id: str
    name: str
    admin: bool


@dataclass
class KeyRing:
    """sha256(key) -> KeyInfo for the live keys; `lookup` asks the store for unseen hashes."""

    keys: dict[str, KeyInfo] = field(default_factory=dict)
    any_keys: bool = False
    lookup: Callable[[str], KeyInfo | None] | None = None
    misses: set[str] = field(default_factory=set)
    """Hashes the store did not know at the last refresh: not looked up again until then."""

    async def check(self, token: str | None) -> KeyInfo | None:
        """The key's info, None when auth is off; AuthenticationFailed when refused."""
        if not self.any_keys:
            return None
        if not token:
            raise AuthenticationFailed(
                "You didn't provide an API key. Send it as 'Authorization: Bearer KEY' "
                "(create one with `tunewise keys create NAME`)."
            )
        digest = hash_key(token)
        info = self.keys.get(digest)
        if info is None and self.lookup is not None and digest not in self.misses:
            info = await asyncio.to_thread(self.lookup, digest)
            if info is None:
                self.misses.add(digest)
            else:
                self.keys[digest] = info
        if info is None:
            raise AuthenticationFailed(
                "Incorrect API key provided (unknown or revoked); see `tunewise keys list`."
            )
        return info


def _token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


async def require_client(request: Request) -> KeyInfo | None:
    ring: KeyRing = request.app.state.keys
    return await ring.check(_token(request))


async def require_admin(request: Request) -> KeyInfo | None:
    info = await require_client(request)
    if info is not None and not info.admin:
        raise PermissionDenied(
            f"key '{info.name}' is not an admin key; flag and rollout routes need one "
            "(`tunewise keys create NAME --admin`)"
        )
    return info
