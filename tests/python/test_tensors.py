"""Every tensor, through every entry point, equals an independent read of the file's bytes."""

import pytest

import ringload
import ringload.numpy
import ringload.torch
from conftest import fixture_files
from expected import check
from spec_readers import read_any

FIXTURES = fixture_files()


def loaded_every_way(path, fw):
    """{entry point: {name: tensor}} for load_file, load, stream and safe_open."""
    out = {}
    out["load_file"] = (ringload.torch.load_file(path) if fw == "pt" else ringload.numpy.load_file(path))
    out["load"] = ringload.load(path, framework=fw)[0]
    out["stream"] = dict(ringload.stream(path, framework=fw))
    with ringload.safe_open(path, framework=fw) as f:
        out["safe_open"] = {name: f.get_tensor(name) for name in f.offset_keys()}
    return out


def assert_matches_spec(path, spec, fw):
    expected_order = [t.name for t in spec.tensors]
    for way, tensors in loaded_every_way(path, fw).items():
        assert list(tensors) == expected_order, f"{way}: not in file order"
        for t in spec.tensors:
            check(tensors[t.name], t, fw)


@pytest.mark.skipif(not FIXTURES, reason="no fixtures folder (RINGLOAD_FIXTURES, ../shared/fixtures)")
@pytest.mark.parametrize("fw", ["pt", "np"])
@pytest.mark.parametrize("path", FIXTURES, ids=[p.name for p in FIXTURES])
def test_fixture_tensors_equal_the_file_bytes(path, fw):
    assert_matches_spec(path, read_any(path), fw)


SAFETENSORS_DTYPES = ["F64", "F32", "F16", "BF16", "C64", "I64", "I32", "I16", "I8", "U64", "U32", "U16", "U8",
                      "BOOL", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ", "F6_E2M3", "F6_E3M2",
                      "F4"]
GGUF_DTYPES = ["F32", "F16", "BF16", "F64", "I8", "I16", "I32", "I64", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0",
               "Q8_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K", "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S",
               "IQ4_NL", "IQ3_S", "IQ2_S", "IQ4_XS", "IQ1_M", "TQ1_0", "TQ2_0", "MXFP4", "NVFP4", "Q1_0", "Q2_0"]
APR_DTYPES = ["F32", "F16", "BF16", "F64", "I32", "I64", "I8", "U8", "APR_Q4", "APR_Q8", "Q4_K", "Q6_K"]
GENERATED = ([("safetensors", d) for d in SAFETENSORS_DTYPES] + [("gguf", d) for d in GGUF_DTYPES] +
             [("apr", d) for d in APR_DTYPES])


@pytest.mark.parametrize("fw", ["pt", "np"])
@pytest.mark.parametrize("fmt,dtype", GENERATED, ids=[f"{f}-{d}" for f, d in GENERATED])
def test_generated_tensors_equal_the_file_bytes(gen, fmt, dtype, fw):
    path = gen(fmt, dtype, size="256KiB", tensors=12)
    assert_matches_spec(path, read_any(path), fw)


@pytest.mark.parametrize("codec", ["lz4", "zstd"])
def test_compressed_apr_equals_its_uncompressed_twin(gen, codec):
    # The spec reader does not decompress: gen writes the same tensor bytes for the same seed.
    plain = read_any(gen("apr", "F16", size="256KiB", tensors=12, seed=7))
    path = gen("apr", "F16", size="256KiB", tensors=12, seed=7, compress=codec)
    for fw in ("pt", "np"):
        assert_matches_spec(path, plain, fw)


def test_gguf_shapes_are_row_major(gen):
    # GGUF lists ne[0] (the innermost dim) first; tensors come back outermost first.
    path = gen("gguf", "F32", size="256KiB", tensors=12)
    table = {t["name"]: t["shape"] for t in ringload.inspect(path)["tensors"]}
    for name, tensor in ringload.torch.load_file(path).items():
        assert list(tensor.shape) == list(reversed(table[name])), name


def test_empty_and_scalar_tensors(scratch):
    # Written by hand from the safetensors spec: zero-element tensors have no bytes and no
    # destination; scalars have shape [].
    import json
    import struct
    header = {"empty": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]},
              "empty2d": {"dtype": "BF16", "shape": [3, 0], "data_offsets": [0, 0]},
              "scalar": {"dtype": "I16", "shape": [], "data_offsets": [0, 2]},
              "flag": {"dtype": "BOOL", "shape": [2], "data_offsets": [2, 4]}}
    text = json.dumps(header).encode()
    path = scratch / "edge.safetensors"
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"\x07\x01\x01\x00")
    spec = read_any(path)
    for fw in ("pt", "np"):
        assert_matches_spec(path, spec, fw)
    tensors = ringload.torch.load_file(path)
    assert tensors["scalar"].item() == 0x0107 and tensors["flag"].tolist() == [True, False]
    assert tensors["empty2d"].shape == (3, 0) and tensors["empty2d"].dtype.is_floating_point
