"""Shared fixtures: small synthetic media made on the fly (no network, no downloads)."""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
