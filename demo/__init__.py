"""``zkmargin demo``: one epoch of private margin trading, end to end, on embedded defaults.

It drives both applications (the verifier service and the trader's library), so it lives above
them both: nothing in ``prover/``, ``verifier/``, ``circuits/`` or ``zkmargin/`` imports it.
"""
