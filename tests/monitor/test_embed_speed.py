"""What keeps the monitor's embedding cheap: identical texts embedded once (the real MiniLM), and
OpenMP threads that sleep instead of spinning on a shared machine."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tunewise import embeddings


def test_repeated_texts_embed_once_in_order() -> None:
    if not embeddings.available():
        pytest.skip("the bundled MiniLM is not installed")
    import numpy as np

    texts = ["where is my parcel", "refund my order please", "where is my parcel", "hi", "hi"]
    seen: list[int] = []
    vecs = embeddings.embed(texts, batch_size=2, progress=seen.append)
    alone = embeddings.embed(["where is my parcel", "refund my order please", "hi"])
    assert vecs.shape == (5, 384) and sum(seen) == 5
    np.testing.assert_allclose(vecs[[0, 1, 3]], alone, atol=1e-5)
    np.testing.assert_array_equal(vecs[0], vecs[2])
    np.testing.assert_array_equal(vecs[3], vecs[4])
    assert float(vecs[0] @ vecs[1]) < 0.99  # different texts stay different


def test_passive_threads_only_before_torch_and_never_over_the_user() -> None:
    code = (
        "import os, sys\n"
        "from tunewise.threads import prefer_passive_threads\n"
        "p = lambda: prefer_passive_threads(always=True)  # as tunewise monitor calls it\n"
        "assert 'torch' not in sys.modules\n"
        "print(p(), os.environ.get('OMP_WAIT_POLICY'))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert run.stdout.split() == ["True", "PASSIVE"], run.stderr
    mine = subprocess.run([sys.executable, "-c", code], env={**env, "OMP_WAIT_POLICY": "ACTIVE"},
                          capture_output=True, text=True)  # fmt: skip
    assert mine.stdout.split() == ["False", "ACTIVE"], mine.stderr
    late = "import torch\n" + code.replace("assert 'torch' not in sys.modules\n", "")
    after = subprocess.run([sys.executable, "-c", late], env=env, capture_output=True, text=True)
    assert after.stdout.split() == ["False", "None"], after.stderr
