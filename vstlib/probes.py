"""Small measurements the course uses to check what its sentences claim about images.

>>> import torch
>>> ramp = torch.linspace(0, 1, 32).expand(1, 3, 32, 32)
>>> layout_correlation(ramp, ramp), layout_correlation(ramp, ramp.flip(-1))
(1.0, -1.0)
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

__all__ = ["layout_correlation"]


def layout_correlation(a: Tensor, b: Tensor, cells: int = 8) -> float:
    """How much two images [1, 3, H, W] in [0, 1] agree in *where* things are bright and dark.

    Both are turned grey (the mean of R, G, B), averaged over a ``cells`` x ``cells`` grid (so
    texture and exact pixel values do not count) and compared by the Pearson correlation of the
    grid values: 1 = the same coarse layout, about 0 = unrelated layouts, -1 = inverted.
    """
    if a.shape[-2:] != b.shape[-2:]:
        raise ValueError(f"image sizes differ: {tuple(a.shape[-2:])} and {tuple(b.shape[-2:])}")
    grids = [F.adaptive_avg_pool2d(x.detach().float().cpu().mean(dim=-3, keepdim=True), cells).flatten() for x in (a, b)]
    x, y = (g - g.mean() for g in grids)
    denom = float(x.norm() * y.norm())
    return round(float((x * y).sum()) / denom, 6) if denom > 0 else 0.0
