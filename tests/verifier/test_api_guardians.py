"""The service publishes the guardians' liquidation key: GET /guardians, and start-up refusals."""

from __future__ import annotations

import json

import pytest

from tests.threshold.helpers import run_dkg
from tests.verifier.conftest import API_CURVE
from zkmargin.edwards import BABY_JUBJUB, embedded_curve
from zkmargin.threshold.guardians import guardian_set_from_json, guardian_set_to_json


@pytest.fixture(scope="module")
def guardian_set_document():
    run = run_dkg(embedded_curve(API_CURVE), 2, 3, seed=7)
    return guardian_set_to_json(run.transcript.guardian_set())


def _service(api_settings, **changes):
    from fastapi.testclient import TestClient

    from verifier.main import create_app

    return TestClient(create_app(api_settings.model_copy(update=changes)))


def test_the_guardian_set_is_published_as_the_guardians_wrote_it(api_settings, api_escrow_keys, guardian_set_document,
                                                                 tmp_path):
    path = tmp_path / "guardian-set.json"
    path.write_text(json.dumps(guardian_set_document))
    with _service(api_settings, guardian_set=path) as client:
        response = client.get("/guardians")
    assert response.status_code == 200, response.text
    assert response.json() == guardian_set_document
    published = guardian_set_from_json(response.json())  # checks the points and the polynomial again
    assert (published.threshold, published.guardians) == (2, 3)


def test_without_a_guardian_set_the_route_says_so(api):
    body = api.expect(api.client.get("/guardians"), 404)
    assert "ZKMARGIN_GUARDIAN_SET" in json.dumps(body)


def _start_refused(api_settings, path, match):
    from verifier.errors import GuardianConfigError

    with pytest.raises(GuardianConfigError, match=match), _service(api_settings, guardian_set=path):
        pass


def test_a_guardian_set_on_the_other_embedded_curve_is_refused(api_settings, tmp_path):
    other = run_dkg(BABY_JUBJUB, 2, 3, seed=3).transcript.guardian_set()
    path = tmp_path / "babyjubjub.json"
    path.write_text(json.dumps(guardian_set_to_json(other)))
    _start_refused(api_settings, path, "a key on babyjubjub, but proofs on bls12381 escrow to jubjub")


def test_a_tampered_or_missing_guardian_set_is_refused_at_start(api_settings, guardian_set_document, tmp_path):
    tampered = json.loads(json.dumps(guardian_set_document))
    tampered["verification_keys"][2] = tampered["verification_keys"][0]  # off the others' polynomial
    path = tmp_path / "tampered.json"
    path.write_text(json.dumps(tampered))
    _start_refused(api_settings, path, "guardian 3: not on the polynomial")
    _start_refused(api_settings, tmp_path / "absent.json", "cannot read it")
    (tmp_path / "garbled.json").write_text("{not json")
    _start_refused(api_settings, tmp_path / "garbled.json", "not JSON")
