"""Groth16 data structures; the name of each field says which group its points live in."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from zkmargin.backends.base import Backend
from zkmargin.curves import Curve

G1 = Any  # backend point objects
G2 = Any


@dataclass(frozen=True)
class Proof:
    curve: Curve
    a_g1: G1
    b_g2: G2
    c_g1: G1


@dataclass(frozen=True)
class VerifyingKey:
    curve: Curve
    alpha_g1: G1
    beta_g2: G2
    gamma_g2: G2
    delta_g2: G2
    gamma_abc_g1: list[G1]  # IC: one point for the constant, then one per public input

    @property
    def num_public(self) -> int:
        return len(self.gamma_abc_g1) - 1


@dataclass(frozen=True, eq=False)
class PreparedVerifyingKey:
    """A verifying key readied for one backend (arkworks' ``PreparedVerifyingKey``): e(alpha, beta)
    computed once, gamma and delta negated once. A verification then takes three Miller loops
    and one final exponentiation instead of four; ``zkmargin.groth16.prepare_verifying_key``
    makes one."""

    vk: VerifyingKey
    backend: Backend  # whose G_T holds alpha_beta
    alpha_beta: Any  # e(alpha, beta) in the backend's G_T
    neg_gamma_g2: G2
    neg_delta_g2: G2

    @property
    def curve(self) -> Curve:
        return self.vk.curve

    @property
    def num_public(self) -> int:
        return self.vk.num_public


@dataclass
class ProvingKey:
    """Everything the prover needs; the QAP shape is recomputed from the circuit."""

    curve: Curve
    circuit_id: str  # digest of the constraint system this key was made for
    num_public: int
    num_variables: int  # including the constant one
    domain_size: int
    vk: VerifyingKey
    beta_g1: G1
    delta_g1: G1
    a_query_g1: list[G1]  # [A_i(tau)] for every variable
    b_query_g1: list[G1]  # [B_i(tau)]
    b_query_g2: list[G2]
    l_query_g1: list[G1]  # [(beta A_i + alpha B_i + C_i)(tau) / delta] for private i
    h_query_g1: list[G1]  # [tau^i Z(tau) / delta] for i < domain_size - 1
    metadata: dict[str, Any] = field(default_factory=dict)
