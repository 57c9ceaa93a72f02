"""The few protobuf wire-format pieces tether writes by hand (TensorBoard events, ONNX models).

A message is a run of fields, each `key = field_number << 3 | wire_type` then its value: varints
(wire type 0), 64-bit (1), length-delimited bytes, strings and sub-messages (2), and 32-bit (5).
"""

from __future__ import annotations


def varint(value: int) -> bytes:
    """Base-128 varint; negative values as their 64-bit two's complement, as protobuf's int64 does."""
    out = bytearray()
    value &= (1 << 64) - 1
    while True:
        bits, value = value & 0x7F, value >> 7
        out.append(bits | (0x80 if value else 0))
        if not value:
            return bytes(out)


def length_delimited(field: int, payload: bytes) -> bytes:
    """Field `field` holding bytes, a string or a sub-message."""
    return varint(field << 3 | 2) + varint(len(payload)) + payload


def int_field(field: int, value: int) -> bytes:
    """Field `field` holding a varint (int32, int64, enum, bool)."""
    return varint(field << 3) + varint(value)


def text_field(field: int, text: str) -> bytes:
    """Field `field` holding a UTF-8 string."""
    return length_delimited(field, text.encode())
