"""galois is for the offline Poseidon parameter tool and the tests: the CLI and the service never import it.

(Importing galois costs about a second, and a GF(r) built without its generator minutes.)
"""

import subprocess
import sys

CODE = """
import sys
import prover.cli, verifier.main
from zkmargin.poseidon import poseidon_hash
poseidon_hash([1, 2], "bn128")
loaded = sorted(name for name in sys.modules if name.split(".")[0] in ("galois", "numba"))
sys.exit(f"imported: {loaded}" if loaded else 0)
"""


def test_cli_service_and_poseidon_do_not_import_galois():
    done = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
