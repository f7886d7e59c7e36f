"""The guardian's application: ``zkmargin guardian ...``, one guardian of the liquidation key.

A guardian holds one share of the t-of-n key the escrows of every transition are sealed to
(docs/protocol.md, "Threshold guardians"). This package runs its side of the key ceremony as
files an operator carries between guardians over any channel (a shared folder, email), and
keeps its long-term keys and its share sealed at rest:

- :mod:`guardian.keyfile` — the guardian file (a sealed JSON file, 0600, optional passphrase);
- :mod:`guardian.messages` — the public card, the signed public messages and their file names;
- :mod:`guardian.ceremony` — the steps: init, deal, check, answer, finish;
- :mod:`guardian.cli` — the commands, mounted on ``zkmargin`` through the entry point
  ``zkmargin.commands:guardian``.

It imports the core (``zkmargin``) and the protocol layer (``circuits.protocol``), never the
trader's CLI (``prover``) nor the service (``verifier``).
"""
