"""Small shared helpers: device choice and progress bars."""

from __future__ import annotations

import os
import sys

import torch

from .errors import VstError


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """``None``/``"auto"``: CUDA if available, else Apple MPS, else CPU. Otherwise checked and returned."""
    if device is None or str(device) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise VstError(f"unknown device '{device}'; use cpu, cuda, cuda:N, mps or auto") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise VstError(f"device '{device}' asked for, but no CUDA GPU is available here; use --device cpu")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise VstError(f"device '{device}' does not exist; this machine has {torch.cuda.device_count()} GPU(s)")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise VstError(f"device '{device}' asked for, but MPS is not available here; use --device cpu")
    return dev


def smoke_mode() -> bool:
    """True when ``VSTLIB_SMOKE=1``: notebooks and figure scripts use tiny sizes and iterations."""
    return os.environ.get("VSTLIB_SMOKE", "0") not in ("", "0", "false", "False")


def progress_bar(**kwargs):
    """tqdm bar (the notebook widget in Jupyter, text in a terminal, silent when disabled)."""
    if kwargs.get("disable"):
        from tqdm import tqdm
    elif "ipykernel" in sys.modules:
        from tqdm.auto import tqdm
    else:
        from tqdm import tqdm
    return tqdm(**kwargs)
