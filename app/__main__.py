"""``python -m app [--model NAME] [--port P] [--host H]``: serve the demo."""

from __future__ import annotations

import argparse

from app.app import main

if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m app", description="serve the avloc demo")
    parser.add_argument("--model", default="default", help="model name or bundle path")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args()
    main(args.model, args.host, args.port)
