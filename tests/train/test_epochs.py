"""`epochs: auto` for local training: OpenAI's heuristic, raised to give small sets enough steps."""

from __future__ import annotations

from tunewise.data.cost import auto_epochs
from tunewise.train.epochs import MAX_EPOCHS, MIN_STEPS, local_auto_epochs


def test_small_sets_get_enough_optimizer_steps():
    # Banking77 10 x 20 rows at batch 16: 13 steps an epoch; OpenAI's rule says 3 (39 steps)
    assert auto_epochs(200) == 3
    assert local_auto_epochs(200, 16) == 8 and MIN_STEPS <= 8 * 13
    assert local_auto_epochs(200, 8) == 4  # 25 steps an epoch
    assert local_auto_epochs(40, 16) == MAX_EPOCHS  # 3 steps an epoch: capped


def test_larger_sets_and_tiny_sets_keep_openais_rule():
    assert local_auto_epochs(2000, 16) == auto_epochs(2000) == 3
    assert local_auto_epochs(20_000, 16) == auto_epochs(20_000) == 1
    assert local_auto_epochs(10, 4) == auto_epochs(10) == 10
    assert local_auto_epochs(5, 1) == auto_epochs(5) == 20  # OpenAI's own rule may exceed the cap
    assert local_auto_epochs(0, 16) == 0
