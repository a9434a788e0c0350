"""What a request's `model` names: a feature (its control and canary), a registered model, a
`feature@alias`, or a base model an upstream serves. Built from the store as one snapshot that
the gateway swaps in every `serve.flags_ttl_s`, so the request path never waits on the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tunewise.serve.errors import NotFound
from tunewise.serve.routing import Flag
from tunewise.serve.upstreams.base import ModelTarget

CONTROL_ALIAS = "production"
CANARY_ALIAS = "canary"


@dataclass(frozen=True)
class Feature:
    name: str
    control: ModelTarget | None
    canary: ModelTarget | None
    flag: Flag = field(default_factory=Flag)


@dataclass(frozen=True)
class Catalog:
    """One consistent view of features, models, aliases and flags."""

    features: dict[str, Feature] = field(default_factory=dict)
    models: dict[str, ModelTarget] = field(default_factory=dict)
    aliases: dict[str, ModelTarget] = field(default_factory=dict)
    """`feature@alias` -> target, for every alias that holds a model."""

    def find_model(self, name: str) -> ModelTarget | None:
        return self.models.get(name) or self.aliases.get(name)


def target_from_row(m: Any) -> ModelTarget:
    """A registry `Model` row as something an upstream can serve."""
    if m.kind == "provider":
        return ModelTarget(
            name=m.name,
            kind="provider",
            base=m.base_id,
            base_hash=m.base_hash,
            provider_model=m.provider_model_id,
        )
    if m.kind == "classifier":  # pinned by the whole folder's hash (registry.integrity)
        return ModelTarget(
            name=m.name,
            kind="classifier",
            base=m.base_id,
            path=m.adapter_path,
            content_hash=m.adapter_sha256,
        )
    return ModelTarget(
        name=m.name,
        kind="full" if m.kind == "full" else "adapter",
        base=m.base_id,
        base_hash=m.base_hash,
        path=m.adapter_path,
        content_hash=m.weights_sha256 or m.adapter_sha256,
    )


def load_catalog(session: Any, flags: dict[str, Flag]) -> Catalog:
    """Read models and aliases from the registry tables in `session`, joined with `flags`."""
    from sqlalchemy import select

    from tunewise.registry.tables import Alias, Model

    models = {}
    by_id = {}
    for m in session.scalars(select(Model).where(Model.deprecated_at.is_(None))):
        by_id[m.id] = models[m.name] = target_from_row(m)
        if m.provider_model_id and m.provider_model_id != m.name:
            models[m.provider_model_id] = models[m.name]
    aliases: dict[str, ModelTarget] = {}
    holders: dict[str, dict[str, ModelTarget]] = {}
    for a in session.scalars(select(Alias).where(Alias.model_id.is_not(None))):
        target = by_id.get(a.model_id)
        if target is None:  # the holder is deprecated: the alias cannot serve it
            continue
        aliases[f"{a.feature}@{a.alias}"] = target
        holders.setdefault(a.feature, {})[a.alias] = target
    features = {
        name: Feature(
            name,
            control=held.get(CONTROL_ALIAS),
            canary=held.get(CANARY_ALIAS),
            flag=flags.get(name, Flag()),
        )
        for name, held in holders.items()
    }
    return Catalog(features=features, models=models, aliases=aliases)


def unknown_model(name: str, catalog: Catalog, served: list[str]) -> NotFound:
    known = sorted(set(catalog.features) | set(served))[:10]
    hint = f"; features and models here: {', '.join(known)}" if known else ""
    return NotFound(
        f"The model '{name}' does not exist: it is neither a feature with a "
        f"{CONTROL_ALIAS} alias, a registered model, nor a model an upstream serves"
        f"{hint} (see GET /v1/models)",
        param="model",
    )
