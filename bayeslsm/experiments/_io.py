"""Atomic text and JSON writers for experiment outputs (temporary file in the same folder, then rename)."""


from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Mapping

import numpy as np


def _jsonable(obj):
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.datetime64, Path)):
        return str(obj)
    return obj


def _write_text(path: Path, text: str) -> Path:
    """Write ``text`` atomically (:func:`bayeslsm.data.atomic.write_text_atomic`)."""
    from bayeslsm.data.atomic import write_text_atomic

    return write_text_atomic(path, text)


def _write_json(path: Path, obj) -> Path:
    return _write_text(path, json.dumps(_jsonable(obj), indent=1, allow_nan=False) + "\n")
