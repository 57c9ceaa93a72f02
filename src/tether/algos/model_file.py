"""tether's model and checkpoint files: a checked header, then a msgpack payload. Loading never runs code.

Layout: the magic bytes `TETHER-MODEL\\n`, a 4-byte little-endian header length, the header as JSON,
then the payload (flax's msgpack of plain values and arrays). The header holds the format version,
the file's kind (`learner` or `checkpoint`), the algorithm, the shape of every weight, and the
payload's length and SHA-256, so a truncated, tampered or bit-flipped file, or a file of another
algorithm, is refused with a `ModelFileError` that names the file and the problem before anything is
decoded. Weights and scaling statistics must be finite.

Files written before the header existed (msgpack with `format: tether-learner-v1`) still load, with
the same shape and finiteness checks but no checksum.
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path
from typing import Any

import jax
import numpy as np
from flax import serialization

from tether._atomic import write_atomically
from tether.errors import ModelFileError

MAGIC = b"TETHER-MODEL\n"
FORMAT_VERSION = 1
LEGACY_FORMAT = "tether-learner-v1"
_LENGTH = struct.Struct("<I")
# the fields each kind of file must hold; learners and their checkpoints also carry observation scaling
REQUIRED = {"learner": ("config", "spec", "scaling", "seeds", "state"),
            "checkpoint": ("config", "spec", "scaling", "seeds", "state"),
            "fqe-checkpoint": ("config", "state", "epoch", "history", "fingerprint")}
_RETRAIN = "train again, or restore the file from where it was copied"


def weight_shapes(state_dict: dict[str, Any]) -> dict[str, list[int]]:
    """`{"params/actor/kernel": [17, 256], ...}` for every array in a flax state dict."""
    leaves = jax.tree_util.tree_leaves_with_path(state_dict)
    return {"/".join(str(getattr(k, "key", k)) for k in path): list(np.shape(leaf)) for path, leaf in leaves}


def write_model_file(path: str | Path, kind: str, algorithm: str, payload: dict[str, Any]) -> Path:
    """Write `payload` (with its `state` weights) under a checked header, atomically."""
    body = serialization.msgpack_serialize(payload)
    header = {"format_version": FORMAT_VERSION, "kind": kind, "algorithm": algorithm,
              "shapes": weight_shapes(payload["state"]), "payload_bytes": len(body),
              "payload_sha256": hashlib.sha256(body).hexdigest()}
    head = json.dumps(header, sort_keys=True).encode()
    return write_atomically(path, MAGIC + _LENGTH.pack(len(head)) + head + body)


def read_header(path: str | Path) -> dict[str, Any]:
    """A model file's header (format version, kind, algorithm, weight shapes, payload checksum)."""
    header = _split(Path(path))[0]
    if header is None:
        raise ModelFileError(str(path), "has no header (written before tether 0.1 headers, or not a model file)",
                             "load it with load_learner, which reads the older layout too")
    return header


def read_model_file(path: str | Path, kind: str, algorithm: str | None = None) -> dict[str, Any]:
    """The verified payload of a `kind` file; `algorithm`, when given, must be the one it holds.

    Raises:
        ModelFileError: the file is missing, not a tether file, truncated, altered since it was
            written, of another kind or algorithm, or holds non-finite weights.
    """
    path = Path(path)
    header, body = _split(path)
    if header is None:
        payload = _decode(path, body, kind)
        if payload.get("format") != LEGACY_FORMAT:
            raise ModelFileError(str(path), "is not a tether model file", "pass a file written by tether's save()")
    else:
        if header.get("kind") != kind:
            raise ModelFileError(str(path), f"is a {header.get('kind')} file, not a {kind}",
                                 "pass model.tether to load a learner, or the run directory to resume")
        if len(body) != header.get("payload_bytes"):
            raise ModelFileError(str(path), f"is truncated: {len(body)} of {header.get('payload_bytes')} payload "
                                 "bytes", _RETRAIN)
        if hashlib.sha256(body).hexdigest() != header.get("payload_sha256"):
            raise ModelFileError(str(path), "does not match its SHA-256 checksum: it was changed or damaged after "
                                 "it was written", _RETRAIN)
        payload = _decode(path, body, kind)
    held = _algorithm(path, payload)
    if header is not None and held != header.get("algorithm"):
        raise ModelFileError(str(path), f"its header says {header.get('algorithm')!r} but its config is {held!r}",
                             _RETRAIN)
    if algorithm is not None and held != algorithm:
        raise ModelFileError(str(path), f"holds a {held} learner, not {algorithm}",
                             f"load it with {held}'s config (or tether.algos.load_learner), or pass a {algorithm} file")
    _check_finite(path, payload)
    return payload


