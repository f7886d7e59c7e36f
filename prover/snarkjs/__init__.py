"""Run the real snarkjs and circom (pinned in package-lock.json beside this file).

Used by the interoperability tests (snarkjs must verify our proofs, we must verify theirs) and by
``zkmargin bench prove --compare-snarkjs`` (the same chain circuit proved by both, in one run).

snarkjs is installed once with ``npm ci`` into a cache directory keyed by the lock file's hash,
``$ZKMARGIN_CACHE_DIR`` or ``~/.cache/zkmargin`` / ``snarkjs-<sha256[:16]>/``, and reused by
later runs. A missing ``node``/``npm`` is a reason to skip; a failing ``npm ci`` is an error.

``snarkjs groth16 verify`` exits 0 after logging "OK!", and 1 for everything else: an invalid
proof ("Invalid proof"), a public value not below r ("Public inputs are not valid."), a proof
point off the curve ("Proof commitments are not valid."), but also a missing file or broken
JSON (an uncaught exception, logged with a stack trace). ``SnarkjsRunner.verify`` tells these
apart by the logged message: a verdict is True/False, anything else raises SnarkjsError.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
PACKAGE_JSON = HERE / "package.json"
PACKAGE_LOCK = HERE / "package-lock.json"
SNARKJS_VERSION = "0.7.6"
CIRCOM_PACKAGE = "circom2 0.2.23 (circom 2.2.3 compiled to WebAssembly)"

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# what snarkjs's groth16 verifier logs for a well-formed "no" (snarkjs/src/groth16_verify.js)
_REJECTIONS = ("Invalid proof", "Public inputs are not valid.", "Proof commitments are not valid.")


class SnarkjsError(RuntimeError):
    """snarkjs could not be installed or did not give a verdict."""


def missing_tools() -> list[str]:
    return [tool for tool in ("node", "npm") if shutil.which(tool) is None]


def cache_root() -> Path:
    base = os.environ.get("ZKMARGIN_CACHE_DIR")
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "zkmargin"


def lock_digest() -> str:
    h = hashlib.sha256()
    h.update(PACKAGE_JSON.read_bytes())
    h.update(b"\0")
    h.update(PACKAGE_LOCK.read_bytes())
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class VerifyResult:
    valid: bool
    returncode: int
    output: str  # stdout + stderr, colour codes removed


@dataclass(frozen=True)
class SnarkjsRunner:
    root: Path  # the directory holding node_modules/

    @property
    def cli(self) -> Path:
        # the "bin" entry of snarkjs's package.json (cli.js next to it is the ES-module source)
        return self.root / "node_modules" / "snarkjs" / "build" / "cli.cjs"

    def run(self, *args: str | os.PathLike[str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["node", str(self.cli), *map(str, args)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "0"},
        )

    def groth16_verify(
        self,
        vk_path: str | os.PathLike[str],
        public_path: str | os.PathLike[str],
        proof_path: str | os.PathLike[str],
    ) -> VerifyResult:
        done = self.run("groth16", "verify", vk_path, public_path, proof_path)
        output = _ANSI.sub("", done.stdout + done.stderr)
        if done.returncode == 0 and "OK!" in output:
            return VerifyResult(True, 0, output)
        if done.returncode == 1 and "Error:" not in output and any(m in output for m in _REJECTIONS):
            return VerifyResult(False, 1, output)
        raise SnarkjsError(
            f"snarkjs groth16 verify gave no verdict (exit {done.returncode}):\n{output.strip()}"
        )

    def verify(
        self,
        vk_path: str | os.PathLike[str],
        public_path: str | os.PathLike[str],
        proof_path: str | os.PathLike[str],
    ) -> bool:
        return self.groth16_verify(vk_path, public_path, proof_path).valid

    @property
    def circom(self) -> Path:
        return self.root / "node_modules" / "circom2" / "cli.js"

    def check(self, *args: str | os.PathLike[str], timeout: float = 7200, what: str = "snarkjs") -> str:
        """Run a snarkjs command that must succeed; its output on failure."""
        done = self.run(*args, timeout=timeout)
        if done.returncode != 0:
            raise SnarkjsError(f"{what} failed (exit {done.returncode}):\n{_ANSI.sub('', done.stdout + done.stderr)}")
        return done.stdout

    def compile_circom(self, source: Path, out_dir: Path, prime: str) -> None:
        done = subprocess.run(
            ["node", str(self.circom), str(source), "--r1cs", "--wasm", "-p", prime, "-o", str(out_dir)],
            capture_output=True, text=True, timeout=1800,
        )
        if done.returncode != 0:
            raise SnarkjsError(f"circom failed on {source}:\n{_ANSI.sub('', done.stdout + done.stderr)}")

    def time_prove(self, zkey: Path, witness: Path, repeat: int) -> list[float]:
        """Seconds per ``groth16.prove`` call, in one Node.js process (no CLI start-up counted)."""
        script = (
            f"const snarkjs = require({json.dumps(str(self.root / 'node_modules' / 'snarkjs'))});\n"
            "(async () => {\n"
            "  const times = [];\n"
            f"  for (let i = 0; i < {int(repeat)}; i++) {{\n"
            "    const start = process.hrtime.bigint();\n"
            f"    await snarkjs.groth16.prove({json.dumps(str(zkey))}, {json.dumps(str(witness))});\n"
            "    times.push(Number(process.hrtime.bigint() - start) / 1e9);\n"
            "  }\n"
            "  console.log(JSON.stringify(times));\n"
            "  process.exit(0);\n"
            "})().catch((e) => { console.error(e); process.exit(1); });\n"
        )
        done = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=7200)
        if done.returncode != 0:
            raise SnarkjsError(f"snarkjs groth16.prove failed:\n{done.stderr.strip()}")
        return [float(t) for t in json.loads(done.stdout.strip().splitlines()[-1])]


def install_snarkjs(root: Path | None = None) -> SnarkjsRunner:
    """snarkjs from the lock file, installed with ``npm ci`` unless the cache already has it."""
    missing = missing_tools()
    if missing:
        raise SnarkjsError(f"{' and '.join(missing)} not on PATH")
    root = root or cache_root() / f"snarkjs-{lock_digest()}"
    runner = SnarkjsRunner(root)
    marker = root / ".installed"
    if marker.exists() and runner.cli.exists():
        return runner
    root.parent.mkdir(parents=True, exist_ok=True)
    # install into a fresh sibling directory, then rename: a concurrent or interrupted run never
    # leaves a half-installed cache behind
    staging = Path(tempfile.mkdtemp(dir=root.parent, prefix=f".{root.name}."))
    try:
        shutil.copy2(PACKAGE_JSON, staging / "package.json")
        shutil.copy2(PACKAGE_LOCK, staging / "package-lock.json")
        done = subprocess.run(
            ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=staging,
            capture_output=True,
            text=True,
            timeout=900,
        )
        if done.returncode != 0:
            raise SnarkjsError(
                f"npm ci of {PACKAGE_LOCK} into {root} failed (exit {done.returncode}):\n"
                f"{(done.stdout + done.stderr).strip()}"
            )
        (staging / ".installed").write_text(SNARKJS_VERSION + "\n")
        try:
            staging.rename(root)
        except OSError:
            if not (marker.exists() and runner.cli.exists()):  # not a lost race with another run
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    if not runner.cli.exists():
        raise SnarkjsError(f"npm ci succeeded but {runner.cli} is missing")
    return runner
