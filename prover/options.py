"""Command-line options shared by the proof and benchmark commands."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

CurveOpt = Annotated[str, typer.Option("--curve", "-c", help="bls12381 (bls12-381) or bn128 (bn254)")]
BackendOpt = Annotated[Optional[str], typer.Option("--backend", help="curve backend (default: the fastest)")]
Log2Opt = Annotated[Optional[int], typer.Option("--log2", help="chain: log2 of the domain size")]
MarketsOpt = Annotated[Optional[int], typer.Option("--markets", "-m", help="margin statements: number of markets M")]
ScenariosOpt = Annotated[Optional[int], typer.Option(
    "--scenarios", "-s", help="portfolio: number of risk-array scenarios S (default 16, SPAN's set)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output on stdout")]
EscrowOpt = Annotated[bool, typer.Option(
    "--escrow", help="transfer, fill, settle: the variant that seals the new state to the guardians' key")]
