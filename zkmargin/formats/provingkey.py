"""A compact binary proving-key file with an integrity hash.

Layout::

    b"ZKMPK\\x01"                         magic and version
    u32 big-endian header length, header   JSON: curve, circuit id, counts, section sizes
    point sections                          raw points, see Backend.g1_to_bytes / g2_to_bytes
    32 bytes                                SHA-256 of everything before it

Points are stored uncompressed and, by default, loaded without curve checks (so a 2^16 key
loads in well under a second); the SHA-256 trailer is what guards against a damaged or truncated
file. A key from someone else (a trader downloading the operator's) is loaded with
``checked=True``: every point on the curve and in the prime-order subgroup, or a KeyFileError.
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path
from typing import Any

from zkmargin.backends import Backend, get_backend
from zkmargin.curves import get_curve
from zkmargin.errors import KeyFileError, MalformedInputError
from zkmargin.formats.files import write_atomically
from zkmargin.groth16.keys import ProvingKey, VerifyingKey

MAGIC = b"ZKMPK\x01"
_DIGEST_BYTES = 32
# (attribute, group, is a list)
_SECTIONS = (
    ("vk.alpha_g1", 1, False),
    ("vk.beta_g2", 2, False),
    ("vk.gamma_g2", 2, False),
    ("vk.delta_g2", 2, False),
    ("vk.gamma_abc_g1", 1, True),
    ("beta_g1", 1, False),
    ("delta_g1", 1, False),
    ("a_query_g1", 1, True),
    ("b_query_g1", 1, True),
    ("b_query_g2", 2, True),
    ("l_query_g1", 1, True),
    ("h_query_g1", 1, True),
)


def _get(pk: ProvingKey, dotted: str) -> Any:
    obj = pk
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def proving_key_to_bytes(pk: ProvingKey, backend: Backend | None = None) -> bytes:
    backend = backend or get_backend(pk.curve)
    counts = {}
    chunks = []
    for name, group, is_list in _SECTIONS:
        value = _get(pk, name)
        points = value if is_list else [value]
        encode = backend.g1_to_bytes if group == 1 else backend.g2_to_bytes
        chunks.append(b"".join(encode(p) for p in points))
        counts[name] = len(points)
    header = json.dumps(
        {
            "curve": pk.curve.name,
            "circuit_id": pk.circuit_id,
            "num_public": pk.num_public,
            "num_variables": pk.num_variables,
            "domain_size": pk.domain_size,
            "counts": counts,
            "metadata": pk.metadata,
        },
        sort_keys=True,
    ).encode()
    body = MAGIC + struct.pack(">I", len(header)) + header + b"".join(chunks)
    return body + hashlib.sha256(body).digest()


def proving_key_from_bytes(data: bytes, backend: Backend | None = None, *, source: str = "proving key",
                           checked: bool = False) -> ProvingKey:
    if len(data) < len(MAGIC) + 4 + _DIGEST_BYTES or not data.startswith(MAGIC):
        raise KeyFileError(f"{source} is not a zkmargin proving key (bad magic or too short)")
    body, digest = data[:-_DIGEST_BYTES], data[-_DIGEST_BYTES:]
    if hashlib.sha256(body).digest() != digest:
        raise KeyFileError(f"{source} is damaged: its integrity hash does not match")
    (header_len,) = struct.unpack(">I", body[len(MAGIC) : len(MAGIC) + 4])
    offset = len(MAGIC) + 4
    try:
        header = json.loads(body[offset : offset + header_len])
        curve = get_curve(header["curve"])
    except (ValueError, KeyError) as err:
        raise KeyFileError(f"{source} has an unreadable header: {err}") from None
    backend = backend or get_backend(curve)
    if backend.curve is not curve:
        raise KeyFileError(f"{source} is for {curve.name}, the backend is for {backend.curve.name}")
    offset += header_len
    values = {}
    for name, group, is_list in _SECTIONS:
        count = header["counts"][name]
        size = (2 if group == 1 else 4) * curve.base_bytes
        section = body[offset : offset + count * size]
        if len(section) != count * size:
            raise KeyFileError(f"{source} is truncated in section {name}")
        if checked:
            decode = backend.g1_from_bytes if group == 1 else backend.g2_from_bytes
            try:
                points = [decode(section[i * size : (i + 1) * size], what=f"{name}[{i}]") for i in range(count)]
            except MalformedInputError as err:
                raise KeyFileError(f"{source}: {err}") from None
        else:
            decode_trusted = backend.g1_from_bytes_unchecked if group == 1 else backend.g2_from_bytes_unchecked
            try:
                points = [decode_trusted(section[i * size : (i + 1) * size]) for i in range(count)]
            except ValueError as err:  # a native backend may still refuse an off-curve point
                raise KeyFileError(f"{source}: section {name}: {err}") from None
        values[name] = points if is_list else points[0]
        offset += count * size
    vk = VerifyingKey(
        curve, values["vk.alpha_g1"], values["vk.beta_g2"], values["vk.gamma_g2"], values["vk.delta_g2"],
        values["vk.gamma_abc_g1"],
    )
    return ProvingKey(
        curve=curve,
        circuit_id=header["circuit_id"],
        num_public=header["num_public"],
        num_variables=header["num_variables"],
        domain_size=header["domain_size"],
        vk=vk,
        beta_g1=values["beta_g1"],
        delta_g1=values["delta_g1"],
        a_query_g1=values["a_query_g1"],
        b_query_g1=values["b_query_g1"],
        b_query_g2=values["b_query_g2"],
        l_query_g1=values["l_query_g1"],
        h_query_g1=values["h_query_g1"],
        metadata=header.get("metadata", {}),
    )


def save_proving_key(pk: ProvingKey, path: str | Path, backend: Backend | None = None) -> None:
    write_atomically(path, proving_key_to_bytes(pk, backend))


def load_proving_key(path: str | Path, backend: Backend | None = None, *, checked: bool = False) -> ProvingKey:
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(f"no proving key at {path} (run `zkmargin setup` first)") from None
    except OSError as err:
        raise KeyFileError(f"cannot read {path}: {err.strerror}") from None
    return proving_key_from_bytes(data, backend, source=str(path), checked=checked)
