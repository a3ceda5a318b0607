"""Values that cross the sandbox boundary: plain data only, never pickle.

The student's process encodes what its functions return with :func:`encode`;
the grader decodes it with :func:`decode`. The format is a small JSON tree in
which NumPy arrays are replaced by references to ``.npy`` blobs (written with
``allow_pickle=False``, so an object array cannot cross). Exact types are
required: a subclass of ``float`` or ``list`` (which could, say, claim to be
equal to everything) is refused with the message ``returned an unsupported
type X``, so whatever the grader judges is data it built itself.

Supported: ``None``, ``bool``, ``int`` (at most :data:`MAX_INT_DIGITS`
digits), ``float`` (NaN and infinities travel as explicit markers; a bare
JSON number must be finite), ``complex``, ``str``, NumPy arrays and scalars
of plain dtypes (bool, integers, floats, complex, fixed-size strings), and
``list`` / ``tuple`` / ``dict`` (any Mapping) of those (dict keys: any supported scalar),
nested at most :data:`MAX_DEPTH` deep.

Everything the decoding side reads is untrusted: the student's process is the
one that writes the frames, and it may write anything. :func:`decode`,
:func:`unpack_outcome`, :func:`loads` and :class:`FrameReader` raise only
:class:`WireError` on bad input, and bound what they build: at most
:data:`MAX_RESULT_BYTES` per outcome (and the sandbox bounds a whole run by
the same number), :data:`MAX_NODES` elements, :data:`MAX_DEPTH` levels.

Pure Python + NumPy (no POSIX-only module): the portable sandbox reuses it.
"""

from __future__ import annotations

import collections.abc
import io
import json
import math
import struct

import numpy as np

#: Deepest nesting of lists/tuples/dicts accepted.
MAX_DEPTH = 64
#: Most elements (scalars, containers, arrays) in one returned value.
MAX_NODES = 1_000_000
#: Most decimal digits of a returned Python int.
MAX_INT_DIGITS = 128
#: Most bytes one run may send back (all its outcomes together); also the
#: most one outcome may hold. Bounds the memory a run's results take in the grader.
MAX_RESULT_BYTES = 64 * 2**20
#: Array dtype kinds that may cross: bool, signed/unsigned ints, floats, complex, str, bytes.
ARRAY_KINDS = frozenset("biufcUS")


class WireError(ValueError):
    """Bytes or a tree that are not a well-formed, bounded encoding."""


class UnsupportedValue(TypeError):
    """Raised when a value cannot cross the sandbox boundary."""