def _split(path: Path) -> tuple[dict[str, Any] | None, bytes]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ModelFileError(str(path), "does not exist", "check the path (tether train writes OUT/ALGO/model.tether)"
                             ) from None
    except OSError as err:
        raise ModelFileError(str(path), f"cannot be read ({err.strerror})", "check the path and permissions") from None
    if not raw.startswith(MAGIC):
        return None, raw
    start = len(MAGIC) + _LENGTH.size
    if len(raw) < start:
        raise ModelFileError(str(path), "is truncated inside its header", _RETRAIN)
    (length,) = _LENGTH.unpack_from(raw, len(MAGIC))
    if len(raw) < start + length:
        raise ModelFileError(str(path), "is truncated inside its header", _RETRAIN)
    try:
        header = json.loads(raw[start : start + length])
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ModelFileError(str(path), "has a damaged header", _RETRAIN) from None
    if not isinstance(header, dict):
        raise ModelFileError(str(path), "has a damaged header", _RETRAIN)
    version = header.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(str(path), f"was written in model format {version!r}; this tether reads up to "
                             f"{FORMAT_VERSION}", "upgrade tether, or load it with the version that wrote it")
    return header, raw[start + length :]


def _decode(path: Path, body: bytes, kind: str) -> dict[str, Any]:
    try:
        payload = serialization.msgpack_restore(body)
    except Exception as err:  # msgpack raises many types for bytes that are not its own
        raise ModelFileError(str(path), f"cannot be decoded ({type(err).__name__}): it is truncated, corrupt or not "
                             "a tether model file", _RETRAIN) from None
    if not isinstance(payload, dict):
        raise ModelFileError(str(path), "is not a tether model file", "pass a file written by tether's save()")
    missing = [k for k in REQUIRED.get(kind, ("config", "state")) if k not in payload]
    if missing:
        raise ModelFileError(str(path), f"lacks the field(s) {missing}", _RETRAIN)
    return payload


def _algorithm(path: Path, payload: dict[str, Any]) -> str:
    try:
        return str(json.loads(payload["config"])["type"])
    except (json.JSONDecodeError, TypeError, KeyError):
        raise ModelFileError(str(path), "has an unreadable config field", _RETRAIN) from None


def _check_finite(path: Path, payload: dict[str, Any]) -> None:
    for name, leaf in jax.tree_util.tree_leaves_with_path(payload["state"]):
        value = np.asarray(leaf)
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            where = "/".join(str(getattr(k, "key", k)) for k in name)
            raise ModelFileError(str(path), f"weight {where} holds NaN or infinite values",
                                 "train again (a diverged run keeps its last finite state)")
    if "scaling" not in payload:
        return
    try:
        scaling = json.loads(payload["scaling"])
        stats = [scaling[k] for k in ("observation_mean", "observation_std", "reward_scale")]
    except (json.JSONDecodeError, TypeError, KeyError):
        raise ModelFileError(str(path), "has an unreadable scaling field", _RETRAIN) from None
    for key, value in zip(("observation_mean", "observation_std", "reward_scale"), stats, strict=True):
        try:
            array = np.asarray(value, np.float64)
        except (TypeError, ValueError):
            raise ModelFileError(str(path), f"scaling {key} is not numeric", _RETRAIN) from None
        if not np.isfinite(array).all():
            raise ModelFileError(str(path), f"scaling {key} holds NaN or infinite values",
                                 "train again on finite data")
    if not (np.asarray(stats[1], np.float64) > 0).all():
        raise ModelFileError(str(path), "scaling observation_std is not positive", _RETRAIN)
