"""From a loaded block to framework objects: torch tensors through DLPack, numpy arrays through
numpy's C API (the extension makes both; here only the dtype views torch needs on top)."""

import functools

_FRAMEWORKS = {"pt": "pt", "torch": "pt", "np": "np", "numpy": "np"}


def framework(name):
    """"pt"/"torch" or "np"/"numpy" -> "pt" | "np"."""
    try:
        return _FRAMEWORKS[name]
    except (KeyError, TypeError):
        raise ValueError(f"framework {name!r} is not supported: use \"pt\" (torch) or \"np\" (numpy)") from None


def cuda_index(device, fw):
    """-1 for the host, N for "cuda:N" (device may be a str, an int or a torch.device)."""
    text = f"cuda:{device}" if isinstance(device, int) else str(device)
    if text == "cpu":
        return -1
    if text == "cuda":
        index = 0
    elif text.startswith("cuda:") and text[5:].isdigit():
        index = int(text[5:])
    else:
        raise ValueError(f"device {device!r}: use \"cpu\", \"cuda\" or \"cuda:N\"")
    if fw == "np":
        raise ValueError(f"device {device!r}: numpy arrays live in host memory; use device=\"cpu\"")
    return index


@functools.lru_cache(maxsize=None)
def _torch():
    import torch
    from torch.utils.dlpack import from_dlpack

    # DLPack in torch 1.13 has no bool, and torch 1.13 has no uint16/32/64 or float8: those arrive
    # as the same-width integer holding the raw bits. Where this torch has the real dtype, view as
    # it (same width, no copy).
    views = {"BOOL": torch.bool}
    for ringload_name, torch_name in (("U16", "uint16"), ("U32", "uint32"), ("U64", "uint64"),
                                      ("F8_E4M3", "float8_e4m3fn"), ("F8_E5M2", "float8_e5m2"),
                                      ("F8_E8M0", "float8_e8m0fnu"), ("F8_E4M3FNUZ", "float8_e4m3fnuz"),
                                      ("F8_E5M2FNUZ", "float8_e5m2fnuz")):
        if hasattr(torch, torch_name):
            views[ringload_name] = getattr(torch, torch_name)
    return from_dlpack, views


def one(block, index, fw):
    """Tensor `index` of `block` as a framework object (no copy)."""
    if fw == "np":
        return block.export(index, "np")
    from_dlpack, views = _torch()
    tensor = from_dlpack(block.export(index, "pt"))
    view = views.get(block.dtype(index))
    return tensor.view(view) if view is not None else tensor


def all_of(block, fw):
    """{name: tensor} for every tensor of `block`, in file order (no copy)."""
    if fw == "np":
        return {name: array for name, _, array in block.export_all("np")}
    from_dlpack, views = _torch()
    out = {}
    for name, dtype, capsule in block.export_all("pt"):
        tensor = from_dlpack(capsule)
        view = views.get(dtype)
        out[name] = tensor.view(view) if view is not None else tensor
    return out
