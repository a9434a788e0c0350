"""Packed batches: the layout itself, and the same losses and gradients as unpacked rows."""

from __future__ import annotations

import pytest

from tunewise.train.config import TrainConfig
from tunewise.train.data import IGNORE, Example
from tunewise.train.packing import pack, shared_prefix_length

torch = pytest.importorskip("torch")


def _ex(ids, n_label):
    return Example(list(ids), [IGNORE] * (len(ids) - n_label) + list(ids[-n_label:]))


def test_layout_shares_prefix_and_blocks_rows_from_each_other():
    a = _ex([1, 2, 3, 4, 5, 10, 11, 12], 2)  # prefix 1..5, rest 10 11 12
    b = _ex([1, 2, 3, 4, 5, 20, 21], 1)
    assert shared_prefix_length([a, b]) == 5
    out = pack([a, b], pad_id=0)
    assert out["input_ids"].tolist() == [[1, 2, 3, 4, 5, 10, 11, 12, 20, 21]]
    assert out["position_ids"].tolist() == [[0, 1, 2, 3, 4, 5, 6, 7, 5, 6]]
    # position t predicts the row's next token; a row's last position predicts nothing
    assert out["targets"].tolist() == [[IGNORE] * 5 + [11, 12, IGNORE] + [21, IGNORE]]
    m = out["attention_mask"][0, 0]
    assert m[8, :5].all() and not m[8, 5:8].any() and m[8, 8]  # row b sees the prefix, not row a
    assert not m[4, 5:].any()  # causal
    assert out["n_tokens"] == 15 and out["n_shared"] == 5 and out["n_loss"] == 3


def test_prefix_stops_before_the_first_trained_token_and_needs_two_rows():
    a = _ex([1, 2, 3, 4, 5, 6, 7, 8, 9], 3)  # trained tokens at 6, 7, 8; position 5 predicts 6
    b = _ex([1, 2, 3, 4, 5, 6, 7, 8, 0], 3)  # shares 8 tokens with a
    assert shared_prefix_length([a, b]) == 5
    assert shared_prefix_length([a]) == 0
    assert shared_prefix_length([_ex([1, 2, 9, 9, 9, 9], 1), _ex([1, 2, 8, 8, 8, 8], 1)]) == 0


def test_chunks_respect_the_token_budget_and_padding_sees_only_itself():
    rows = [_ex([1, 2, 3, 4, 5] + [10 + i] * 6, 2) for i in range(5)]
    out = pack(rows, pad_id=0, max_tokens=20)
    assert out["input_ids"].shape == (3, 17)  # 5 + 2 * 6 per chunk, the last one padded
    assert out["n_loss"] == 5 * 2 and out["n_tokens"] == 55
    last = out["attention_mask"][2, 0]
    assert last[-1].sum() == 1 and last[-1, -1]  # a pad position attends to itself only


def _batch(tiny_model, rows, packed):
    from transformers import AutoTokenizer

    from tunewise.train import data as D

    tok = AutoTokenizer.from_pretrained(tiny_model)
    exs, _ = D.prepare_sft(tok, rows, 512, "truncate")
    return (
        pack(exs, tok.pad_token_id, max_tokens=64) if packed else D.collate(exs, tok.pad_token_id)
    )


def _rows(n):
    from train_rows import chat_row

    rows = [chat_row(i) for i in range(n)]
    for i, r in enumerate(rows):
        r["messages"][1]["content"] += " Please." * (i % 3)  # different lengths
    return rows


def _loss_and_grads(model, b):
    from tunewise.train import modeling as M

    model.zero_grad(set_to_none=True)
    s, n = M.make_loss_module(model)(
        b["input_ids"], b["attention_mask"], b["targets"], b.get("position_ids")
    )
    s.backward()
    grads = {k: p.grad.clone() for k, p in model.named_parameters() if p.requires_grad}
    return float(s.detach()), int(n), grads


@pytest.mark.parametrize("method", ["lora", "full"])
def test_packed_batch_gives_the_losses_and_gradients_of_unpacked_rows(tiny_model, method):
    from tunewise.train import modeling as M

    model = M.load_trainable(
        tiny_model, TrainConfig(method=method, lora={"r": 4, "alpha": 8}), "cpu", "float32"
    )
    with torch.no_grad():  # lora_B starts at zero: make the adapters matter
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.02)
    rows = _rows(7)
    packed = _batch(tiny_model, rows, packed=True)
    assert packed["n_shared"] > 0 and packed["input_ids"].shape[0] >= 2  # shared and chunked
    s_ref, n_ref, g_ref = _loss_and_grads(model, _batch(tiny_model, rows, packed=False))
    s, n, g = _loss_and_grads(model, packed)
    assert n == n_ref > 0
    assert s == pytest.approx(s_ref, rel=1e-5)
    for k in g_ref:
        assert torch.allclose(g[k], g_ref[k], rtol=1e-4, atol=1e-6), k


def test_chunks_are_balanced_so_the_batch_pads_little():
    prefix = list(range(1, 11))
    rows = [_ex(prefix + [100 + n] * n, 1) for n in (300, 250, 200, 150, 100, 50)]
    out = pack(rows, pad_id=0, max_tokens=512)
    assert out["input_ids"].shape == (3, 360)  # 10 + 1050 / 3 each: no padding at all
    assert out["n_positions"] == out["n_tokens"] - out["n_shared"]
    assert out["n_loss"] == 6


def test_packing_is_refused_for_kernels_without_masks_and_short_sliding_windows(tiny_model):
    from tunewise.train import modeling as M

    model = M.load_trainable(tiny_model, TrainConfig(lora={"r": 4, "alpha": 8}), "cpu", "float32")
    assert M.supports_packing(model, 512)
    cfg = model.get_base_model().config
    cfg.sliding_window = 256
    assert not M.supports_packing(model, 512) and M.supports_packing(model, 256)
    cfg.sliding_window = None
    cfg._attn_implementation = "flash_attention_2"
    assert not M.supports_packing(model, 512)


def test_training_with_packing_off_uses_padded_rows(tiny_model, dataset, tmp_path):
    from tunewise.train.backend import LocalBackend, TrainRequest

    cfg = TrainConfig(
        base=str(tiny_model), epochs=1, batch_size=4, packing=False, lora={"r": 4, "alpha": 8}
    )
    job = LocalBackend().submit(TrainRequest(dataset, cfg, tmp_path / "out", progress=False))
    assert job.status == "succeeded"
    metrics = job.result["metrics"]
    assert metrics["packing"] is False and metrics["shared_prefix_fraction"] == 0
    assert metrics["device"] == ("cuda" if torch.cuda.is_available() else "cpu")
