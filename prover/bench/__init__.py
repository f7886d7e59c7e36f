"""Proof benchmarks: ``zkmargin bench prove``, ``verify`` and ``report``.

- ``proof_timings``: median prove and verify times, with the prover's phases broken out;
- ``snarkjs_comparison``: snarkjs timed on the same chain circuit, for a ratio that holds across machines;
- ``report``: the whole matrix as JSON, a markdown table and plots;
- ``cli``: the ``bench`` commands.
"""
