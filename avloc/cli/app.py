"""``avloc app``: serve the Gradio demo from the source checkout's ``app/app.py``."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from types import ModuleType
from typing import Any


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("app", help="start the browser demo (needs avloc[app])")
    parser.add_argument(
        "--model", default="default", metavar="NAME_OR_PATH", help="model name or bundle"
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    parser.add_argument("--port", type=int, default=None, help="port (default: gradio's choice)")
    parser.set_defaults(run=run)


def load_app_module() -> ModuleType:
    """Import ``app/app.py`` from the checkout by file path (avloc never imports ``app``).

    Raises:
        FileNotFoundError: avloc runs from an install without the ``app/`` folder.
    """
    from avloc.assets import assets_dir

    path = assets_dir().parent / "app" / "app.py"
    if not path.is_file():
        raise FileNotFoundError(f"the demo app is missing ({path}); run avloc from a clone")
    spec = importlib.util.spec_from_file_location("avloc_demo_app", path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"cannot load the demo app from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


def run(args: argparse.Namespace) -> int:
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise OSError("the app needs gradio: pip install -e '.[app]'") from None
    load_app_module().main(args.model, args.host, args.port)
    return 0
