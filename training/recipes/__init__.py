"""The registered recipes: an explicit name -> ``TrainConfig`` table (no import magic)."""

from __future__ import annotations

from training.config import TrainConfig
from training.recipes import avloc_resnet18, avloc_small, tiny

RECIPES: dict[str, TrainConfig] = {
    "tiny": tiny.RECIPE,
    "avloc_small": avloc_small.RECIPE,
    "avloc_resnet18": avloc_resnet18.RECIPE,
}


def get_recipe(name: str) -> TrainConfig:
    """The recipe registered as ``name``.

    Raises:
        ValueError: no such recipe; the message lists the registered ones.
    """
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; registered recipes: {', '.join(RECIPES)}")
    return RECIPES[name]