def encode(value):
    """Encode a value as ``(tree, blobs)``.

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
    count = [0]

    def array_ref(array, key):
        if array.dtype.hasobject:
            raise UnsupportedValue(f"returned an array of Python objects (dtype={array.dtype})")
        if array.dtype.kind not in ARRAY_KINDS or array.dtype.fields is not None or array.dtype.subdtype is not None:
            raise UnsupportedValue(f"returned an array of an unsupported dtype ({array.dtype})")
        if not _valid_text_array(array):
            raise UnsupportedValue("returned an array of strings that are not valid Unicode (a lone surrogate)")
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        blobs.append(buffer.getvalue())
        return {key: len(blobs) - 1}

    def walk(item, depth):
        count[0] += 1
        if count[0] > MAX_NODES:
            raise UnsupportedValue(f"returned more than {MAX_NODES} elements")
        kind = type(item)
        if kind is str and not _valid_text(item):
            raise UnsupportedValue("returned a string that is not valid Unicode (a lone surrogate)")
        if item is None or kind in (bool, str):
            return item
        if kind is int:
            if abs(item) < 2**63:
                return item
            if item.bit_length() > MAX_INT_DIGITS * 3.33:
                raise UnsupportedValue(f"returned an integer with more than {MAX_INT_DIGITS} digits")
            return {"__bigint__": str(item)}
        if kind is float:
            return item if math.isfinite(item) else {"__float__": repr(item)}
        if kind is complex:
            return {"__complex__": [walk(item.real, depth), walk(item.imag, depth)]}
        if isinstance(item, np.ndarray):
            return array_ref(np.asarray(item.view(np.ndarray)), "__ndarray__")
        if isinstance(item, np.generic):
            return array_ref(np.asarray(item), "__npscalar__")
        mapping = kind is dict or isinstance(item, collections.abc.Mapping)  # OrderedDict, defaultdict...
        if kind in (list, tuple) or mapping:
            if depth >= MAX_DEPTH:
                raise UnsupportedValue(f"returned data nested deeper than {MAX_DEPTH} levels")
            if id(item) in seen:
                raise UnsupportedValue("returned a structure that contains itself")
            seen.add(id(item))
            try:
                if mapping:
                    return {"__dict__": [[walk(k, depth + 1), walk(v, depth + 1)] for k, v in item.items()]}
                encoded = [walk(element, depth + 1) for element in item]
                return {"__tuple__": encoded} if kind is tuple else encoded
            finally:
                seen.discard(id(item))
        raise UnsupportedValue(f"returned an unsupported type {_type_name(item)}")

    return walk(value, 0), blobs


def _valid_text(text):
    """Whether ``text`` is valid Unicode (no lone surrogates: safe to write as UTF-8 anywhere)."""
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _valid_text_array(array):
    if array.dtype.kind != "U" or array.size == 0:
        return True
    points = array.view(np.uint32) if array.flags.c_contiguous else np.ascontiguousarray(array).view(np.uint32)
    return not ((points >= 0xD800) & (points <= 0xDFFF)).any()


def _load_array(blob):
    """One ``.npy`` blob -> array, refusing pickles, odd dtypes and sizes the blob does not hold."""
    try:
        stream = io.BytesIO(blob)
        version = np.lib.format.read_magic(stream)
        if version not in ((1, 0), (2, 0)):
            raise ValueError(f"unsupported .npy version {version}")
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(stream, max_header_size=10000)
    except Exception as error:  # untrusted bytes: any failure is "malformed"
        raise WireError(f"malformed result: {str(error)[:200]}") from None
    if dtype.hasobject or dtype.kind not in ARRAY_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise WireError(f"malformed result: unsupported array dtype {dtype}")
    if dtype.itemsize == 0 or len(shape) > 32:
        raise WireError("malformed result: degenerate array")
    size = 1
    for extent in shape:
        size *= extent
    if size * dtype.itemsize != len(blob) - stream.tell():
        raise WireError("malformed result: array data does not match its shape")
    data = np.frombuffer(blob, dtype=dtype, count=size, offset=stream.tell())
    array = data.reshape(shape, order="F" if fortran else "C").copy()
    if not _valid_text_array(array):
        raise WireError("malformed result: text that is not valid Unicode")
    return array


def decode(tree, blobs):
    """Decode what :func:`encode` produced (in the grader: untrusted data).

    Parameters
    ----------
    tree : object
        The JSON tree, already parsed (e.g. by :func:`unpack_outcome`).
    blobs : list of bytes
        The ``.npy`` blobs it refers to.

    Returns
    -------
    object
        Plain data: the value the student's function returned.

    Raises
    ------
    WireError
        If the tree is not a well-formed encoding within the bounds (and
        never any other exception).
    """
    try:
        return _decode(tree, blobs)
    except WireError:
        raise
    except (RecursionError, MemoryError, OverflowError, TypeError, ValueError) as error:
        raise WireError(f"malformed result: {type(error).__name__}") from None


def _decode(tree, blobs):
    if type(blobs) is not list or any(type(blob) is not bytes for blob in blobs):
        raise WireError("malformed result: bad blobs")
    if sum(len(blob) for blob in blobs) > MAX_RESULT_BYTES:
        raise WireError(f"malformed result: more than {MAX_RESULT_BYTES} bytes")
    count = [0]

    def array(index):
        if type(index) is not int or not 0 <= index < len(blobs):
            raise WireError("malformed result: bad array reference")
        return _load_array(blobs[index])

    def number(item, depth):
        value = walk(item, depth)
        if type(value) is int:
            return float(value)  # (bounded above: at most MAX_INT_DIGITS digits; may overflow -> OverflowError)
        if type(value) is not float:
            raise WireError("malformed result: complex part is not a number")
        return value

    def walk(item, depth):
        count[0] += 1
        if count[0] > MAX_NODES:
            raise WireError(f"malformed result: more than {MAX_NODES} elements")
        if depth > MAX_DEPTH + 1:
            raise WireError("malformed result: nested too deep")
        kind = type(item)
        if kind is str and not _valid_text(item):
            raise WireError("malformed result: text that is not valid Unicode")
        if item is None or kind in (bool, str):
            return item
        if kind is int:
            if abs(item) >= 2**63:
                raise WireError("malformed result: bare integer out of range")
            return item
        if kind is float:
            if not math.isfinite(item):
                raise WireError("malformed result: bare non-finite number")
            return item
        if kind is list:
            return [walk(element, depth + 1) for element in item]
        if kind is dict and len(item) == 1:
            ((key, content),) = item.items()
            if key == "__ndarray__":
                return array(content)
            if key == "__npscalar__":
                scalar = array(content)
                if scalar.shape != ():
                    raise WireError("malformed result: scalar with a shape")
                return scalar[()]
            if key == "__tuple__" and type(content) is list:
                return tuple(walk(element, depth + 1) for element in content)
            if key == "__dict__" and type(content) is list:
                result = {}
                for pair in content:
                    if type(pair) is not list or len(pair) != 2:
                        raise WireError("malformed result: bad dict entry")
                    key_value = walk(pair[0], depth + 1)
                    if type(key_value) in (list, dict) or isinstance(key_value, np.ndarray):
                        raise WireError("malformed result: unhashable dict key")
                    result[key_value] = walk(pair[1], depth + 1)
                return result
            if key == "__complex__" and type(content) is list and len(content) == 2:
                return complex(number(content[0], depth + 1), number(content[1], depth + 1))
            if key == "__float__" and content in ("nan", "inf", "-inf"):
                return float(content)
            if key == "__bigint__" and type(content) is str and 0 < len(content) <= MAX_INT_DIGITS + 1:
                if not content.lstrip("-").isdigit() or not content.isascii():
                    raise WireError("malformed result: bad integer")
                return int(content)
        raise WireError("malformed result: unknown element")

    return walk(tree, 0)


def _type_name(value):
    kind = type(value)
    module = kind.__module__
    return kind.__name__ if module in ("builtins", "__main__", "k2l_submission") else f"{module}.{kind.__name__}"


# --- untrusted JSON and framing: how the child's messages travel over a pipe ------------


def _no_constant(name):
    raise WireError(f"malformed result: {name} is not JSON")


def loads(data, limit=MAX_RESULT_BYTES):
    """Parse untrusted JSON bytes (no NaN/Infinity tokens, bounded size and depth).

    Raises
    ------
    WireError
        For anything that is not such JSON (never another exception).
    """
    if len(data) > limit:
        raise WireError(f"malformed result: more than {limit} bytes")
    try:
        return json.loads(data, parse_constant=_no_constant)
    except WireError:
        raise
    except (ValueError, RecursionError, MemoryError, TypeError) as error:
        raise WireError(f"malformed result: {type(error).__name__}") from None


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
    """Inverse of :func:`pack_outcome` on untrusted bytes -> (header, blobs).

    Raises
    ------
    WireError
        If the payload is malformed or larger than :data:`MAX_RESULT_BYTES`.
    """
    if len(payload) < 4:
        raise WireError("malformed result: short message")
    if len(payload) > MAX_RESULT_BYTES + (1 << 20):
        raise WireError(f"malformed result: more than {MAX_RESULT_BYTES} bytes")
    (size,) = struct.unpack(">I", payload[:4])
    header = loads(payload[4 : 4 + size])
    if type(header) is not dict or type(header.get("blobs")) is not list or len(header["blobs"]) > MAX_NODES:
        raise WireError("malformed result: bad header")
    blobs, offset = [], 4 + size
    for length in header["blobs"]:
        if type(length) is not int or length < 0 or offset + length > len(payload):
            raise WireError("malformed result: bad blob length")
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
        WireError
            If a frame announces more than ``max_frame`` bytes; its
            ``frames`` attribute holds the complete frames before that one.
        """
        self.buffer += data
        frames = []
        while len(self.buffer) >= _HEADER.size:
            kind, length = _HEADER.unpack_from(self.buffer)
            if length > self.max_frame:
                error = WireError(f"a message of {length} bytes exceeds the limit of {self.max_frame}")
                error.frames = frames
                raise error
            end = _HEADER.size + length
            if len(self.buffer) < end:
                break
            frames.append((kind, bytes(self.buffer[_HEADER.size : end])))
            del self.buffer[:end]
        return frames
