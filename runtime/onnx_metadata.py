"""Read an ``.onnx`` file's ``metadata_props`` without onnx or onnxruntime.

Engines that read ONNX themselves (OpenVINO) and tools that only need the contract
(labels, preprocessing, threshold) get it here by walking the protobuf wire format of
``ModelProto``: field 14 is ``repeated StringStringEntryProto {1: key, 2: value}``;
every other length-delimited field (the graph with its weights first of all) is
skipped with a seek, so an 80 MB model costs a few reads.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from anime_detector.contract import ModelContract, contract_from_props
from anime_detector.errors import ModelError

__all__ = ["read_contract", "read_metadata"]

_METADATA_PROPS = 14
_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5


class _WireError(ValueError):
    """The bytes are not a protobuf message of the expected shape."""


def _varint(read: BinaryIO) -> int | None:
    """The next varint, or ``None`` at a clean end of input."""
    result, shift = 0, 0
    while True:
        byte = read.read(1)
        if not byte:
            if shift:
                raise _WireError("truncated varint")
            return None
        result |= (byte[0] & 0x7F) << shift
        if not byte[0] & 0x80:
            return result
        shift += 7
        if shift > 63:
            raise _WireError("varint longer than 10 bytes")


def _skip(handle: BinaryIO, wire_type: int, end: int) -> None:
    if wire_type == _VARINT:
        if _varint(handle) is None:
            raise _WireError("truncated varint")
        return
    sizes = {_I64: 8, _I32: 4}
    if wire_type == _LEN:
        length = _varint(handle)
        if length is None:
            raise _WireError("truncated length")
    elif wire_type in sizes:
        length = sizes[wire_type]
    else:
        raise _WireError(f"unsupported wire type {wire_type}")
    target = handle.tell() + length
    if target > end:
        raise _WireError("field runs past the end of the file")
    handle.seek(target)


def _entry(data: bytes) -> tuple[str, str]:
    """Decode one ``StringStringEntryProto`` (already in memory: it is small)."""
    fields = {1: "", 2: ""}
    pos = 0
    while pos < len(data):
        tag, pos = _varint_at(data, pos)
        number, wire_type = tag >> 3, tag & 7
        if wire_type == _LEN:
            length, pos = _varint_at(data, pos)
            if pos + length > len(data):
                raise _WireError("metadata entry runs past its end")
            if number in fields:
                fields[number] = data[pos : pos + length].decode("utf-8")
            pos += length
        elif wire_type == _VARINT:
            _, pos = _varint_at(data, pos)
        else:
            raise _WireError(f"unexpected wire type {wire_type} in a metadata entry")
    return fields[1], fields[2]


def _varint_at(data: bytes, pos: int) -> tuple[int, int]:
    result, shift = 0, 0
    while pos < len(data):
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
    raise _WireError("truncated varint in a metadata entry")


def _scan(handle: BinaryIO, end: int) -> dict[str, str]:
    props: dict[str, str] = {}
    while True:
        tag = _varint(handle)
        if tag is None:
            return props
        number, wire_type = tag >> 3, tag & 7
        if number == 0:
            raise _WireError("field number 0")
        if number == _METADATA_PROPS and wire_type == _LEN:
            length = _varint(handle)
            if length is None or handle.tell() + length > end:
                raise _WireError("metadata entry runs past the end of the file")
            key, value = _entry(handle.read(length))
            props[key] = value
        else:
            _skip(handle, wire_type, end)


def read_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The ``metadata_props`` of the ONNX model at ``path`` as a dict (last key wins).

    Raises:
        ModelError: the file is missing, unreadable or not a protobuf ``ModelProto``.
    """
    model = Path(path)
    try:
        with open(model, "rb") as handle:
            end = os.fstat(handle.fileno()).st_size
            if end == 0:
                raise ModelError(model, "empty model file (0 bytes)")
            return _scan(handle, end)
    except FileNotFoundError:
        raise ModelError(model, "no such model file") from None
    except IsADirectoryError:
        raise ModelError(model, "is a directory, not an .onnx model file") from None
    except OSError as exc:
        raise ModelError(model, f"cannot read: {exc.strerror or exc}") from None
    except (_WireError, UnicodeDecodeError) as exc:
        raise ModelError(model, f"not an ONNX model ({exc})") from None


def read_contract(path: str | os.PathLike[str],
                  labels: Sequence[str] | None = None) -> ModelContract:
    """The contract stored in the ONNX file at ``path`` (see :func:`contract_from_props`)."""
    return contract_from_props(path, read_metadata(path), labels)
