"""Loss curves: the numbers as JSON and a picture (matplotlib, Agg backend, imported lazily)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tunewise.artifacts import atomic_write_bytes, atomic_write_json


def write_curves(out: str | Path, history: list[dict[str, Any]]) -> tuple[Path, Path | None]:
    """Write `curves.json` (one record per logged step) and `loss.png`; returns both paths.

    The PNG is skipped (None) when matplotlib is missing: the JSON holds the same data.
    """
    out = Path(out)
    json_path = atomic_write_json(out / "curves.json", {"points": history})
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return json_path, None
    import io

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    train = [(p["step"], p["train_loss"]) for p in history if p.get("train_loss") is not None]
    valid = [(p["step"], p["valid_loss"]) for p in history if p.get("valid_loss") is not None]
    if train:
        ax.plot(*zip(*train, strict=True), label="train loss", linewidth=1)
    if valid:
        ax.plot(*zip(*valid, strict=True), "o-", label="validation loss")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (assistant tokens)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return json_path, atomic_write_bytes(out / "loss.png", buf.getvalue())
