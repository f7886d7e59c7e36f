"""Threshold guardians of the liquidation key: DKG, DLEQ proofs, threshold decryption.

- :mod:`~zkmargin.threshold.dkg` — Joint-Feldman key generation with complaints, as data rounds;
- :mod:`~zkmargin.threshold.transport` — sealing sub-shares between guardians;
- :mod:`~zkmargin.threshold.dleq` — Chaum–Pedersen and Schnorr proofs (Fiat–Shamir);
- :mod:`~zkmargin.threshold.decryption` — decryption shares and the combiner;
- :mod:`~zkmargin.threshold.guardians` — the public guardian set and a guardian's share document.

All on the embedded Edwards curves of :mod:`zkmargin.edwards` (Baby Jubjub, Jubjub).
"""

from zkmargin.threshold.decryption import (
    Combination,
    DecryptionShare,
    combine_decryption_shares,
    decryption_share,
    verify_decryption_share,
)
from zkmargin.threshold.dkg import (
    Complaint,
    ComplaintAnswer,
    DealerBroadcast,
    Dealing,
    DkgParameters,
    DkgTranscript,
    SubShare,
    answer_complaints,
    check_dealings,
    conclude,
    deal,
    guardian_share,
)
from zkmargin.threshold.dleq import DleqProof, prove_dleq, verify_dleq
from zkmargin.threshold.errors import (
    DkgFailedError,
    InconsistentShareError,
    NotEnoughSharesError,
    ThresholdError,
)
from zkmargin.threshold.guardians import GuardianSet, GuardianShare

__all__ = [
    "Combination",
    "Complaint",
    "ComplaintAnswer",
    "DealerBroadcast",
    "Dealing",
    "DecryptionShare",
    "DkgFailedError",
    "DkgParameters",
    "DkgTranscript",
    "DleqProof",
    "GuardianSet",
    "GuardianShare",
    "InconsistentShareError",
    "NotEnoughSharesError",
    "SubShare",
    "ThresholdError",
    "answer_complaints",
    "check_dealings",
    "combine_decryption_shares",
    "conclude",
    "deal",
    "decryption_share",
    "guardian_share",
    "prove_dleq",
    "verify_decryption_share",
    "verify_dleq",
]
