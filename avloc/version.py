"""The single source of avloc's version (pyproject reads it dynamically)."""

__version__ = "0.1.0"
