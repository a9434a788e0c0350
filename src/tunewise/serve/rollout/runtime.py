"""What every `tunewise serve` runs for rollouts: the controller loop, the shadow mirror and the
live judge.

Each pass (every `rollout.tick`, or sooner when a live rollout asks for a shorter tick) reads
the live rollouts, hands the shadow stages to the mirror (every replica mirrors its own share of
traffic) and the running rollouts with a judge to the live judge (each replica judges a sample
of its own traffic), and ticks each rollout; `tick` acts only while this process holds the feature's lease,
so replicas never decide twice. At shutdown the leases this process holds are released, so
another replica takes over at its next pass instead of waiting for the expiry.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from tunewise.serve.rollout.config import RolloutConfig, parse_interval
from tunewise.serve.rollout.controller import TickResult, live_features, tick
from tunewise.serve.rollout.lease import new_holder, release
from tunewise.serve.rollout.livejudge import Judged, LiveJudge
from tunewise.serve.rollout.look import settings_of
from tunewise.serve.rollout.shadow import Mirror, Shadow

log = logging.getLogger("tunewise.serve")
QUIET = {"idle", "wait", "lease_held", "paused", "held", "changed"}


class RolloutRuntime:
    def __init__(
        self,
        gateway: Any,
        engine: Callable[[], Any],
        cfg: RolloutConfig,
        *,
        schema: dict[str, Any] | None = None,
    ) -> None:
        self._engine = engine
        self.cfg = cfg
        self.holder = new_holder()
        self.mirror = Mirror(gateway, engine, concurrency=cfg.shadow_concurrency, schema=schema)
        gateway.observers.append(self.mirror.observe)
        self.judge = LiveJudge(engine, batch=cfg.judge_batch, queue=cfg.judge_queue)
        gateway.observers.append(self.judge.observe)
        self.last: dict[str, TickResult] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.mirror.start()
        await self.judge.start()
        self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await self.mirror.close()
        await self.judge.close()
        held = [f for f, r in self.last.items() if r.outcome not in {"lease_held", "idle"}]
        for feature in held:
            try:
                await asyncio.to_thread(release, self._engine(), feature, self.holder)
            except Exception as exc:  # the lease expires on its own
                log.warning("releasing the rollout lease of %s failed: %s", feature, exc)

    async def _run(self) -> None:
        default = parse_interval(self.cfg.tick).total_seconds()
        while True:
            delay = default
            try:
                delay = await asyncio.to_thread(self.run_once, default)
            except Exception:  # a bad pass must not stop the loop (the store may be down)
                log.exception("rollout controller pass failed")
            await asyncio.sleep(delay)

    def run_once(self, default: float) -> float:
        """One pass; returns the seconds until the next."""
        engine = self._engine()
        rollouts = live_features(engine)
        self.mirror.shadows = {
            r.feature: Shadow(r.id, r.shadow_percent, r.model, r.settings.get("label_field"))
            for r in rollouts
            if r.state == "shadow"
        }
        self.judge.judged = {
            r.feature: Judged(r.id, r.settings["judge"], settings_of(r).judge_sample)
            for r in rollouts
            if r.state == "running" and r.settings.get("judge")
        }
        delays = [default]
        for r in rollouts:
            delays.append(parse_interval(settings_of(r).tick).total_seconds())
            if not self.cfg.controller:
                continue
            result = tick(engine, r.feature, self.holder)
            self.last[r.feature] = result
            if result.outcome not in QUIET:
                log.warning(
                    "rollout #%s on %s: %s %s", r.id, r.feature, result.outcome, result.detail
                )
        return min(delays)
