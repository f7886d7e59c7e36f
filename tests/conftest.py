import pytest

from zkmargin.curves import BLS12_381, BN254

CURVES = [BLS12_381, BN254]


@pytest.fixture(params=CURVES, ids=lambda c: c.name)
def curve(request):
    return request.param


# --- the fast lane ---------------------------------------------------------------------
# `python -m pytest -m "not slow"` is what developers run while working (a few minutes);
# CI runs everything (`python -m pytest`). Besides the tests marked `@pytest.mark.slow` in
# place, the hook below marks slow, by node id (relative to the repository) or prefix:
# whole modules that start Node.js/snarkjs, uvicorn workers, subprocess CLIs or prove real
# circuits many times; single tests that take seconds (`--durations` on a 2-core machine);
# and every test's PostgreSQL variant: the fast lane runs the database tests on SQLite.
SLOW_MODULES = {
    "tests/interop/": "snarkjs through Node.js",
    "tests/prover/test_trader_cli.py": "the trader CLI end to end, proving in subprocesses",
    "tests/demo/test_demo.py": "the whole demo",
    "tests/prover/test_bench.py": "benchmark runs",
    "tests/verifier/test_api_crash.py": "service processes killed and restarted",
    "tests/verifier/test_api_liquidation_crash.py": "service processes killed mid-liquidation and restarted",
    "tests/verifier/test_api_workers.py": "several uvicorn workers",
    "tests/verifier/test_api_schema.py": "schemathesis over the whole API",
    "tests/verifier/test_serving.py": "real servers on real ports, killed supervisors",
    "tests/circuits/test_mutation.py": "every mutated circuit proved and verified",
    "tests/prover/test_cli.py": "the zkmargin command in subprocesses, 26 s",
    "tests/prover/test_trader_token_binding.py": "a live service and the trader's client, 16 s",
    "tests/verifier/test_api_clearing_integrity.py": "whole clearing cycles with real proofs, 45 s",
    "tests/evm/": "an in-memory EVM through Node.js, 20 s",
    "tests/prover/test_export_cli.py": "the export commands in subprocesses, 6 s",
    "tests/verifier/test_liquidation_end_to_end.py": "liquidations through a real server, real escrowed proofs, "
                                                     "the trader's and the guardians' CLIs, 20-30 s a test",
    "tests/verifier/test_portfolio_end_to_end.py": "portfolio margin through a real server, real proofs and the "
                                                   "trader's CLI, 4 s",
    "tests/verifier/test_api_option_expiry.py": "an option expiring between two epochs with real proofs, waiting "
                                                "for the expiry: 6 s a backend, 14 s in all plus the keys (21 s)",
    "tests/verifier/test_option_expiry_end_to_end.py": "the trader's CLI settles an expired option through a real "
                                                       "server, waiting for the expiry: 12 s plus the keys",
    "tests/verifier/test_api_portfolio_transitions.py": "portfolio-transfer and portfolio-fill proofs through the API "
                                                        "on SQLite and PostgreSQL, 66-104 s with two workers (key "
                                                        "setups included)",
    "tests/verifier/test_funding_options_end_to_end.py": "funding and options through a real server (M = 3), two "
                                                         "epochs of real proofs and the trader's CLI, its keys "
                                                         "made once (8 s), then 12 s on SQLite and 20 s on "
                                                         "PostgreSQL: 40 s quiet, up to 2 min on a busy 2-core "
                                                         "machine",
}
SLOW_TESTS = {
    "tests/verifier/test_api_funding.py::test_everyone_settles_funding_and_the_epoch_finalizes_at_zero":
        "a whole epoch with a perpetual settled with real proofs (deposits, fills, settlements)",
    "tests/verifier/test_api_liquidation.py::test_a_full_close_out_of_a_bankrupt_account":
        "a whole epoch with a liquidation and a levy paid with real proofs, 5 s",
    "tests/guardian/test_liquidation_share.py::test_a_proof_that_does_not_verify_is_refused":
        "a setup and a proof of the escrowed transfer, 7 s",
    "tests/guardian/test_liquidation_share.py::test_two_guardians_shares_open_the_escrow_to_the_pinned_state":
        "the escrowed transfer's setup and proof (shared with the test above)",
    "tests/guardian/test_liquidation_share.py::test_a_share_the_service_refuses_ends_in_one_line":
        "the escrowed transfer's setup and proof (shared with the tests above)",
    "tests/circuits/test_portfolio_transitions.py::test_groth16_withdrawal_is_bound_to_the_factor_and_the_arrays":
        "setups of portfolio-transfer and portfolio-fill at one instrument and a proof, about 10 s",
    "tests/circuits/test_portfolio_transitions.py::test_groth16_risk_reducing_fill_below_initial_margin":
        "a portfolio-fill proof (keys shared with the test above), 4 s",
    "tests/groth16/test_groth16.py::test_batch_verification_finds_the_invalid_proofs": "12 s on BN254",
    "tests/groth16/test_groth16.py::test_batch_verdicts_do_not_depend_on_the_number_of_threads": "10 s",
    "tests/verifier/test_api_deposit_credits.py::test_identical_concurrent_deposit_credits": "5 s, threads",
    "tests/verifier/test_api_account_opening.py::test_concurrent_account_openings": "6-9 s, threads",
    "tests/verifier/test_api_concurrency.py::test_parallel_transitions_on_one_account": "4 s, threads",
    "tests/verifier/test_ledger_concurrency.py::test_processes_appending_at_once": "processes",
    "tests/verifier/test_db_migrations.py::test_replicas_migrating_at_once": "processes",
    "tests/verifier/test_keys.py::test_in_development_an_outdated_key_is_moved_aside": "key generation, 6 s",
    "tests/verifier/test_api_bad_input.py::test_corrupted_proofs_are_refused": "a proof per case, 10 s",
    # a proof on BN254 runs on the pure-Python back end; the BLS12-381 variants stay in the lane
    "tests/circuits/test_fill.py::test_fill_proof_verifies_and_is_bound_to_its_statement[bn128]": "4 s",
    "tests/circuits/test_settle.py::test_settle_proof_verifies_and_is_bound_to_its_statement[bn128]": "5 s",
    "tests/circuits/test_transfer.py::test_withdrawal_proof_verifies_and_is_bound_to_its_statement[bn128]": "5 s",
    "tests/circuits/test_margin.py::test_proof_verifies_and_is_bound_to_every_public_input[bn128]": "3 s",
    "tests/groth16/test_cross_backend.py::test_same_seed_gives_the_same_keys_on_fast_and_reference_backends[bn128]":
        "3 s",
    "tests/backends/test_bn254_native_pairing.py::test_native_and_reference_agree": "py_ecc's pairings, 17 s",
    "tests/verifier/test_api_end_to_end.py::test_an_epoch_from_prices_to_finalization": "a whole epoch, 7 s",
    "tests/verifier/test_api_vol_reports.py::"
    "test_portfolio_attestations_hedged_book_accepted_naked_call_refused_other_arrays_rejected":
        "three books funded and filled with real proofs, two portfolio proofs, 20 s",
    "tests/verifier/test_api_health.py::test_margin_call_default_and_finalization_with_a_defaulted_account":
        "a whole epoch with a default, 7 s",
    "tests/verifier/test_api_account_opening.py::test_account_opening_is_rate_limited_per_client_address": "8 s",
    "tests/poseidon/test_poseidon_parameters.py::test_mds_checks_accept_the_shipped_matrices": "galois, 6 s",
    # portfolio margin: real Groth16 proofs and the M = 16 digest; its cheating witnesses stay in the lane
    "tests/circuits/test_portfolio.py::test_a_hedged_book_proves_portfolio_margin_where_the_flat_rate_refuses": "4 s",
    "tests/circuits/test_portfolio.py::test_a_naked_short_call_proves_flat_rate_margin_where_portfolio_refuses": "1 s",
    "tests/circuits/test_portfolio.py::test_groth16_proofs_are_bound_to_the_published_arrays": "1 s",
    "tests/circuits/test_portfolio.py::test_the_digest_exists_at_the_largest_shape_on_both_curves": "1 s",
    "tests/circuits/test_portfolio.py::test_books_with_exactly_their_requirement_pass_and_one_unit_less_fails":
        "ten books, 9 s",
    "tests/verifier/test_api_bad_input.py::test_a_proof_for_another_epoch_or_account_is_refused": "2.5 s",
    "tests/circuits/test_transition_escrow.py::test_an_escrowed_transfer_proof_is_bound_to_the_key_and_the_digest":
        "setup and a proof of 8,000 constraints",
    # a service with guardians loads the escrow variants' keys: three setups of ~9,000 constraints, 8 s
    "tests/verifier/test_api_escrow.py::test_deposit_fill_and_settlement_carry": "escrow keys, three proofs, 6 s",
    "tests/verifier/test_api_escrow.py::test_escrow_refusals": "escrow keys and proofs",
    "tests/verifier/test_api_escrow.py::test_an_escrow_on_the_other_embedded_curve": "escrow keys",
    "tests/verifier/test_api_guardians.py::test_the_guardian_set_is_published": "escrow keys",
    "tests/verifier/test_keys.py::test_the_escrow_variants_load_beside_the_plain_keys": "escrow keys",
    "tests/prover/test_trader_escrow.py": "escrow keys, the trader's proofs",
    "tests/prover/test_trader_funding.py": "the trader's proofs of a perpetual's settlement",
    # (the whole module is marked slow in place too) escrowed proofs of real traders, 3-4 s each
    "tests/verifier/test_clearing_properties.py::test_liquidations_in_any_order_keep_every_epoch_finalizable_at_zero":
        "the clearing machine with liquidations, escrowed proofs: 46-120 s on SQLite (3 examples)",
    "tests/verifier/test_clearing_properties.py::test_a_late_tth_share_after_the_operator_declared_the_account_in_default":
        "a pinned liquidation sequence with escrowed proofs, 30 s",
    "tests/verifier/test_clearing_properties.py::test_a_close_out_in_the_machine_keeps_every_invariant":
        "pinned liquidation sequences with escrowed proofs, 35 s each",
}
# tests run per curve or back end whose second variant adds time, not coverage of other code: the
# fast lane keeps one (the statements on BLS12-381, the escrow on BN254 as circom users build it,
# the fast back ends); CI runs every variant
SLOW_VARIANTS = {
    "tests/backends/": "py_ecc",
    "tests/circuits/": "bn128",
    "tests/gadgets/test_escrow_gadget.py": "bls12381",
    "tests/gadgets/test_edwards_gadgets.py": "bls12381",
    # the escrow variants' cheats: transfer stays in the lane (same gadget, same binding in all three)
    "tests/circuits/test_transition_escrow.py": "fill",
    "tests/circuits/test_transition_escrow.py::": "settle",
}
SLOW_PARAMETERS = {"postgresql"}  # the database tests' PostgreSQL variants (SQLite stays)


def _is_slow(item: pytest.Item) -> bool:
    nodeid = item.nodeid.replace("\\", "/")
    if any(nodeid.startswith(prefix) for prefix in (*SLOW_MODULES, *SLOW_TESTS)):
        return True
    variant = nodeid.partition("[")[2].rstrip("]").split("-")
    if any(nodeid.startswith(prefix) and slow in variant for prefix, slow in SLOW_VARIANTS.items()):
        return True
    params = getattr(item, "callspec", None)
    values = params.params.values() if params is not None else ()
    return any(isinstance(value, str) and value in SLOW_PARAMETERS for value in values)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if _is_slow(item):
            item.add_marker(pytest.mark.slow)
