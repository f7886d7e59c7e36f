"""``zkmargin demo``: two epochs of private margin trading and a liquidation, end to end, on
embedded defaults.

It drives the applications (the verifier service, the trader's library, the guardians), so it
lives above them all: nothing in ``prover/``, ``verifier/``, ``guardian/``, ``circuits/`` or
``zkmargin/`` imports it.
"""
