"""What `epochs: auto` means for local training.

OpenAI's heuristic (3 epochs, more below 100 examples, fewer toward 25,000; `data.cost.auto_epochs`)
counts examples seen; a local LoRA at a fixed peak learning rate also needs optimizer steps, and a
small dataset gives few: Banking77's 10 intents x 20 rows at batch 16 is 13 steps an epoch. There,
3 epochs (39 steps) scored 89% exact match on 200 held-out rows; a 104-step plan (8 epochs, early
stopping kept epoch 3's weights, trained under a learning rate that decays more slowly) scored
93.5%. So auto also gives at least MIN_STEPS steps, at most MAX_EPOCHS epochs; early stopping
(train.early_stopping_patience) keeps the best adapter when more epochs stop helping.
"""

from __future__ import annotations

import math
from typing import Any

MIN_STEPS = 100
"""Fewest optimizer steps `auto` aims for."""
MAX_EPOCHS = 10
"""Most epochs the step rule may ask for (OpenAI's own rule may give more on tiny sets)."""


def planned_epochs(train: Any, n_examples: int, world: int = 1) -> int:
    """Epochs a local job on `n_examples` task rows runs: `train.epochs`, or `auto` resolved at
    its rows per optimizer step (batch x accumulation x processes)."""
    if train.epochs != "auto":
        return int(train.epochs)
    return local_auto_epochs(n_examples, train.batch_size * train.gradient_accumulation * world)


def local_auto_epochs(n_examples: int, rows_per_step: int) -> int:
    """Epochs for `n_examples` task rows at `rows_per_step` rows per optimizer step."""
    from tunewise.data.cost import auto_epochs

    epochs = auto_epochs(n_examples)
    if epochs == 0:
        return 0
    steps_per_epoch = math.ceil(n_examples / max(1, rows_per_step))
    return max(epochs, min(MAX_EPOCHS, math.ceil(MIN_STEPS / steps_per_epoch)))
