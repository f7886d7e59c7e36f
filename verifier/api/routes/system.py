"""Liveness, metrics, and the public configuration (curve, markets, circuit ids, keys)."""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from fastapi.responses import FileResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from circuits.protocol.keystore import PROVING_KEY_FILE
from verifier.api.deps import ContextDep
from zkmargin.formats.snarkjs import vk_to_json

router = APIRouter(tags=["system"])


@router.get("/healthz", summary="Liveness and database reachability")
async def healthz(ctx: ContextDep) -> dict[str, Any]:
    def ping(session) -> None:
        session.execute(text("SELECT 1"))
    await ctx.read(ping)
    return {"status": "ok", "worker": os.getpid()}


@router.get("/metrics", summary="Prometheus metrics of this worker", response_class=Response)
async def metrics(ctx: ContextDep) -> Response:
    return Response(generate_latest(ctx.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/config", summary="What proofs must be made for: curve, markets, circuit ids, oracle quorum")
async def config(ctx: ContextDep) -> dict[str, Any]:
    runtime = ctx.runtime
    return {
        "curve": runtime.curve,
        "markets": [{"market": i, **m.model_dump()} for i, m in enumerate(runtime.markets)],
        "statements": {name: {"circuit": key.circuit.key_name(), "circuit_id": key.circuit_id,
                              "public_inputs": key.vk.num_public}
                       for name, key in runtime.keys.items()},
        "oracle_quorum": runtime.oracle_quorum,
        "oracle_faults": runtime.oracle_faults,
        "oracle_staleness_seconds": runtime.settings.oracle_staleness_seconds,
        "circuit_breaker": {"max_spread_millionths": runtime.settings.circuit_breaker_max_spread,
                            "max_move_millionths": runtime.settings.circuit_breaker_max_move},
    }


@router.get("/keys/{statement}", summary="A statement's verification key (snarkjs verification_key.json)")
async def verification_key(
    ctx: ContextDep, statement: Annotated[Literal["margin", "transfer", "fill", "settle"], Path()],
) -> dict[str, Any]:
    return vk_to_json(ctx.runtime.keys[statement].vk)


@router.get("/keys/{statement}/proving-key", response_class=FileResponse,
            summary="A statement's proving key (public: traders prove with it), in zkmargin's binary format")
async def proving_key(
    ctx: ContextDep, statement: Annotated[Literal["margin", "transfer", "fill", "settle"], Path()],
) -> FileResponse:
    key = ctx.runtime.keys[statement]
    return FileResponse(key.key_dir / PROVING_KEY_FILE, media_type="application/octet-stream",
                        filename=f"{key.circuit.key_name()}-{key.curve.name}.bin",
                        headers={"X-Zkmargin-Circuit-Id": key.circuit_id})
