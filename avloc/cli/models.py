"""``avloc models``: list the registered architectures and the bundled pretrained models."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("models", help="list model architectures and pretrained names")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from avloc.models import list_models

    print("architectures:")
    for name in list_models():
        print(f"  {name}")
    from avloc.pretrained import list_pretrained

    print("pretrained:")
    for name in list_pretrained():
        print(f"  {name}")
    return 0
