"""Values that cross the sandbox boundary: plain data only, never pickle.

The student's process encodes what its functions return with :func:`encode`;
the grader decodes it with :func:`decode`. The format is a small JSON tree in
which NumPy arrays are replaced by references to ``.npy`` blobs (written with
``allow_pickle=False``, so an object array cannot cross). Exact types are
required: a subclass of ``float`` or ``list`` (which could, say, claim to be
equal to everything) is refused with the message ``returned an unsupported
type X``, so whatever the grader judges is data it built itself.

Supported: ``None``, ``bool``, ``int``, ``float``, ``complex``, ``str``,
NumPy arrays and scalars (not of dtype object), and ``list`` / ``tuple`` /
``dict`` of those (dict keys: any supported scalar).
"""

from __future__ import annotations

import io
import json
import struct

import numpy as np

#: Deepest nesting of lists/tuples/dicts accepted.
MAX_DEPTH = 64


class UnsupportedValue(TypeError):
    """Raised when a value cannot cross the sandbox boundary."""


def encode(value):
    """Encode a value as ``(json_bytes, blobs)``.

    Parameters
    ----------
    value : object
        What a student's function returned.

    Returns
    -------
    tuple of (object, list of bytes)
        The JSON-ready tree and the ``.npy`` blobs it refers to.

    Raises
    ------
    UnsupportedValue
        With a message naming the offending type, for anything that is not
        plain data.
    """
    blobs = []
    seen = set()

    def array_ref(array, key):
        if array.dtype.hasobject:
            raise UnsupportedValue(f"returned an array of Python objects (dtype={array.dtype})")
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        blobs.append(buffer.getvalue())
        return {key: len(blobs) - 1}

    def walk(item, depth):
        kind = type(item)
        if item is None or kind in (bool, str):
            return item
        if kind is int:
            return item if abs(item) < 2**63 else {"__bigint__": str(item)}
        if kind is float:
            return item if item == item and abs(item) != float("inf") else {"__float__": repr(item)}
        if kind is complex:
            return {"__complex__": [walk(item.real, depth), walk(item.imag, depth)]}
        if isinstance(item, np.ndarray):
            return array_ref(np.asarray(item.view(np.ndarray)), "__ndarray__")
        if isinstance(item, np.generic):
            return array_ref(np.asarray(item), "__npscalar__")
        if kind in (list, tuple, dict):
            if depth >= MAX_DEPTH:
                raise UnsupportedValue(f"returned data nested deeper than {MAX_DEPTH} levels")
            if id(item) in seen:
                raise UnsupportedValue("returned a structure that contains itself")
            seen.add(id(item))
            try:
                if kind is dict:
                    return {"__dict__": [[walk(k, depth + 1), walk(v, depth + 1)] for k, v in item.items()]}
                encoded = [walk(element, depth + 1) for element in item]
                return {"__tuple__": encoded} if kind is tuple else encoded
            finally:
                seen.discard(id(item))
        raise UnsupportedValue(f"returned an unsupported type {_type_name(item)}")

    return walk(value, 0), blobs


def decode(tree, blobs):
    """Decode what :func:`encode` produced (in the grader: untrusted data).

    Parameters
    ----------
    tree : object
        The JSON tree, already parsed.
    blobs : list of bytes
        The ``.npy`` blobs it refers to.

    Returns
    -------
    object
        Plain data: the value the student's function returned.

    Raises
    ------
    ValueError
        If the bytes are not a well-formed encoding.
    """
    def array(index):
        if type(index) is not int or not 0 <= index < len(blobs):
            raise ValueError("malformed result: bad array reference")
        try:
            return np.load(io.BytesIO(blobs[index]), allow_pickle=False)
        except Exception as error:  # untrusted bytes: any failure is "malformed"
            raise ValueError(f"malformed result: {error}") from None

    def walk(item, depth):
        if depth > MAX_DEPTH + 2:
            raise ValueError("malformed result: nested too deep")
        if item is None or type(item) in (bool, int, float, str):
            return item
        if type(item) is list:
            return [walk(element, depth + 1) for element in item]
        if type(item) is dict and len(item) == 1:
            (key, content), = item.items()
            if key == "__ndarray__":
                return array(content)
            if key == "__npscalar__":
                scalar = array(content)
                if scalar.shape != ():
                    raise ValueError("malformed result: scalar with a shape")
                return scalar[()]
            if key == "__tuple__" and type(content) is list:
                return tuple(walk(element, depth + 1) for element in content)
            if key == "__dict__" and type(content) is list:
                result = {}
                for pair in content:
                    if type(pair) is not list or len(pair) != 2:
                        raise ValueError("malformed result: bad dict entry")
                    key_value = walk(pair[0], depth + 1)
                    try:
                        result[key_value] = walk(pair[1], depth + 1)
                    except TypeError:
                        raise ValueError("malformed result: unhashable dict key") from None
                return result
            if key == "__complex__" and type(content) is list and len(content) == 2:
                return complex(walk(content[0], depth + 1), walk(content[1], depth + 1))
            if key == "__float__" and content in ("nan", "inf", "-inf"):
                return float(content)
            if key == "__bigint__" and type(content) is str:
                return int(content)
        raise ValueError("malformed result: unknown element")

    return walk(tree, 0)


def _type_name(value):
    kind = type(value)
    module = kind.__module__
    return kind.__name__ if module in ("builtins", "__main__", "k2l_submission") else f"{module}.{kind.__name__}"


# --- framing: how the child's messages travel over a pipe -------------------

_HEADER = struct.Struct(">cI")


def frame(kind, payload=b""):
    """One message: a kind byte, a length and the payload."""
    return _HEADER.pack(kind, len(payload)) + payload


def pack_outcome(header, blobs):
    """Payload of an outcome message: JSON header then the blobs it lists."""
    header = dict(header, blobs=[len(blob) for blob in blobs])
    head = json.dumps(header, allow_nan=False).encode()
    return struct.pack(">I", len(head)) + head + b"".join(blobs)


def unpack_outcome(payload):
    """Inverse of :func:`pack_outcome` on untrusted bytes -> (header, blobs)."""
    if len(payload) < 4:
        raise ValueError("malformed result: short message")
    (size,) = struct.unpack(">I", payload[:4])
    try:
        header = json.loads(payload[4 : 4 + size])
    except (ValueError, RecursionError) as error:
        raise ValueError(f"malformed result: {error}") from None
    if type(header) is not dict or type(header.get("blobs")) is not list:
        raise ValueError("malformed result: bad header")
    blobs, offset = [], 4 + size
    for length in header["blobs"]:
        if type(length) is not int or length < 0 or offset + length > len(payload):
            raise ValueError("malformed result: bad blob length")
        blobs.append(payload[offset : offset + length])
        offset += length
    return header, blobs


class FrameReader:
    """Incrementally split a byte stream into ``(kind, payload)`` frames."""

    def __init__(self, max_frame):
        self.buffer = bytearray()
        self.max_frame = max_frame

    def feed(self, data):
        """Add bytes; return the complete frames now available.

        Raises
        ------
        ValueError
            If a frame announces more than ``max_frame`` bytes.
        """
        self.buffer += data
        frames = []
        while len(self.buffer) >= _HEADER.size:
            kind, length = _HEADER.unpack_from(self.buffer)
            if length > self.max_frame:
                raise ValueError(f"a message of {length} bytes exceeds the limit of {self.max_frame}")
            end = _HEADER.size + length
            if len(self.buffer) < end:
                break
            frames.append((kind, bytes(self.buffer[_HEADER.size : end])))
            del self.buffer[:end]
        return frames
