"""The guardians' keys: the public set the service publishes, and one guardian's secret share.

Public (``zkmargin-guardian-set``): curve, t, n, the group key ``Y = s·B``, every guardian's
verification key ``VK_j = s_j·B`` and the digest of the DKG transcript they came from.
Secret (``zkmargin-guardian-share``): the same plus the guardian's index and share ``s_j``.

Both are checked whole on construction, whichever way they arrive: every point in the
prime-order subgroup and not the identity; the VKs on one polynomial of degree t − 1 whose
value at 0 is the group key; and for a share, ``s_j·B = VK_j``. A document that passes can be
used as it is. Sealing the secret document at rest (0600 file, passphrase) is the file layer's
job; this module only turns it into JSON and back.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from zkmargin.edwards import EdwardsCurve, Point, base_mul, point_to_json
from zkmargin.errors import MalformedInputError
from zkmargin.threshold.encoding import (
    MAX_GUARDIANS,
    JsonDocument,
    as_object,
    check_format,
    check_keys,
    read_count,
    read_curve,
    read_list,
    read_point,
    read_scalar,
    read_text,
    require_group_element,
    require_index,
    require_scalar,
    require_threshold,
)
from zkmargin.threshold.polynomials import interpolate_in_group

SET_FORMAT = "zkmargin-guardian-set"
SHARE_FORMAT = "zkmargin-guardian-share"
VERSION = 1
_DIGEST = re.compile(r"[0-9a-f]{64}\Z")


@dataclass(frozen=True)
class GuardianSet:
    """The public side of a t-of-n liquidation key."""

    curve: EdwardsCurve
    threshold: int
    guardians: int
    group_key: Point
    verification_keys: tuple[Point, ...]
    transcript_digest: str  # SHA-256 hex of the DKG transcript

    def __post_init__(self) -> None:
        require_threshold(self.threshold, self.guardians)
        if len(self.verification_keys) != self.guardians:
            got = len(self.verification_keys)
            raise MalformedInputError(f"verification keys: expected {self.guardians}, got {got}")
        if not isinstance(self.transcript_digest, str) or not _DIGEST.match(self.transcript_digest):
            raise MalformedInputError("transcript digest: expected 64 lowercase hex digits")
        require_group_element(self.curve, self.group_key, "group key")
        for index, key in enumerate(self.verification_keys, start=1):
            require_group_element(self.curve, key, f"verification key of guardian {index}")
        self._require_one_polynomial()

    def _require_one_polynomial(self) -> None:
        """The first t VKs fix the polynomial; the group key and every other VK must lie on it."""
        basis = {j: self.verification_keys[j - 1] for j in range(1, self.threshold + 1)}
        if interpolate_in_group(self.curve, basis, 0) != self.group_key:
            raise MalformedInputError("group key: not the value at 0 of the verification keys' polynomial")
        for j in range(self.threshold + 1, self.guardians + 1):
            if interpolate_in_group(self.curve, basis, j) != self.verification_keys[j - 1]:
                raise MalformedInputError(f"verification key of guardian {j}: not on the polynomial of the others")

    def verification_key(self, guardian: int) -> Point:
        return self.verification_keys[require_index(guardian, self.guardians, "guardian") - 1]


@dataclass(frozen=True)
class GuardianShare:
    """Guardian ``index``'s secret share ``s_j`` of the key described by ``guardian_set``."""

    guardian_set: GuardianSet
    index: int
    share: int

    def __post_init__(self) -> None:
        if not isinstance(self.guardian_set, GuardianSet):
            raise MalformedInputError("guardian set: expected a GuardianSet")
        require_index(self.index, self.guardian_set.guardians, "index")
        require_scalar(self.guardian_set.curve, self.share, "share", nonzero=True)
        if base_mul(self.guardian_set.curve, self.share) != self.guardian_set.verification_key(self.index):
            raise MalformedInputError(f"share: does not match the verification key of guardian {self.index}")

    def __repr__(self) -> str:  # keep the secret out of logs and tracebacks
        return f"GuardianShare(index={self.index}, curve={self.guardian_set.curve.name}, share=<secret>)"


# --- JSON ------------------------------------------------------------------------------

_SET_FIELDS = ("curve", "threshold", "guardians", "group_key", "verification_keys", "transcript_digest")


def guardian_set_to_json(guardian_set: GuardianSet) -> dict[str, Any]:
    return {"format": SET_FORMAT, "version": VERSION, **_set_fields(guardian_set)}


def guardian_set_from_json(data: JsonDocument, source: str = "guardian set") -> GuardianSet:
    obj = as_object(data, source)
    check_format(obj, SET_FORMAT, VERSION, source)
    check_keys(obj, ("format", "version", *_SET_FIELDS), source)
    return _set_from_fields(obj, source)


def guardian_share_to_json(share: GuardianShare) -> dict[str, Any]:
    return {
        "format": SHARE_FORMAT,
        "version": VERSION,
        "index": share.index,
        "share": str(share.share),
        **_set_fields(share.guardian_set),
    }


def guardian_share_from_json(data: JsonDocument, source: str = "guardian share") -> GuardianShare:
    obj = as_object(data, source)
    check_format(obj, SHARE_FORMAT, VERSION, source)
    check_keys(obj, ("format", "version", "index", "share", *_SET_FIELDS), source)
    guardian_set = _set_from_fields(obj, source)
    index = read_count(obj["index"], 1, guardian_set.guardians, source, "index")
    share = read_scalar(guardian_set.curve, obj["share"], source, "share", nonzero=True)
    try:
        return GuardianShare(guardian_set, index, share)
    except MalformedInputError as exc:
        raise MalformedInputError(f"{source}: {exc}") from None


def dumps(document: dict[str, Any]) -> str:
    """Pretty JSON with a final newline, as the file layer writes it."""
    return json.dumps(document, indent=2) + "\n"


def _set_fields(guardian_set: GuardianSet) -> dict[str, Any]:
    return {
        "curve": guardian_set.curve.name,
        "threshold": guardian_set.threshold,
        "guardians": guardian_set.guardians,
        "group_key": point_to_json(guardian_set.group_key),
        "verification_keys": [point_to_json(key) for key in guardian_set.verification_keys],
        "transcript_digest": guardian_set.transcript_digest,
    }


def _set_from_fields(obj: Any, source: str) -> GuardianSet:
    ec = read_curve(obj["curve"], source)
    guardians = read_count(obj["guardians"], 1, MAX_GUARDIANS, source, "guardians")
    threshold = read_count(obj["threshold"], 1, guardians, source, "threshold")
    keys = read_list(obj["verification_keys"], source, "verification_keys", length=guardians)
    digest = read_text(obj["transcript_digest"], source, "transcript_digest")
    try:
        return GuardianSet(
            curve=ec,
            threshold=threshold,
            guardians=guardians,
            group_key=read_point(ec, obj["group_key"], source, "group_key"),
            verification_keys=tuple(
                read_point(ec, key, source, f"verification_keys[{i}]") for i, key in enumerate(keys)
            ),
            transcript_digest=digest,
        )
    except MalformedInputError as exc:
        message = str(exc)
        raise MalformedInputError(message if message.startswith(source) else f"{source}: {message}") from None
