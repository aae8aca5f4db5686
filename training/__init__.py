"""avloc's training package: one loop (``training.train``), recipes as Python values
(``training.recipes``) and the export to an inference bundle (``training.export``).

``avloc`` never imports this package. Run ``python -m training.train RECIPE``; from Python,
``from training.train import train`` with a ``training.config.TrainConfig``.
"""

from __future__ import annotations
