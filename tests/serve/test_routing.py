"""Sticky, monotonic bucketing; the circuit breaker and retry budget on their own."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tunewise.serve.faults import CircuitBreaker, RetryBudget
from tunewise.serve.routing import BUCKETS, CANARY, CONTROL, Flag, arm_for, bucket


@given(st.text(min_size=1, max_size=40), st.integers(0, BUCKETS), st.integers(0, BUCKETS))
def test_raising_the_share_only_adds_users(user: str, a: int, b: int) -> None:
    low, high = sorted((a, b))
    was = arm_for("support", user, Flag(low), True)
    now = arm_for("support", user, Flag(high), True)
    assert not (was == CANARY and now == CONTROL)


def test_buckets_are_stable_uniform_and_per_feature() -> None:
    users = [f"user-{i}" for i in range(20_000)]
    assert [bucket("f", u) for u in users[:50]] == [bucket("f", u) for u in users[:50]]
    share = sum(arm_for("f", u, Flag(1000), True) == CANARY for u in users) / len(users)
    assert 0.09 < share < 0.11
    # Another feature's canary draws other users (not always the same 10%).
    both = sum(
        arm_for("f", u, Flag(1000), True) == CANARY and arm_for("g", u, Flag(1000), True) == CANARY
        for u in users
    )
    assert both / len(users) < 0.02


def test_kill_switch_anonymous_and_no_canary_go_to_control() -> None:
    assert arm_for("f", "u", Flag(10_000, killed=True), True) == CONTROL
    assert arm_for("f", None, Flag(10_000), True) == CONTROL
    assert arm_for("f", "u", Flag(10_000), False) == CONTROL
    assert arm_for("f", "u", Flag(10_000), True) == CANARY


def test_breaker_opens_half_opens_and_closes() -> None:
    now = [0.0]
    b = CircuitBreaker(failures=2, cooldown_s=10, clock=lambda: now[0])
    b.failure()
    assert b.allow()
    b.failure()
    assert b.state == "open" and not b.allow()
    now[0] = 10.5
    assert b.allow()  # the one trial request
    assert not b.allow()
    b.failure()  # the trial failed: open again
    assert b.state == "open"
    now[0] = 21
    assert b.allow()
    b.success()
    assert b.state == "closed" and b.allow()


def test_retry_budget_limits_retries_to_a_share_of_requests() -> None:
    budget = RetryBudget(ratio=0.1, min_tokens=0)
    allowed = 0
    for _ in range(100):
        budget.deposit()
        allowed += budget.withdraw()
    assert 9 <= allowed <= 10
