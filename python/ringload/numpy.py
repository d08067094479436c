"""Drop-in for ``safetensors.numpy`` loading: ``from ringload.numpy import load_file``."""

import os
from typing import Dict, Union

import numpy as np

import ringload

__all__ = ["load_file"]


def load_file(filename: Union[str, os.PathLike]) -> Dict[str, np.ndarray]:
    """Every tensor of `filename` (safetensors, GGUF or APR v2) as numpy arrays, like
    ``safetensors.numpy.load_file``. BF16 comes as uint16 and float8 as uint8 (the raw bits:
    numpy has neither type)."""
    return ringload.load(filename, framework="np")[0]
