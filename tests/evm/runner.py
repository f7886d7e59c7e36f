"""solc-js and an in-memory EVM (pinned in package-lock.json beside this file) for the tests of
the Solidity verifier export.

They are installed once with ``npm ci`` into ``<zkmargin cache>/evm-<sha256[:16]>/`` (the same
cache as snarkjs's, keyed by this folder's lock file) and driven through one long-lived Node.js
process (``evm_server.mjs``), so a contract compiles once and each call costs milliseconds.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prover.snarkjs import cache_root, missing_tools

HERE = Path(__file__).resolve().parent
FILES = ("package.json", "package-lock.json", "evm_server.mjs")


class EvmError(RuntimeError):
    """The EVM tools could not be installed, or a request failed."""


def lock_digest() -> str:
    h = hashlib.sha256()
    for name in FILES:
        h.update((HERE / name).read_bytes())
        h.update(b"\0")
    return h.hexdigest()[:16]


def install_evm(root: Path | None = None) -> Path:
    """The folder holding node_modules/ and evm_server.mjs, installed with ``npm ci`` unless the
    cache already has it; a fresh sibling folder renamed into place, so a concurrent or
    interrupted run never leaves a half-installed cache behind."""
    missing = missing_tools()
    if missing:
        raise EvmError(f"{' and '.join(missing)} not on PATH")
    root = root or cache_root() / f"evm-{lock_digest()}"
    marker = root / ".installed"
    if marker.exists():
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=root.parent, prefix=f".{root.name}."))
    try:
        for name in FILES:
            shutil.copy2(HERE / name, staging / name)
        done = subprocess.run(
            ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=staging, capture_output=True, text=True, timeout=900,
        )
        if done.returncode != 0:
            raise EvmError(f"npm ci in {HERE} failed (exit {done.returncode}):\n{(done.stdout + done.stderr).strip()}")
        (staging / ".installed").write_text(lock_digest() + "\n")
        try:
            staging.rename(root)
        except OSError:
            if not marker.exists():  # not a lost race with another run
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return root


@dataclass(frozen=True)
class Contract:
    address: str
    selectors: dict[str, str]  # signature -> 4-byte selector in hex
    deploy_gas: int


@dataclass(frozen=True)
class CallResult:
    success: bool  # False: the call reverted or ran out of gas
    return_data: bytes
    gas: int  # execution gas (without the transaction's 21000 and calldata bytes)
    error: str | None

    @property
    def returned_true(self) -> bool:
        return self.success and self.return_data == (1).to_bytes(32, "big")

    @property
    def returned_false(self) -> bool:
        return self.success and self.return_data == bytes(32)


class Evm:
    """One Node.js process: compile Solidity, deploy it, call it."""

    def __init__(self, root: Path):
        self._process = subprocess.Popen(
            ["node", str(root / "evm_server.mjs")],
            cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(json.dumps(request) + "\n")
        self._process.stdin.flush()
        line = self._process.stdout.readline()
        if not line:
            raise EvmError(f"the EVM server stopped (exit {self._process.poll()})")
        answer = json.loads(line)
        if not answer.get("ok"):
            raise EvmError(answer.get("error", "unknown error"))
        return answer

    def compile(self, source: str, contract: str) -> tuple[str, dict[str, str]]:
        answer = self._ask({"op": "compile", "source": source, "contract": contract})
        return answer["bytecode"], answer["selectors"]

    def deploy_source(self, source: str, contract: str) -> Contract:
        bytecode, selectors = self.compile(source, contract)
        answer = self._ask({"op": "deploy", "bytecode": bytecode})
        return Contract(answer["address"], selectors, answer["gas"])

    def call(self, contract: Contract, signature: str, words: list[int]) -> CallResult:
        """Call a function whose arguments are all static 256-bit words (ABI: one word each)."""
        data = bytes.fromhex(contract.selectors[signature]) + b"".join(w.to_bytes(32, "big") for w in words)
        answer = self._ask({"op": "call", "address": contract.address, "data": "0x" + data.hex()})
        return CallResult(answer["success"], bytes.fromhex(answer["returnData"][2:]), answer["gas"], answer["error"])

    def close(self) -> None:
        if self._process.stdin:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
