import pytest

from zkmargin.curves import BLS12_381, BN254

CURVES = [BLS12_381, BN254]


@pytest.fixture(params=CURVES, ids=lambda c: c.name)
def curve(request):
    return request.param
