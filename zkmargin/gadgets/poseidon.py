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
from zkmargin.poseidon.permutation import MAX_HASH_INPUTS, get_permutation
from zkmargin.poseidon.sponge import SPONGE_RATE, blocks, initial_capacity


def poseidon_permutation_gadget(cs: ConstraintSystem, state: Sequence[LCLike]) -> list[LC]:
    """The permuted state, as linear combinations; width = len(state), 2..17.

    Follows the sparse schedule of :class:`~zkmargin.poseidon.permutation.Permutation`: the same
    S-box inputs and outputs as the round-by-round definition (so the same 3 constraints per
    S-box), but a partial round's linear layer touches element 0's combination and adds one term
    to each other element, instead of multiplying every combination by the full MDS matrix.
    In proving mode the values are carried alongside as integers, so assigning an S-box never
    re-evaluates a long linear combination.
    """
    schedule = get_permutation(cs.curve, len(state)).schedule()
    r = cs.r
    lcs = [LC.of(x) + c for x, c in zip(state, schedule.initial)]
    values = [cs.value(x) for x in lcs] if cs.has_witness else None
    with cs.namespace(f"poseidon t={len(state)}"):
        round_index = 0
        for constants in schedule.head:
            with cs.namespace(f"full round {round_index}"):
                lcs, values = _full_round(cs, lcs, values, schedule.mds, constants)
            round_index += 1
        for first_row, column, constant in schedule.partial:
            with cs.namespace(f"partial round {round_index}"):
                x0, v0 = _fifth_power(cs, lcs[0], 0, values[0] if values is not None else None)
                lcs = [_dot(first_row, [x0, *lcs[1:]], r) + constant,
                       *[x + x0 * u for x, u in zip(lcs[1:], column)]]
                if values is not None:
                    assert v0 is not None  # computed from values[0]
                    state_values = [v0, *values[1:]]
                    values = [(sum(m * v for m, v in zip(first_row, state_values)) + constant) % r,
                              *[(v + u * v0) % r for v, u in zip(values[1:], column)]]
            round_index += 1
        head, rest = lcs[0], lcs[1:]
        lcs = [head + schedule.bridge_constants[0],
               *[_dot(row, rest, r) + c for row, c in zip(schedule.bridge, schedule.bridge_constants[1:])]]
        if values is not None:
            values = [(values[0] + schedule.bridge_constants[0]) % r,
                      *[(sum(m * v for m, v in zip(row, values[1:])) + c) % r
                        for row, c in zip(schedule.bridge, schedule.bridge_constants[1:])]]
        for constants in schedule.tail:
            with cs.namespace(f"full round {round_index}"):
                lcs, values = _full_round(cs, lcs, values, schedule.mds, constants)
            round_index += 1
    return lcs


def _full_round(
    cs: ConstraintSystem, lcs: list[LC], values: list[int] | None, mds: list[list[int]], constants: list[int]
) -> tuple[list[LC], list[int] | None]:
    """S-box on every element, then the MDS matrix and the next round's constants."""
    r = cs.r
    boxed = [_fifth_power(cs, x, i, values[i] if values is not None else None) for i, x in enumerate(lcs)]
    outs = [x for x, _ in boxed]
    new_lcs = [_dot(row, outs, r) + c for row, c in zip(mds, constants)]
    if values is None:
        return new_lcs, None
    boxed_values = [v for _, v in boxed if v is not None]  # all computed: values were given
    new_values = [(sum(m * v for v, m in zip(boxed_values, row)) + c) % r for row, c in zip(mds, constants)]
    return new_lcs, new_values


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
        for index, block in enumerate(blocks([LC.of(x) for x in inputs])):
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


def _dot(row: Sequence[int], lcs: Sequence[LC], r: int) -> LC:
    """sum row[i] * lcs[i], coefficients reduced mod r and zero terms dropped."""
    terms: dict[int, int] = {}
    for m, lc in zip(row, lcs):
        for var, c in lc.terms.items():
            terms[var] = terms.get(var, 0) + m * c
    return LC({var: c % r for var, c in terms.items() if c % r})


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
