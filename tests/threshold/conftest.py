import pytest

from zkmargin.edwards import BABY_JUBJUB, JUBJUB


@pytest.fixture(params=[BABY_JUBJUB, JUBJUB], ids=str)
def ec(request):
    return request.param
