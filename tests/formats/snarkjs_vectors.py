"""Where the snarkjs reference vectors live, and a backend to read them with.

The vectors (made by snarkjs 0.7.6 and circomlibjs, see their README) are kept in
``tests/vectors``; ``$ZKMARGIN_VECTORS`` points elsewhere for a different set.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from zkmargin.backends import Backend, get_backend
from zkmargin.curves import Curve, get_curve
from zkmargin.errors import ZkMarginError

REPO = Path(__file__).resolve().parents[2]
CURVE_NAMES = ("bn128", "bls12381")


VECTORS = Path(os.environ.get("ZKMARGIN_VECTORS", REPO / "tests" / "vectors"))


def snarkjs_vectors() -> Path:
    """The ``snarkjs`` vector folder (holding ``bn128/`` and ``bls12381/``)."""
    return VECTORS / "snarkjs"


def mult_dir(curve: str | Curve) -> Path:
    return snarkjs_vectors() / get_curve(curve).name / "mult"


def manifest_cases(curve: str | Curve) -> list[dict]:
    folder = snarkjs_vectors() / get_curve(curve).name
    cases = json.loads((folder / "manifest.json").read_text())["cases"]
    return [{**case, **{key: folder / case[key] for key in ("vk", "public", "proof")}} for case in cases]


def backend_for(curve: str | Curve) -> Backend:
    """The curve's default backend, or the py_ecc reference while the default is not installed."""
    try:
        return get_backend(curve)
    except (ImportError, ZkMarginError):
        return get_backend(curve, "py_ecc")
