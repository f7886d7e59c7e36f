"""The trader CLI's tests run against a real service process: reuse the verifier tests' fixtures
(databases, keys made once per session, oracles, ``start_server``)."""

from tests.verifier.conftest import *
