"""Turn a run directory's training state into an inference bundle (one ``.safetensors``).

Usage::

    python -m training.export RUN_DIR OUT.safetensors

The model is rebuilt through the registry from the run's config, the trained weights are
loaded strictly, and ``avloc.checkpoint.save_bundle`` writes the weights with the model
config, the preprocessing contract and version metadata (no pickles, no optimizer state).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from torch import nn

from training.config import config_from_json
from training.train import CHECKPOINT_NAME, load_state


def model_from_run(run_dir: str | Path) -> tuple[nn.Module, dict[str, str]]:
    """The trained model of a run and the training facts worth keeping in the bundle.

    Args:
        run_dir: a run directory (``checkpoints/last.pt`` inside) or a checkpoint file.

    Returns:
        The model in eval mode, and metadata: recipe config, stages done, global step.

    Raises:
        FileNotFoundError: no checkpoint in ``run_dir``.
        ValueError: the checkpoint is not a training state or does not fit its model.
    """
    from avloc.models import create_model

    path = Path(run_dir)
    checkpoint = path / CHECKPOINT_NAME if path.is_dir() else path
    state = load_state(checkpoint)
    config = config_from_json(state["config"], f"{checkpoint} (config)")
    model = create_model(config.model, **dict(config.model_overrides))
    try:
        model.load_state_dict(state["model"], strict=True)
    except RuntimeError as error:
        raise ValueError(f"{checkpoint}: weights do not fit {config.model!r}: {error}") from error
    return model.eval(), training_facts(state)


def training_facts(state: Mapping[str, Any]) -> dict[str, str]:
    """The bundle metadata a training state gives: its recipe config (JSON), the stages the
    loop ran, in order (JSON list), and the global step."""
    from training.objectives import active_stages

    config = config_from_json(state["config"])
    done = active_stages(config)[: state["stage_index"]]
    return {
        "training_config": state["config"],
        "training_stages_done": json.dumps(list(done)),
        "training_step": str(state["global_step"]),
    }


def export(run_dir: str | Path, out_path: str | Path) -> Path:
    """Write the bundle of ``run_dir`` to ``out_path``; returns the written path.

    Raises:
        FileNotFoundError / ValueError: see :func:`model_from_run`; ValueError also when
            ``out_path`` is a folder or the run's own checkpoint.
        OSError: the bundle could not be written.
    """
    from avloc.checkpoint import save_bundle

    out_path = Path(out_path)
    source = Path(run_dir)
    checkpoint = source / CHECKPOINT_NAME if source.is_dir() else source
    if out_path.exists() and out_path.resolve() == checkpoint.resolve():
        raise ValueError(f"{out_path} is the run's training state; write the bundle elsewhere")
    if out_path.is_dir() or not out_path.name:
        raise ValueError(f"{out_path or '(empty)'} is a folder; name the bundle file to write")
    if out_path.is_file() and not _is_bundle(out_path):  # e.g. another run's checkpoint
        raise ValueError(f"{out_path} exists and is not an avloc bundle; refusing to overwrite it")
    if blocker := next((p for p in out_path.parents if p.exists() and not p.is_dir()), None):
        raise ValueError(f"{out_path}: {blocker} is a file, not a folder")
    model, metadata = model_from_run(run_dir)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    return save_bundle(model, out_path, extra_metadata=metadata)


def _is_bundle(path: Path) -> bool:
    from avloc.checkpoint import read_bundle_metadata

    try:
        read_bundle_metadata(path)
    except (ValueError, OSError):
        return False
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m training.export``; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m training.export", description="Export a training run as a bundle."
    )
    parser.add_argument("run_dir", help="run directory (or its checkpoints/last.pt)")
    parser.add_argument("out", help="bundle to write, e.g. assets/models/avloc-small.safetensors")
    args = parser.parse_args(argv)
    from avloc.checkpoint import read_bundle_metadata

    try:
        path = export(args.run_dir, args.out)
    except (ValueError, OSError) as error:
        print(f"export: error: {error}", file=sys.stderr)
        return 2
    print(f"export: wrote {path}")
    if unfinished := _unfinished_note(read_bundle_metadata(path).extra):
        print(f"export: note: {unfinished}")
    return 0


def _unfinished_note(metadata: Mapping[str, str]) -> str | None:
    """What an export of a run that stopped before its last stage should say, else None.

    ``metadata``: the :func:`training_facts` of the run (which its bundle keeps)."""
    from training.objectives import active_stages

    stages = active_stages(config_from_json(metadata["training_config"]))
    done = len(json.loads(metadata["training_stages_done"]))
    if done >= len(stages):
        return None
    return (
        f"the run stopped in stage {stages[done]!r} ({done} of {len(stages)} stages done, "
        f"step {metadata['training_step']}); the bundle holds its weights as they were then"
    )


if __name__ == "__main__":
    sys.exit(main())
