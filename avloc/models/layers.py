"""Small building blocks shared by the encoders, heads and the separator.

``BasicBlock`` keeps torchvision's parameter names (``conv1``, ``bn1``, ``conv2``, ``bn2``,
``downsample.0``, ``downsample.1``) so a torchvision ResNet-18 state dict loads unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def conv_bn_relu(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    """3×3 convolution, batch norm, ReLU (the plain VGG-style unit of the audio encoder)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class BasicBlock(nn.Module):
    """ResNet basic block (He et al. 2016) with optional dilation, torchvision naming.

    Shape:
        x: (B, C_in, H, W) -> (B, C_out, H / stride, W / stride).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, dilation: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(
            in_channels, out_channels, 3, stride, padding=dilation, dilation=dilation, bias=False
        )
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(
            out_channels, out_channels, 3, 1, padding=dilation, dilation=dilation, bias=False
        )
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


def make_stage(
    in_channels: int, out_channels: int, num_blocks: int, stride: int, dilation: int
) -> nn.Sequential:
    """``num_blocks`` basic blocks; only the first one changes stride/channels."""
    blocks = [BasicBlock(in_channels, out_channels, stride, dilation)]
    blocks += [BasicBlock(out_channels, out_channels, 1, dilation) for _ in range(num_blocks - 1)]
    return nn.Sequential(*blocks)


def weighted_pool(features: Tensor, weights: Tensor | None, eps: float = 1e-6) -> Tensor:
    """Pool a feature grid over each object's region, weighted by a non-negative map.

    ``weights=None`` pools uniformly (the whole frame, one object). Weights are normalised to
    sum to one per object; an all-zero map gives a zero vector.

    Args:
        features: feature grid.
        weights: per-object spatial weights (e.g. a localisation map or a box mask).

    Returns:
        One pooled feature vector per object.

    Shape:
        features: (B, C, h, w), weights: (B, S, h, w) -> (B, S, C); S = 1 when weights is None.

    Raises:
        ValueError: ``weights`` does not match the grid or has negative values.
    """
    batch, _, height, width = features.shape
    if weights is None:
        return features.mean(dim=(2, 3)).unsqueeze(1)
    if weights.dim() != 4 or weights.shape[0] != batch or weights.shape[2:] != (height, width):
        raise ValueError(
            f"weighted_pool: weights must be (B, S, h, w) = ({batch}, S, {height}, {width}) "
            f"to match the feature grid, got {tuple(weights.shape)}; resize maps to the grid"
        )
    if bool((weights < 0).any()):
        raise ValueError("weighted_pool: weights must be non-negative (use maps in [0, 1])")
    norm = weights / (weights.sum(dim=(2, 3), keepdim=True) + eps)
    return torch.einsum("bshw,bchw->bsc", norm.to(features.dtype), features)


def sample_points(features: Tensor, points: Tensor) -> Tensor:
    """Bilinearly read the feature grid at normalised points (pixel-wise selection).

    Args:
        features: feature grid.
        points: ``(x, y)`` in [0, 1] of the frame's width and height.

    Returns:
        The feature vector at each point.

    Shape:
        features: (B, C, h, w), points: (B, S, 2) -> (B, S, C).

    Raises:
        ValueError: ``points`` is not (B, S, 2) or lies outside [0, 1].
    """
    if points.dim() != 3 or points.shape[0] != features.shape[0] or points.shape[2] != 2:
        raise ValueError(
            f"sample_points: points must be (B, S, 2) normalised (x, y) with B = "
            f"{features.shape[0]}, got {tuple(points.shape)}"
        )
    if bool(((points < 0) | (points > 1)).any()):
        raise ValueError("sample_points: points must lie in [0, 1] (normalised x, y)")
    grid = (points.float() * 2.0 - 1.0).unsqueeze(2)  # (B, S, 1, 2)
    sampled = F.grid_sample(features.float(), grid, mode="bilinear", align_corners=False)
    return sampled.squeeze(-1).transpose(1, 2).to(features.dtype)


def box_weights(boxes: Tensor, height: int, width: int) -> Tensor:
    """Binary masks of normalised boxes on an ``height × width`` grid (cell centres inside).

    Args:
        boxes: ``(x0, y0, x1, y1)`` in [0, 1].
        height: grid rows h.
        width: grid columns w.

    Returns:
        Float masks in {0, 1}; a box smaller than a cell still covers its nearest cell.

    Shape:
        boxes: (B, S, 4) -> (B, S, h, w).

    Raises:
        ValueError: ``boxes`` is not (B, S, 4).
    """
    if boxes.dim() != 3 or boxes.shape[2] != 4:
        raise ValueError(f"box_weights: boxes must be (B, S, 4), got {tuple(boxes.shape)}")
    ys = (torch.arange(height, device=boxes.device, dtype=torch.float32) + 0.5) / height
    xs = (torch.arange(width, device=boxes.device, dtype=torch.float32) + 0.5) / width
    x0, y0, x1, y1 = (boxes[..., i, None].float() for i in range(4))
    inside_y = (ys >= y0) & (ys <= y1)  # (B, S, h)
    inside_x = (xs >= x0) & (xs <= x1)  # (B, S, w)
    # Degenerate (sub-cell) boxes: fall back to the cell holding the box centre.
    cy = ((y0 + y1) / 2 * height).long().clamp(0, height - 1)
    cx = ((x0 + x1) / 2 * width).long().clamp(0, width - 1)
    inside_y |= torch.arange(height, device=boxes.device) == cy
    inside_x |= torch.arange(width, device=boxes.device) == cx
    return (inside_y.unsqueeze(-1) & inside_x.unsqueeze(-2)).float()


POOLINGS: tuple[str, ...] = ("max", "topk")


def pool_locations(sims: Tensor, pooling: str = "max", fraction: float = 0.0) -> Tensor:
    """Multiple-instance pooling of similarities over locations.

    ``max`` is AVOL-Net's: one location must match. ``topk`` averages the ``fraction`` most
    similar locations (at least one): the object must match over that much of the frame, which
    spreads the map over the object's extent instead of one peak cell.

    Shape:
        sims: (..., N) -> (...).

    Raises:
        ValueError: unknown ``pooling``, or ``topk`` with ``fraction`` outside (0, 1].
    """
    if pooling == "max":
        return sims.amax(dim=-1)
    if pooling == "topk":
        if not 0.0 < fraction <= 1.0:
            raise ValueError(f"topk pooling needs a fraction in (0, 1], got {fraction}")
        k = max(1, round(fraction * sims.shape[-1]))
        return sims.topk(k, dim=-1).values.mean(dim=-1)
    raise ValueError(f"unknown pooling {pooling!r}: one of {', '.join(POOLINGS)}")
