"""TensorBoard scalar logs without TensorFlow: event files written (and read back) by hand.

An event file is a sequence of TFRecords, `[len: u64][masked crc32c(len): u32][data][masked crc32c(data): u32]`,
where each `data` is a serialised `tensorflow.Event` protobuf. tether writes only what scalar curves need:
`Event{wall_time=1: double, step=2: int64, file_version=3: string, summary=5: Summary}` with
`Summary{value=1: Value{tag=1: string, simple_value=2: float}}`. TensorBoard reads these files as it
reads TensorFlow's own.
"""

from __future__ import annotations

import socket
import struct
import time
from pathlib import Path

from tether._protobuf import int_field, length_delimited, text_field, varint


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), the checksum of TFRecords."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """The checksum TFRecords store: CRC-32C rotated right by 15 bits plus a constant."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _event(step: int, wall_time: float, *, file_version: str | None = None,
           scalars: dict[str, float] | None = None) -> bytes:
    message = varint(1 << 3 | 1) + struct.pack("<d", wall_time) + int_field(2, step)
    if file_version is not None:
        message += text_field(3, file_version)
    if scalars:
        values = b"".join(
            length_delimited(1, text_field(1, tag) + varint(2 << 3 | 5) + struct.pack("<f", value))
            for tag, value in scalars.items())
        message += length_delimited(5, values)
    return message


def _record(data: bytes) -> bytes:
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", masked_crc32c(length)) + data + struct.pack("<I", masked_crc32c(data))


class TensorBoardWriter:
    """Appends scalar summaries to one event file in `log_dir` (flushed after every call)."""

    def __init__(self, log_dir: str | Path) -> None:
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.log_dir / f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}"
        with open(self.path, "ab") as file:
            file.write(_record(_event(0, time.time(), file_version="brain.Event:2")))

    def scalars(self, step: int, values: dict[str, float]) -> None:
        """Log `{tag: value}` at `step`."""
        finite = {tag: float(value) for tag, value in values.items() if isinstance(value, (int, float))}
        with open(self.path, "ab") as file:
            file.write(_record(_event(int(step), time.time(), scalars=finite)))


def _read_varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at, shift = at + 1, shift + 7
        if not byte & 0x80:
            return value, at


def _fields(data: bytes):
    at = 0
    while at < len(data):
        key, at = _read_varint(data, at)
        field, wire = key >> 3, key & 7
        value: int | bytes
        if wire == 0:
            value, at = _read_varint(data, at)
        elif wire == 1:
            value, at = data[at:at + 8], at + 8
        elif wire == 5:
            value, at = data[at:at + 4], at + 4
        elif wire == 2:
            size, at = _read_varint(data, at)
            value, at = data[at:at + size], at + size
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield field, value


def read_scalars(path: str | Path) -> dict[str, list[tuple[int, float]]]:
    """`{tag: [(step, value), ...]}` from an event file, checking every record's checksums."""
    data = Path(path).read_bytes()
    curves: dict[str, list[tuple[int, float]]] = {}
    at = 0
    while at < len(data):
        header = data[at:at + 8]
        (length,) = struct.unpack("<Q", header)
        if struct.unpack("<I", data[at + 8:at + 12])[0] != masked_crc32c(header):
            raise ValueError(f"{path}: corrupt record length at byte {at}")
        payload = data[at + 12:at + 12 + length]
        if struct.unpack("<I", data[at + 12 + length:at + 16 + length])[0] != masked_crc32c(payload):
            raise ValueError(f"{path}: corrupt record at byte {at}")
        at += 16 + length
        step = 0
        for field, value in _fields(payload):
            if field == 2:
                step = value
            elif field == 5:
                for _, entry in _fields(value):
                    parts = dict(_fields(entry))
                    if 1 in parts and 2 in parts:
                        curves.setdefault(parts[1].decode(), []).append((step, struct.unpack("<f", parts[2])[0]))
    return curves
