"""Fixtures for the polynomial tests: every test runs on both curves and every integer back end."""

import random

import pytest

from zkmargin.curves import BLS12_381, BN254
from zkmargin.polynomials import available_backends


@pytest.fixture(params=[BLS12_381, BN254], ids=lambda c: c.name)
def curve(request):
    return request.param


@pytest.fixture(params=available_backends())
def backend(request):
    return request.param


@pytest.fixture
def rng():
    return random.Random(20240611)
