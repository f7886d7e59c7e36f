"""Poseidon in circuit: the permutation, circomlib's hash and the domain-separated sponge.

The same functions as :mod:`zkmargin.poseidon`, on linear combinations. Only S-boxes cost
constraints: x^5 is three products (x2 = x*x, x4 = x2*x2, x5 = x4*x), applied to every
element in the R_F full rounds and to element 0 in the R_P partial rounds, so a permutation
of width t costs 3 * (t * R_F + R_P) constraints (243 for t = 3, 300 for t = 5). Round
constants and the MDS matrix fold into the linear combinations for free.

The hash and the sponge materialize their digest as one variable (one more constraint) and
declare that it determines their private inputs: the circuit audit cannot see collision
resistance in the constraints, and a public digest does pin a hidden preimage.
"""

from __future__ import annotations

from collections.abc import Sequence

from zkmargin.constraints import LC, ConstraintSystem, LCLike
from zkmargin.errors import MalformedInputError
from zkmargin.poseidon.params import PoseidonParams, load_params
from zkmargin.poseidon.permutation import MAX_HASH_INPUTS
from zkmargin.poseidon.sponge import SPONGE_RATE, blocks, initial_capacity


def poseidon_permutation_gadget(cs: ConstraintSystem, state: Sequence[LCLike]) -> list[LC]:
    """The permuted state, as linear combinations; width = len(state), 2..17.

    In proving mode the state's values are carried alongside as plain integers, so assigning an
    S-box never re-evaluates the (up to ~60-term) linear combinations the folded layers build.
    """
    params = load_params(cs.curve, len(state))
    lcs = [LC.of(x) for x in state]
    values = [cs.value(x) for x in lcs] if cs.has_witness else None
    with cs.namespace(f"poseidon t={params.t}"):
        for k in range(params.rounds):
            full = params.is_full_round(k)
            with cs.namespace(f"{'full' if full else 'partial'} round {k}"):
                lcs = [x + c for x, c in zip(lcs, params.round_constants[k])]
                if values is not None:
                    values = [(v + c) % params.r for v, c in zip(values, params.round_constants[k])]
                for i in range(params.t) if full else (0,):
                    lcs[i], value = _fifth_power(cs, lcs[i], i, values[i] if values is not None else None)
                    if values is not None:
                        values[i] = value
                lcs = _mix(params, lcs)
                if values is not None:
                    values = [sum(m * v for m, v in zip(row, values)) % params.r for row in params.mds]
    return lcs


def poseidon_hash_gadget(cs: ConstraintSystem, inputs: Sequence[LCLike]) -> LC:
    """circomlib's Poseidon(n), n = 1..16: element 0 of the permuted [0, *inputs]."""
    if not 1 <= len(inputs) <= MAX_HASH_INPUTS:
        raise MalformedInputError(f"Poseidon hashes 1..{MAX_HASH_INPUTS} inputs, got {len(inputs)}")
    with cs.namespace("poseidon hash"):
        out = poseidon_permutation_gadget(cs, [0, *inputs])[0]
        return _bind_digest(cs, out, inputs)


def poseidon_sponge_gadget(cs: ConstraintSystem, inputs: Sequence[LCLike], domain: str) -> LC:
    """The sponge of :mod:`zkmargin.poseidon.sponge`: same domain, same inputs, same digest."""
    state = [LC.of(initial_capacity(domain, len(inputs)))] + [LC()] * SPONGE_RATE
    with cs.namespace(f"poseidon sponge {domain}"):
        for index, block in enumerate(blocks(list(inputs))):
            with cs.namespace(f"block {index}"):
                absorbed = [state[0], *[s + v for s, v in zip(state[1:], block)]]
                state = poseidon_permutation_gadget(cs, absorbed)
        return _bind_digest(cs, state[1], inputs)


def _fifth_power(cs: ConstraintSystem, x: LC, index: int, value: int | None) -> tuple[LC, int | None]:
    """x^5 in three constraints; ``value`` is x's value in proving mode (None during setup)."""
    r = cs.r
    v2 = v4 = v5 = None
    if value is not None:
        v2 = value * value % r
        v4 = v2 * v2 % r
        v5 = v4 * value % r
    x2 = cs.private(f"x^2 [{index}]", v2)
    cs.enforce(x, x, x2, f"x^2 [{index}]")
    x4 = cs.private(f"x^4 [{index}]", v4)
    cs.enforce(x2, x2, x4, f"x^4 [{index}]")
    x5 = cs.private(f"x^5 [{index}]", v5)
    cs.enforce(x4, x, x5, f"x^5 [{index}]")
    return x5, v5


def _mix(params: PoseidonParams, lcs: list[LC]) -> list[LC]:
    """MDS times the state, with coefficients reduced mod r and zero terms dropped."""
    r = params.r
    out = []
    for row in params.mds:
        terms: dict[int, int] = {}
        for m, lc in zip(row, lcs):
            for var, c in lc.terms.items():
                terms[var] = terms.get(var, 0) + m * c
        out.append(LC({var: c % r for var, c in terms.items() if c % r}))
    return out


def _bind_digest(cs: ConstraintSystem, out: LC, inputs: Sequence[LCLike]) -> LC:
    """One variable equal to ``out``; it determines the inputs that are private variables."""
    digest = cs.private("digest", lambda: cs.value(out))
    cs.enforce_equal(out, digest, "digest")
    cs.declare_determined(
        targets=[x for x in map(LC.of, inputs) if _is_private_variable(cs, x)],
        sources=[digest],
        reason="poseidon preimage is bound by its digest (collision resistance)",
    )
    return digest


def _is_private_variable(cs: ConstraintSystem, x: LC) -> bool:
    var = x.single_variable()
    return var is not None and cs.index_of(var) > cs.num_public
