"""Sticky, monotonic bucketing of users into a feature's arms.

A user's bucket is a hash of (feature, user id) into 10,000 buckets; the canary takes the users
whose bucket is below its share in basis points. Raising the share only adds users (nobody who
was on the canary goes back), lowering it only removes them, and every server computes the same
arm for the same user with no shared state but the share itself. Like Unleash's gradual rollout
(murmur3 of `groupId:userId`), with sha256 so that no extra dependency is needed.

Requests without a user id cannot be sticky: they go to control and are counted apart.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

BUCKETS = 10_000
CONTROL = "control"
CANARY = "canary"


def bucket(feature: str, user: str) -> int:
    """The user's bucket in [0, 10000) for this feature."""
    digest = hashlib.sha256(f"{feature}\x00{user}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def user_hash(user: str) -> str:
    """What the request log stores instead of the user id (sha256, truncated)."""
    return hashlib.sha256(user.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Flag:
    """A feature's canary share (basis points, 0..10000) and kill switch."""

    canary_bp: int = 0
    killed: bool = False


def arm_for(feature: str, user: str | None, flag: Flag, has_canary: bool) -> str:
    """`canary` or `control` for this user; anonymous users, a killed flag or no canary: control."""
    if not has_canary or flag.killed or flag.canary_bp <= 0 or not user:
        return CONTROL
    return CANARY if bucket(feature, user) < flag.canary_bp else CONTROL
