"""The operator's Ed25519 signing key: it signs liquidation requests (``GET /operator`` publishes
the public half, guardians pin it).

The file is JSON ``{"format": "zkmargin-operator-signing-key", "version": 1, "private_key":
"<64 hex>", "public_key": "<64 hex>"}``, mode 0600. Without ``ZKMARGIN_OPERATOR_SIGNING_KEY`` it
is ``$ZKMARGIN_HOME/operator-signing-key.json``, generated on first start (under the home lock,
so workers starting together make one); a file named by the variable must exist.
"""

from __future__ import annotations

import json
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from circuits.protocol.liquidation import operator_key_hex
from circuits.protocol.oracle_report import private_key_from_hex, private_key_to_hex
from verifier.errors import OperatorKeyError
from zkmargin.errors import ZkMarginError
from zkmargin.formats.files import write_atomically

KEY_FORMAT = "zkmargin-operator-signing-key"
VERSION = 1


def operator_key_document(key: Ed25519PrivateKey) -> dict[str, object]:
    return {"format": KEY_FORMAT, "version": VERSION, "private_key": private_key_to_hex(key),
            "public_key": operator_key_hex(key)}


def load_operator_key(path: Path, *, create: bool) -> Ed25519PrivateKey:
    """The key in ``path``; generated there first when ``create`` and the file does not exist."""
    if not path.exists():
        if not create:
            raise OperatorKeyError(f"ZKMARGIN_OPERATOR_SIGNING_KEY ({path}): no such file")
        key = Ed25519PrivateKey.generate()
        write_atomically(path, json.dumps(operator_key_document(key), indent=1).encode(), mode=0o600)
        return key
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise OperatorKeyError(f"operator signing key {path}: cannot read it: {exc}") from None
    if not isinstance(document, dict) or document.get("format") != KEY_FORMAT or document.get("version") != VERSION:
        raise OperatorKeyError(f"operator signing key {path}: not a {KEY_FORMAT} file of version {VERSION}")
    try:
        key = private_key_from_hex(document.get("private_key"))  # type: ignore[arg-type]
    except (ZkMarginError, ValueError) as exc:
        raise OperatorKeyError(f"operator signing key {path}: {exc}") from None
    if document.get("public_key") != operator_key_hex(key):
        raise OperatorKeyError(f"operator signing key {path}: its public_key is not its private key's")
    return key
