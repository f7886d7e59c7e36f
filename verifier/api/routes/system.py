"""Liveness, metrics, and the public configuration (curve, markets, circuit ids, keys)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from fastapi.responses import FileResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from circuits.protocol.api import GuardianSetJson, Liveness, ServiceConfig, VerificationKeyJson
from circuits.protocol.keystore import PROVING_KEY_FILE
from verifier.api.deps import ContextDep
from verifier.services import system
from zkmargin.formats.snarkjs import vk_to_json

router = APIRouter(tags=["system"])


@router.get("/healthz", response_model=Liveness, summary="Liveness and database reachability")
async def healthz(ctx: ContextDep) -> dict[str, Any]:
    return await ctx.read(system.liveness)


@router.get("/metrics", summary="Prometheus metrics of this worker", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
                             "description": "the Prometheus text exposition format"}})
async def metrics(ctx: ContextDep) -> Response:
    return Response(generate_latest(ctx.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/config", response_model=ServiceConfig,
            summary="What proofs must be made for: curve, markets, circuit ids, oracle quorum")
async def config(ctx: ContextDep) -> dict[str, Any]:
    return system.public_config(ctx.runtime)


@router.get("/guardians", response_model=GuardianSetJson,
            summary="The guardians' liquidation key: group key, t of n, verification keys (404 if none)")
async def guardians(ctx: ContextDep) -> dict[str, Any]:
    return system.guardian_set(ctx.runtime)


@router.get("/keys/{statement}", response_model=VerificationKeyJson,
            summary="A statement's verification key (snarkjs verification_key.json)")
async def verification_key(
    ctx: ContextDep, statement: Annotated[Literal["margin", "transfer", "fill", "settle"], Path()],
) -> dict[str, Any]:
    return vk_to_json(ctx.runtime.keys[statement].vk)


@router.get("/keys/{statement}/proving-key", response_class=FileResponse,
            responses={200: {"description": "the proving key file", "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}},
            summary="A statement's proving key (public: traders prove with it), in zkmargin's binary format")
async def proving_key(
    ctx: ContextDep, statement: Annotated[Literal["margin", "transfer", "fill", "settle"], Path()],
) -> FileResponse:
    key = ctx.runtime.keys[statement]
    return FileResponse(key.key_dir / PROVING_KEY_FILE, media_type="application/octet-stream",
                        filename=f"{key.circuit.key_name()}-{key.curve.name}.bin",
                        headers={"X-Zkmargin-Circuit-Id": key.circuit_id})
