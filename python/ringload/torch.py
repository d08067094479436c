"""Drop-in for ``safetensors.torch`` loading: ``from ringload.torch import load_file``."""

import os
from typing import Dict, Union

import torch

import ringload

__all__ = ["load_file"]


def load_file(filename: Union[str, os.PathLike], device: Union[str, int] = "cpu") -> Dict[str, torch.Tensor]:
    """Every tensor of `filename` (safetensors, GGUF or APR v2) as torch tensors, like
    ``safetensors.torch.load_file``, through ringload's pipeline: no second copy, nothing left in
    the page cache. device: "cpu", "cuda" or "cuda:N"."""
    return ringload.load(filename, framework="pt", device=device)[0]
