"""Average the weights of bundles of one model: a model soup, or WiSE-FT's interpolation.

Usage::

    python -m training.average OUT.safetensors BASE.safetensors:0.75 TUNED.safetensors:0.25
    python -m training.average OUT.safetensors default:0.75 runs/tuned.safetensors:0.25

Fine-tunes from one start stay in one basin of the loss, so their weights can be averaged
(Wortsman et al. 2022, "Model soups"), and a fine-tune averaged with its start keeps what the
start knew while gaining some of what the fine-tune learnt (Wortsman et al. 2022, "Robust
fine-tuning of zero-shot models", WiSE-FT). Every floating-point tensor, batch-norm statistics
included, is the weighted mean of the inputs'; integer buffers (batch-norm step counts) are
the first input's. The weights must be positive and are used as given, so they must add to 1.
The bundle records what it was averaged from: each input's file name, sha256, weight and its
own training metadata.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from torch import nn


@dataclass(frozen=True)
class WeightedBundle:
    """One input of an average: a bundle file (or a pretrained name) and its weight."""

    path: Path
    weight: float


def parse_weighted(text: str) -> WeightedBundle:
    """``"FILE:WEIGHT"`` -> :class:`WeightedBundle` (the weight after the last colon).

    Raises:
        ValueError: no ``:WEIGHT``, or a weight that is not a positive finite number.
    """
    path, sep, weight = text.rpartition(":")
    try:
        value = float(weight)
    except ValueError:
        value = math.nan
    if not sep or not path or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{text!r}: write each input as FILE:WEIGHT with a positive weight")
    return WeightedBundle(Path(path), value)


def average_bundles(inputs: Sequence[WeightedBundle]) -> tuple[nn.Module, dict[str, str]]:
    """The weighted average of ``inputs`` as a model (in eval mode), with its bundle metadata.

    Each input is a bundle file or a pretrained name (``default``).

    Raises:
        ValueError: fewer than two inputs, weights that do not add to 1, or bundles of
            different architectures or configs (the message names the file).
        FileNotFoundError / OSError: a bundle cannot be read, or an input is neither a file
            nor a pretrained name.
    """
    from avloc.checkpoint import bundle_sha256, load_bundle, read_bundle_metadata
    from avloc.models import config_to_dict
    from avloc.pretrained import resolve

    if len(inputs) < 2:
        raise ValueError("average: name at least two bundles to average")
    total = sum(item.weight for item in inputs)
    if not math.isclose(total, 1.0, abs_tol=1e-6):
        raise ValueError(f"average: the weights add to {total:g}; they must add to 1")
    inputs = [WeightedBundle(resolve(item.path), item.weight) for item in inputs]
    first = load_bundle(inputs[0].path, device="cpu")
    identity = (first.registry_name, config_to_dict(first.config))
    mean = {
        name: tensor.double() * inputs[0].weight if tensor.is_floating_point() else tensor
        for name, tensor in first.state_dict().items()
    }
    for item in inputs[1:]:
        model = load_bundle(item.path, device="cpu")
        if (model.registry_name, config_to_dict(model.config)) != identity:
            raise ValueError(
                f"{item.path}: a different model from {inputs[0].path} "
                f"({model.registry_name!r} against {first.registry_name!r}, or another config); "
                "only bundles of one model can be averaged"
            )
        for name, tensor in model.state_dict().items():
            if tensor.is_floating_point():
                mean[name] += tensor.double() * item.weight
    state = first.state_dict()
    first.load_state_dict({name: mean[name].to(state[name].dtype) for name in state})
    sources = [
        {
            "file": item.path.name,
            "sha256": bundle_sha256(item.path),
            "weight": item.weight,
            **read_bundle_metadata(item.path).extra,
        }
        for item in inputs
    ]
    return first.eval(), {"averaged_from": json.dumps(sources, indent=2)}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m training.average``; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m training.average",
        description="Write the weighted average of bundles of one model as a new bundle.",
    )
    parser.add_argument("out", help="bundle to write")
    parser.add_argument(
        "inputs", nargs="+", help="FILE:WEIGHT (FILE a bundle or a pretrained name), adding to 1"
    )
    args = parser.parse_args(argv)
    from avloc.checkpoint import save_bundle
    from avloc.pretrained import resolve

    out = Path(args.out)
    try:
        # each input resolved once: a pretrained name's file is checksummed as it is resolved
        named = [parse_weighted(text) for text in args.inputs]
        inputs = [WeightedBundle(resolve(item.path), item.weight) for item in named]
        if out.exists() and any(out.resolve() == item.path.resolve() for item in inputs):
            raise ValueError(f"{out} is one of the inputs; write the average elsewhere")
        model, metadata = average_bundles(inputs)
        path = save_bundle(model, out, extra_metadata=metadata)
    except (ValueError, OSError) as error:
        print(f"average: error: {error}", file=sys.stderr)
        return 2
    print(f"average: wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
