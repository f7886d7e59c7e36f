"""Soundness tests of the margin statements: valid witnesses pass, cheating ones fail."""
