"""Single-party Groth16 setup.

The trapdoor (tau, alpha, beta, gamma, delta) is drawn from the OS CSPRNG, lives only in this
function's local variables and is never written, logged or returned. A single-party setup means
whoever ran it could forge proofs: fine for development and for an operator proving to itself,
not for adversarial deployments (those need a multi-party ceremony).
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable

from zkmargin.backends import Backend, get_backend
from zkmargin.groth16.keys import ProvingKey, VerifyingKey
from zkmargin.groth16.qap import QAPShape, variable_polynomials_at
from zkmargin.polynomials import EvaluationDomain

Progress = Callable[[str], None]


def _nonzero(rng: random.Random | secrets.SystemRandom, r: int) -> int:
    return rng.randrange(1, r)


def setup(
    shape: QAPShape,
    backend: Backend | None = None,
    *,
    insecure_test_seed: int | None = None,
    progress: Progress | None = None,
) -> ProvingKey:
    """Generate a proving key (which contains the verifying key) for a circuit shape.

    ``insecure_test_seed`` makes the trapdoor reproducible and therefore public: tests only.
    """
    backend = backend or get_backend(shape.curve_name)
    curve = backend.curve
    r = curve.r
    rng: random.Random | secrets.SystemRandom = (
        random.Random(insecure_test_seed) if insecure_test_seed is not None else secrets.SystemRandom()
    )
    say = progress or (lambda _phase: None)
    domain = EvaluationDomain(shape.domain_size, curve)

    tau = _nonzero(rng, r)
    while domain.evaluate_vanishing(tau) == 0:  # tau must lie outside the domain
        tau = _nonzero(rng, r)
    alpha, beta, gamma, delta = (_nonzero(rng, r) for _ in range(4))
    gamma_inv, delta_inv = pow(gamma, -1, r), pow(delta, -1, r)

    say("lagrange basis")
    lagrange = domain.lagrange_coefficients_at(tau)
    a_at, b_at, c_at = variable_polynomials_at(shape, lagrange, r)
    public_count = shape.num_public + 1
    combined = [(beta * a_at[i] + alpha * b_at[i] + c_at[i]) % r for i in range(shape.num_variables)]
    ic_scalars = [v * gamma_inv % r for v in combined[:public_count]]
    l_scalars = [v * delta_inv % r for v in combined[public_count:]]
    z_over_delta = domain.evaluate_vanishing(tau) * delta_inv % r
    h_scalars = []
    power = z_over_delta
    for _ in range(shape.domain_size - 1):
        h_scalars.append(power)
        power = power * tau % r

    g1, g2 = backend.g1_generator(), backend.g2_generator()
    say("G1 queries")
    a_query = backend.g1_batch_mul(g1, a_at)
    b_query_g1 = backend.g1_batch_mul(g1, b_at)
    ic = backend.g1_batch_mul(g1, ic_scalars)
    l_query = backend.g1_batch_mul(g1, l_scalars)
    h_query = backend.g1_batch_mul(g1, h_scalars)
    say("G2 queries")
    b_query_g2 = backend.g2_batch_mul(g2, b_at)
    alpha_g1, beta_g1, delta_g1 = backend.g1_batch_mul(g1, [alpha, beta, delta])
    beta_g2, gamma_g2, delta_g2 = backend.g2_batch_mul(g2, [beta, gamma, delta])
    del tau, alpha, beta, gamma, delta, gamma_inv, delta_inv, power, z_over_delta

    vk = VerifyingKey(curve, alpha_g1, beta_g2, gamma_g2, delta_g2, ic)
    return ProvingKey(
        curve=curve,
        circuit_id=shape.digest(),
        num_public=shape.num_public,
        num_variables=shape.num_variables,
        domain_size=shape.domain_size,
        vk=vk,
        beta_g1=beta_g1,
        delta_g1=delta_g1,
        a_query_g1=a_query,
        b_query_g1=b_query_g1,
        b_query_g2=b_query_g2,
        l_query_g1=l_query,
        h_query_g1=h_query,
        metadata={"insecure_test_seed": insecure_test_seed is not None},
    )
