"""Independent readers of the three formats, written from ../shared/formats/*.md (not through
ringload): each returns the tensor table with every tensor's raw bytes, to compare ringload's
tensors against."""

import json
import struct
from dataclasses import dataclass, field


@dataclass
class SpecTensor:
    name: str
    dtype: str  # the format's dtype name, spelled as ringload spells it ("F32", "Q4_K", "APR_Q4")
    shape: list  # row-major, outermost first
    data: bytes
    offset: int  # absolute file offset


@dataclass
class SpecFile:
    format: str
    tensors: list = field(default_factory=list)  # in file (offset) order
    metadata: object = None


def read_safetensors(path):
    blob = open(path, "rb").read()
    (n,) = struct.unpack_from("<Q", blob, 0)
    header = json.loads(blob[8:8 + n])
    data_start = 8 + n
    out = SpecFile("safetensors", metadata=header.pop("__metadata__", None))
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        out.tensors.append(SpecTensor(name, entry["dtype"], list(entry["shape"]),
                                      blob[data_start + begin:data_start + end], data_start + begin))
    out.tensors.sort(key=lambda t: t.offset)
    return out


# GGUF.md section 5: id -> (name, elements per block, bytes per block).
GGML_TYPES = {
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 30: ("BF16", 1, 2), 24: ("I8", 1, 1), 25: ("I16", 1, 2),
    26: ("I32", 1, 4), 27: ("I64", 1, 8), 28: ("F64", 1, 8), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22), 7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 36),
    10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110), 12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176),
    14: ("Q6_K", 256, 210), 15: ("Q8_K", 256, 292), 16: ("IQ2_XXS", 256, 66), 17: ("IQ2_XS", 256, 74),
    18: ("IQ3_XXS", 256, 98), 19: ("IQ1_S", 256, 50), 20: ("IQ4_NL", 32, 18), 21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82), 23: ("IQ4_XS", 256, 136), 29: ("IQ1_M", 256, 56), 34: ("TQ1_0", 256, 54),
    35: ("TQ2_0", 256, 66), 39: ("MXFP4", 32, 17), 40: ("NVFP4", 64, 36), 41: ("Q1_0", 128, 18),
    42: ("Q2_0", 64, 18),
}
_GGUF_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q",
                 12: "<d"}


class _Cursor:
    def __init__(self, blob, wide):
        self.blob, self.pos, self.wide = blob, 0, wide  # wide: u64 counts (v2, v3); v1 has u32

    def take(self, fmt):
        (value,) = struct.unpack_from(fmt, self.blob, self.pos)
        self.pos += struct.calcsize(fmt)
        return value

    def count(self):
        return self.take("<Q" if self.wide else "<I")

    def string(self):
        n = self.count()
        s = self.blob[self.pos:self.pos + n]
        self.pos += n
        return s.decode("utf-8", "replace")

    def value(self, kind):
        if kind == 8:
            return self.string()
        if kind == 9:
            element, n = self.take("<I"), self.count()
            return [self.value(element) for _ in range(n)]
        return self.take(_GGUF_SCALARS[kind])


def read_gguf(path):
    blob = open(path, "rb").read()
    assert blob[:4] == b"GGUF"
    version = struct.unpack_from("<I", blob, 4)[0]
    c = _Cursor(blob, wide=version >= 2)
    c.pos = 8
    tensor_count, kv_count = c.count(), c.count()
    metadata = {}
    for _ in range(kv_count):
        key = c.string()
        metadata[key] = c.value(c.take("<I"))
    infos = []
    for _ in range(tensor_count):
        name = c.string()
        n_dims = c.take("<I")
        ne = [c.count() for _ in range(n_dims)]
        kind, offset = c.take("<I"), c.take("<Q")
        infos.append((name, ne, kind, offset))
    alignment = metadata.get("general.alignment", 32)
    data_start = c.pos + (alignment - c.pos % alignment) % alignment
    out = SpecFile("gguf", metadata=metadata)
    for name, ne, kind, offset in infos:
        dtype, block_elems, block_bytes = GGML_TYPES[kind]
        elements = 1
        for d in ne:
            elements *= d
        size = elements // block_elems * block_bytes
        begin = data_start + offset
        out.tensors.append(SpecTensor(name, dtype, list(reversed(ne)), blob[begin:begin + size], begin))
    out.tensors.sort(key=lambda t: t.offset)
    return out


# APR_V2.md section 8 (current codes).
APR_DTYPES = {0: "F32", 1: "F16", 30: "BF16", 3: "F64", 4: "I32", 5: "I64", 6: "I8", 7: "U8", 128: "APR_Q4",
              129: "APR_Q8", 12: "Q4_K", 14: "Q6_K"}


def read_apr(path):
    """Uncompressed APR v2 only (compressed payloads need lz4/zstd; tests compare those with an
    uncompressed twin generated from the same seed)."""
    blob = open(path, "rb").read()
    assert blob[:4] in (b"APR\0", b"APR2") and blob[4] == 2
    flags, count = struct.unpack_from("<HI", blob, 6)
    assert flags & 0x3 == 0, "compressed APR: not read here"
    meta_offset, meta_size, index_offset, data_offset = struct.unpack_from("<QIQQ", blob, 12)
    out = SpecFile("apr", metadata=json.loads(blob[meta_offset:meta_offset + meta_size] or b"{}"))
    pos = index_offset
    for _ in range(count):
        (n,) = struct.unpack_from("<H", blob, pos)
        name = blob[pos + 2:pos + 2 + n].decode("utf-8", "replace")
        pos += 2 + n
        code, ndim = struct.unpack_from("<BB", blob, pos)
        pos += 2
        dims = list(struct.unpack_from(f"<{ndim}Q", blob, pos))
        pos += 8 * ndim
        offset, size = struct.unpack_from("<QQ", blob, pos)
        pos += 16
        begin = data_offset + offset
        out.tensors.append(SpecTensor(name, APR_DTYPES[code], dims, blob[begin:begin + size], begin))
    out.tensors.sort(key=lambda t: t.offset)
    return out


def read_any(path):
    head = open(path, "rb").read(4)
    if head == b"GGUF":
        return read_gguf(path)
    if head in (b"APR\0", b"APR2"):
        return read_apr(path)
    return read_safetensors(path)
