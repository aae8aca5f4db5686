"""Datasets: readers for the published on-disk formats, the scene manifest, and torch Datasets."""
