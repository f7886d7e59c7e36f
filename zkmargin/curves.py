"""The two pairing-friendly curves zkmargin supports and their names.

BLS12-381 (about 128-bit security) is the default; BN254 (``bn128`` in snarkjs, the
curve of Ethereum's pairing precompiles) is supported for interoperability.
"""

from __future__ import annotations

from dataclasses import dataclass

from zkmargin.errors import UnknownCurveError


@dataclass(frozen=True)
class Curve:
    name: str  # canonical name, as snarkjs writes it in its JSON files
    p: int  # base field modulus
    r: int  # scalar field modulus (order of G1, G2)
    two_adicity: int  # largest s with 2^s | r - 1
    multiplicative_generator: int  # generator of the multiplicative group of F_r
    g1_b: int  # G1: y^2 = x^3 + b
    g2_b: tuple[int, int]  # G2: y^2 = x^3 + b' over F_p2 = F_p[u]/(u^2 + 1)
    g1_generator: tuple[int, int]
    g2_generator: tuple[tuple[int, int], tuple[int, int]]

    @property
    def scalar_bytes(self) -> int:
        return (self.r.bit_length() + 7) // 8

    @property
    def base_bytes(self) -> int:
        return (self.p.bit_length() + 7) // 8

    def __str__(self) -> str:
        return self.name


BLS12_381 = Curve(
    name="bls12381",
    p=0x1A0111EA397FE69A4B1BA7B6434BACD764774B84F38512BF6730D2A0F6B0F6241EABFFFEB153FFFFB9FEFFFFFFFFAAAB,
    r=0x73EDA753299D7D483339D80809A1D80553BDA402FFFE5BFEFFFFFFFF00000001,
    two_adicity=32,
    multiplicative_generator=7,
    g1_b=4,
    g2_b=(4, 4),
    g1_generator=(
        0x17F1D3A73197D7942695638C4FA9AC0FC3688C4F9774B905A14E3A3F171BAC586C55E83FF97A1AEFFB3AF00ADB22C6BB,
        0x08B3F481E3AAA0F1A09E30ED741D8AE4FCF5E095D5D00AF600DB18CB2C04B3EDD03CC744A2888AE40CAA232946C5E7E1,
    ),
    g2_generator=(
        (
            0x024AA2B2F08F0A91260805272DC51051C6E47AD4FA403B02B4510B647AE3D1770BAC0326A805BBEFD48056C8C121BDB8,
            0x13E02B6052719F607DACD3A088274F65596BD0D09920B61AB5DA61BBDC7F5049334CF11213945D57E5AC7D055D042B7E,
        ),
        (
            0x0CE5D527727D6E118CC9CDC6DA2E351AADFD9BAA8CBDD3A76D429A695160D12C923AC9CC3BACA289E193548608B82801,
            0x0606C4A02EA734CC32ACD2B02BC28B99CB3E287E85A763AF267492AB572E99AB3F370D275CEC1DA1AAA9075FF05F79BE,
        ),
    ),
)

BN254 = Curve(
    name="bn128",
    p=21888242871839275222246405745257275088696311157297823662689037894645226208583,
    r=21888242871839275222246405745257275088548364400416034343698204186575808495617,
    two_adicity=28,
    multiplicative_generator=5,
    g1_b=3,
    # b' = 3 / (9 + u)
    g2_b=(
        19485874751759354771024239261021720505790618469301721065564631296452457478373,
        266929791119991161246907387137283842545076965332900288569378510910307636690,
    ),
    g1_generator=(1, 2),
    g2_generator=(
        (
            10857046999023057135944570762232829481370756359578518086990519993285655852781,
            11559732032986387107991004021392285783925812861821192530917403151452391805634,
        ),
        (
            8495653923123431417604973247489272438418190587263600148770280649306958101930,
            4082367875863433681332203403145435568316851327593401208105741076214120093531,
        ),
    ),
)

_ALIASES = {
    "bls12381": BLS12_381,
    "bls12-381": BLS12_381,
    "bls12_381": BLS12_381,
    "bn128": BN254,
    "bn254": BN254,
    "alt_bn128": BN254,
}

DEFAULT_CURVE = BLS12_381
CURVE_NAMES = ("bls12381", "bls12-381", "bn128", "bn254")


def get_curve(curve: str | Curve | None = None) -> Curve:
    """Resolve a curve name (``bls12381``/``bls12-381``, ``bn128``/``bn254``) or pass a Curve through."""
    if curve is None:
        return DEFAULT_CURVE
    if isinstance(curve, Curve):
        return curve
    found = _ALIASES.get(str(curve).strip().lower())
    if found is None:
        raise UnknownCurveError(
            f"unknown curve {curve!r}: use one of bls12381 (bls12-381) or bn128 (bn254)"
        )
    return found
