"""Parameter generation: the Grain stream, round numbers, MDS checks, and the shipped files."""

from __future__ import annotations

import subprocess
import sys

import pytest

from zkmargin.curves import BLS12_381, BN254
from zkmargin.errors import MalformedInputError
from zkmargin.poseidon import mds
from zkmargin.poseidon.grain import GrainBits, lfsr_sequence, seed_bits
from zkmargin.poseidon.params import WIDTHS, generate_params, load_params, to_json
from zkmargin.poseidon.rounds import round_numbers

CIRCOMLIB_PARTIAL_ROUNDS = [56, 57, 56, 60, 60, 63, 64, 63, 60, 66, 60, 65, 70, 60, 64, 68]


def _lfsr_one_bit_at_a_time(seed: list[int], count: int) -> list[int]:
    """The reference's recurrence, one bit per step."""
    x = list(seed)
    while len(x) < count:
        k = len(x) - 80
        x.append(x[k + 62] ^ x[k + 51] ^ x[k + 38] ^ x[k + 23] ^ x[k + 13] ^ x[k])
    return x


def _reference_stream(seed: list[int], num_bits: int) -> str:
    """The reference generator: 160 warm-up clocks, then pairs (a, b) emitting b when a = 1."""
    raw = _lfsr_one_bit_at_a_time(seed, 80 + 160 + 8 * num_bits)[240:]
    out = [str(b) for a, b in zip(raw[0::2], raw[1::2]) if a == 1]
    return "".join(out[:num_bits])


def test_seed_bits_layout():
    bits = seed_bits(1, 0, 255, 3, 8, 57)
    fields = ("01", "0000", format(255, "012b"), format(3, "012b"), format(8, "010b"), format(57, "010b"))
    assert "".join(map(str, bits)) == "".join(fields) + "1" * 30


def test_seed_rejects_oversized_fields():
    with pytest.raises(ValueError):
        seed_bits(1, 0, 4096, 3, 8, 57)


def test_block_recurrence_matches_one_bit_at_a_time():
    seed = seed_bits(1, 0, 254, 5, 8, 60)
    count = 400_000  # long enough for the largest block scale
    assert lfsr_sequence(seed, count).tolist() == _lfsr_one_bit_at_a_time(seed, count)


def test_self_shrinking_stream_matches_the_reference_generator():
    seed = seed_bits(1, 0, 255, 3, 8, 57)
    stream = GrainBits(seed)
    reads = [stream.read(n) for n in (255, 1, 7, 255, 3000)]
    expected = _reference_stream(seed, sum((255, 1, 7, 255, 3000)))
    assert "".join(format(v, f"0{n}b") for v, n in zip(reads, (255, 1, 7, 255, 3000))) == expected


def test_round_numbers_are_circomlibs(curve):
    assert [round_numbers(curve.r, t) for t in WIDTHS] == [(8, rp) for rp in CIRCOMLIB_PARTIAL_ROUNDS]


def test_mds_checks_accept_the_shipped_matrices():
    for curve in (BN254, BLS12_381):
        for t in (2, 3, 5, 9):
            assert mds.is_secure([list(row) for row in load_params(curve, t).mds], curve.r)


@pytest.mark.parametrize(
    "matrix",
    [
        [[5, 0, 0], [0, 5, 0], [0, 0, 5]],  # scalar: every subspace is invariant
        [[1, 0], [1, 1]],  # eigenvector e_1 never meets the S-box (check 1 only)
        [[2, 1], [0, 3]],  # e_0 is an eigenvector of every power (checks 2 and 3)
        [[0, 1], [1, 0]],  # M^2 = I: e_0 is not cyclic for M^2 (check 3 only)
    ],
    ids=["scalar", "rational-eigenvector-in-S", "e0-not-cyclic", "involution"],
)
def test_mds_checks_reject_matrices_with_invariant_trails(matrix):
    assert not mds.is_secure(matrix, BN254.r)


def test_shipped_instances_are_well_formed(curve):
    for t in WIDTHS:
        params = load_params(curve, t)
        assert (params.t, params.r, params.full_rounds) == (t, curve.r, 8)
        assert len(params.round_constants) == params.rounds
        assert all(len(row) == t and all(0 <= c < curve.r for c in row) for row in params.round_constants)
        inverse = [[pow(m, -1, curve.r) for m in row] for row in params.mds]
        # Cauchy: 1/M[i][j] = x_i + y_j, so 1/M[i][j] - 1/M[i][0] - 1/M[0][j] + 1/M[0][0] = 0
        assert all(
            (inverse[i][j] - inverse[i][0] - inverse[0][j] + inverse[0][0]) % curve.r == 0
            for i in range(t)
            for j in range(t)
        )


def test_loading_is_cached_and_checks_the_width():
    assert load_params("bls12-381", 3) is load_params(BLS12_381, 3)
    for t in (0, 1, 18):
        with pytest.raises(MalformedInputError):
            load_params(BN254, t)


def test_importing_generates_nothing():
    code = "import sys, zkmargin.poseidon; sys.exit('zkmargin.poseidon.grain' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


@pytest.mark.parametrize(("curve", "t"), [(BLS12_381, 3), (BLS12_381, 5), (BN254, 3)], ids=str)
def test_regeneration_matches_the_shipped_instance(curve, t):
    assert to_json(generate_params(curve, t)) == to_json(load_params(curve, t))


@pytest.mark.slow
def test_regeneration_matches_every_shipped_circomlib_instance():
    for t in WIDTHS:
        assert to_json(generate_params(BN254, t)) == to_json(load_params(BN254, t)), f"t={t}"
