"""The result channel: whatever bytes a student's process writes, decoding raises only WireError, within bounds."""

import io
import json
import random
import struct

import numpy as np
import pytest

from k2l_course.grading.sandbox import wire


def payload(header_bytes, blobs=()):
    return struct.pack(">I", len(header_bytes)) + header_bytes + b"".join(blobs)


def npy(array):
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def forged_npy(descr, shape, data=b""):
    header = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode()
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + data


@pytest.mark.parametrize(
    "tree, blobs",
    [
        ([1.0, float("nan")], []),  # a bare NaN inside the tree (JSON cannot carry it; a forged frame can)
        ({"__float__": "1e999"}, []),
        ({"__complex__": [{"__bigint__": "9" * 400}, 0.0]}, []),  # a complex holding a 400-digit int
        ({"__bigint__": "9" * 400}, []),
        (10**400, []),
        ({"__complex__": [[1], 2.0]}, []),
        ({"__dict__": [[[1, 2], 3]]}, []),  # unhashable key
        ({"__ndarray__": 0}, [forged_npy("<f8", (10**12,))]),  # a shape the data does not hold
        ({"__ndarray__": 0}, [forged_npy("|V0", (10**12,))]),  # zero-size items: huge shape, no data
        ({"__ndarray__": 0}, [forged_npy([("a", "<f8")], (1,), b"\0" * 8)]),  # structured dtype
        ({"__ndarray__": 0}, [forged_npy("|O", (1,), b"\0" * 8)]),  # object dtype
        ({"__ndarray__": 0}, [b"\x80\x04pickle"]),
        ({"__ndarray__": 5}, []),
        ({"__mystery__": 1}, []),
        ({"__tuple__": 1}, []),
        (["\ud800"], []),  # a lone surrogate: text that cannot be written out as UTF-8
        ({"__dict__": [["\udfff", 1]]}, []),
        ({"__ndarray__": 0}, [forged_npy("<U1", (1,), struct.pack("<I", 0xD800))]),
    ],
)
def test_decoding_malformed_or_unbounded_trees_raises_only_wire_errors(tree, blobs):
    with pytest.raises(wire.WireError):
        wire.decode(tree, blobs)


def test_deep_nesting_is_refused_by_the_parser_and_the_decoder():
    deep = b"[" * 200_000 + b"]" * 200_000
    with pytest.raises(wire.WireError):
        wire.unpack_outcome(payload(b'{"blobs": [], "tree": ' + deep + b"}"))
    with pytest.raises(wire.WireError):
        wire.loads(deep)
    tree = []
    for _ in range(wire.MAX_DEPTH + 5):
        tree = [tree]
    with pytest.raises(wire.WireError):
        wire.decode(tree, [])


def test_json_constants_and_oversized_messages_are_refused():
    with pytest.raises(wire.WireError):
        wire.loads(b"[NaN]")
    with pytest.raises(wire.WireError):
        wire.loads(b"[Infinity]")
    with pytest.raises(wire.WireError):
        wire.loads(b"1" * 10, limit=5)
    with pytest.raises(wire.WireError):
        wire.FrameReader(max_frame=100).feed(wire.frame(b"D", b"x" * 101))


def test_results_larger_than_the_bound_are_refused():
    big = np.zeros((wire.MAX_RESULT_BYTES + (2 << 20)) // 8)
    tree, blobs = wire.encode(big)
    with pytest.raises(wire.WireError):
        wire.decode(tree, blobs)
    with pytest.raises(wire.WireError):
        wire.unpack_outcome(wire.pack_outcome({"tree": tree}, blobs))


def test_plain_values_round_trip_and_non_finite_floats_travel_as_markers():
    value = {"a": np.arange(6, dtype=np.int16).reshape(2, 3), "n": float("nan"), "c": complex(1, float("inf")),
             "t": (1, 2**70, "s", None, True), 3: [np.float32(1.5)], "f": np.asfortranarray(np.eye(2, 3))}  # fmt: skip
    tree, blobs = wire.encode(value)
    json.dumps(tree, allow_nan=False)  # the tree itself is strict JSON
    back = wire.decode(json.loads(json.dumps(tree)), blobs)
    assert back["a"].tolist() == value["a"].tolist() and back["a"].dtype == np.int16
    assert np.isnan(back["n"]) and back["c"] == value["c"] and back["t"] == value["t"]
    assert type(back[3][0]) is np.float32 and back["f"].tolist() == value["f"].tolist()


def test_encoding_refuses_unbounded_ints_and_odd_dtypes():
    with pytest.raises(wire.UnsupportedValue, match="digits"):
        wire.encode(10**400)
    with pytest.raises(wire.UnsupportedValue, match="dtype"):
        wire.encode(np.zeros(2, dtype=[("a", "f8")]))
    with pytest.raises(wire.UnsupportedValue, match="not valid Unicode"):
        wire.encode({"key": "\ud800"})


def test_random_bytes_never_raise_anything_but_wire_errors():
    rng = random.Random(0)
    good = wire.pack_outcome({"tree": {"__ndarray__": 0}}, [npy(np.arange(4.0))])
    for _ in range(2000):
        data = bytearray(good)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        try:
            header, blobs = wire.unpack_outcome(bytes(data))
            wire.decode(header.get("tree"), blobs)
        except wire.WireError:
            pass


def test_any_mapping_travels_as_a_dict():
    import collections
    import types

    for mapping in (collections.OrderedDict(a=1.0, b=2), collections.defaultdict(int, a=3), types.MappingProxyType({"a": 1})):
        tree, blobs = wire.encode(mapping)
        assert wire.decode(tree, blobs) == dict(mapping)
