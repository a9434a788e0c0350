"""Configuration of `tunewise run` (the `run:` section of tunewise.yaml)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RunConfig(BaseModel):
    """How the whole pipeline runs."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    runs_dir: str = "runs"
    """Folder (relative to the current directory) holding runs/<run-id>/<stage>/."""
    target_score: float = Field(0.9, gt=0, le=1)
    """Primary-metric level the use case needs; a variant without training (a prompt, the classifier) reaching it makes training unnecessary."""
    few_shot: int = Field(3, ge=0, le=32)
    """Examples in the few-shot baseline variant, the training rows nearest to each case (0 skips that variant)."""
    classifier: bool = True
    """Evaluate the embedding classifier (MiniLM + logistic regression) in the baseline when the answers are labels."""
    register_model: bool = True
    """Register the dataset, job, model, eval and gate decision in the model registry."""
    tune: bool = False
    """Search the training settings first (the `tune:` section; a stage before train, keyed like the
    others) and train with the best; the best trial's adapter is the one compared and registered."""
