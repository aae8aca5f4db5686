"""``python -m avloc`` runs the command-line interface."""

from __future__ import annotations

import sys

from avloc.cli import main

sys.exit(main())
