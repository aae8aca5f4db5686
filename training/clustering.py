"""Spherical k-means in torch (k-means++ initialisation, seeded): the pseudo-classes.

Qian et al. (ECCV 2020) and DSOL (Hu et al., NeurIPS 2020) cluster the audio embeddings of
single-source clips and use the cluster ids as category pseudo-labels. The embeddings are
L2-normalised, so distances are ``2 - 2 cos``; centroids are re-normalised after each update.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True, eq=False)
class KMeansResult:
    """The best of the k-means runs.

    Shape:
        centroids: (K, D) L2-normalised. labels: (N,) int64 in [0, K). sizes: (K,) int64.
    """

    centroids: Tensor
    labels: Tensor
    inertia: float  # sum over points of the squared distance to their centroid
    sizes: Tensor


def _plus_plus_init(points: Tensor, k: int, generator: torch.Generator) -> Tensor:
    """k-means++ (Arthur & Vassilvitskii 2007): each new centre drawn ∝ squared distance."""
    first = int(torch.randint(len(points), (1,), generator=generator))
    centres = [points[first]]
    dist2 = (points - points[first]).pow(2).sum(dim=1)
    for _ in range(1, k):
        total = float(dist2.sum())
        if total <= 0:  # all remaining points coincide with a centre: pick uniformly
            index = int(torch.randint(len(points), (1,), generator=generator))
        else:
            index = int(torch.multinomial(dist2 / total, 1, generator=generator))
        centres.append(points[index])
        dist2 = torch.minimum(dist2, (points - points[index]).pow(2).sum(dim=1))
    return torch.stack(centres)


def _lloyd(points: Tensor, centres: Tensor, iterations: int) -> tuple[Tensor, Tensor, float]:
    labels = torch.zeros(len(points), dtype=torch.long)
    for _ in range(iterations):
        labels = (points @ centres.T).argmax(dim=1)
        sums = torch.zeros_like(centres).index_add_(0, labels, points)
        counts = torch.bincount(labels, minlength=len(centres))
        # An empty cluster keeps its old centre (it may win points back next round).
        updated = torch.where(counts[:, None] > 0, sums, centres)
        new_centres = F.normalize(updated, dim=1)
        if torch.equal(new_centres, centres):
            break
        centres = new_centres
    labels = (points @ centres.T).argmax(dim=1)
    inertia = float((points - centres[labels]).pow(2).sum())
    return centres, labels, inertia


def kmeans(
    embeddings: Tensor, num_clusters: int, iterations: int = 50, restarts: int = 4, seed: int = 0
) -> KMeansResult:
    """Cluster embeddings on the unit sphere; the run with the lowest inertia wins.

    Args:
        embeddings: the points (normalised here).
        num_clusters: K.
        iterations: Lloyd iterations per run (stops early when the centroids stop moving).
        restarts: independent k-means++ initialisations.
        seed: seeds a private generator, so the result does not depend on the global RNG.

    Returns:
        Centroids, labels, inertia and cluster sizes of the best run.

    Shape:
        embeddings: (N, D) -> centroids (K, D), labels (N,).

    Raises:
        ValueError: not a finite (N, D) tensor, fewer points than clusters, or bad counts.
    """
    if embeddings.dim() != 2 or not bool(torch.isfinite(embeddings).all()):
        raise ValueError(
            f"kmeans: embeddings must be a finite (N, D) tensor, got {tuple(embeddings.shape)}"
        )
    if num_clusters < 1 or iterations < 1 or restarts < 1:
        raise ValueError("kmeans: num_clusters, iterations and restarts must all be >= 1")
    if len(embeddings) < num_clusters:
        raise ValueError(
            f"kmeans: {len(embeddings)} embeddings cannot make {num_clusters} clusters; "
            "use more training clips (data.num_clips) or fewer pseudo-classes"
        )
    points = F.normalize(embeddings.detach().float().cpu(), dim=1)
    generator = torch.Generator().manual_seed(seed)
    best: tuple[Tensor, Tensor, float] | None = None
    for _ in range(restarts):
        run = _lloyd(points, _plus_plus_init(points, num_clusters, generator), iterations)
        if best is None or run[2] < best[2]:
            best = run
    assert best is not None
    centroids, labels, inertia = best
    sizes = torch.bincount(labels, minlength=num_clusters)
    return KMeansResult(centroids=centroids, labels=labels, inertia=inertia, sizes=sizes)
