"""Load figure: verified margin attestations per second over HTTP.

Starts ``zkmargin serve --workers W`` against the given database, opens an epoch from signed
oracle reports, opens N accounts, proves one margin attestation per account beforehand (in a
process pool, not timed), then sends them all with C requests in flight and prints the rate of
accepted attestations and the p50/p99 latency.

    python benchmarks/http_attestations.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/zkm_load \
        --workers 2 --accounts 1500 --concurrency 32

The database must exist and be empty (or at least have no open epoch). Only loopback traffic.

``--proof-cache FILE`` with a fixed ``--home`` (the same keys) reuses the genesis salts and
proofs of a previous run on a fresh database: the same account ids, epoch and prices, so the
same proofs hold; it saves the minutes of proving when comparing changes. Besides the rate and
latencies, the result gives the CPU time the server's processes and its PostgreSQL backends
spent per request (from /proc, Linux): a figure that holds when other work shares the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import httpx

CURVE = "bls12381"
MARKETS = 2


def _prove_chunk(args: tuple[str, list[tuple[int, int]], int, list[int], list[int]]) -> list[dict]:
    keys_dir, accounts, epoch_id, prices, rates = args
    from circuits import get_circuit
    from circuits.protocol.keystore import load_keys
    from circuits.state import AccountState
    from zkmargin.backends import get_backend
    from zkmargin.formats.snarkjs import proof_to_json
    from zkmargin.groth16 import prove

    backend = get_backend(CURVE)
    margin = get_circuit("margin", markets=MARKETS)
    pk = load_keys(Path(keys_dir) / f"{margin.key_name()}-{CURVE}", backend)
    proofs = []
    for account_id, salt in accounts:
        state = AccountState.genesis(account_id, MARKETS, salt=salt)
        inputs = margin.assignment(state, epoch_id, prices, rates, CURVE)
        proofs.append(proof_to_json(prove(pk, margin.synthesize(CURVE, inputs), backend)))
    return proofs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="the database the started server uses (required without --url)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--port", type=int, default=8799)
    parser.add_argument("--home", default=None, help="ZKMARGIN_HOME (default: a temporary folder)")
    parser.add_argument("--url", default=None,
                        help="use a server already running on ZKMARGIN_HOME=--home instead of starting one")
    parser.add_argument("--proof-cache", default=None,
                        help="a JSON file of genesis salts and proofs reused between runs with the same --home "
                             "(keys) on a fresh database: written when missing or not matching, else read")
    args = parser.parse_args()
    if args.url:
        return run(args.url, Path(args.home), args)
    if not args.database_url:
        parser.error("--database-url is required (or --url of a running server)")

    home = Path(args.home or tempfile.mkdtemp(prefix="zkm-load-"))
    env = dict(os.environ, ZKMARGIN_HOME=str(home), ZKMARGIN_DATABASE_URL=args.database_url,
               ZKMARGIN_LOG_LEVEL="WARNING",
               ZKMARGIN_ACCOUNT_OPENINGS_PER_MINUTE="0")  # the set-up opens --accounts accounts from one address
    server = subprocess.Popen([sys.executable, "-m", "verifier.cli", "serve", "--port", str(args.port),
                               "--workers", str(args.workers)], env=env, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{args.port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        time.sleep(3)  # let every worker finish starting
        args.server_pid = server.pid
        return run(base, home, args)
    finally:
        server.terminate()
        server.wait(30)


def _cache_key(home: Path, epoch: dict, rates: list[int]) -> dict:
    """What the cached proofs depend on besides the account ids and salts: the epoch, its
    prices, the rates and the proving key (its file sizes and times stand in for a digest)."""
    keys = sorted((p.name, p.stat().st_size, int(p.stat().st_mtime)) for p in (home / "keys").rglob("*") if p.is_file())
    return {"epoch_id": epoch["epoch_id"], "mark_prices": epoch["mark_prices"], "rates": rates,
            "keys": [list(k) for k in keys]}


def _load_cache(args, home: Path, epoch: dict, rates: list[int]) -> dict | None:
    if not args.proof_cache or not Path(args.proof_cache).exists():
        return None
    cache = json.loads(Path(args.proof_cache).read_text())
    if cache.get("key") != _cache_key(home, epoch, rates) or len(cache.get("salts", ())) != args.accounts:
        print("the proof cache does not match: proving again", file=sys.stderr)
        return None
    return cache


def _cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User + system CPU of each process (all its threads), from /proc."""
    seconds = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        seconds[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
    return seconds


def _cpu_spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU spent between two readings (a process started meanwhile counts in full; one that
    ended meanwhile is lost: an undercount)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def _service_pids(server_pid: int | None, database: str | None) -> tuple[list[int], list[int]]:
    """The started server's process tree, and the PostgreSQL backends connected to ``database``
    (their process titles name it): the CPU a run costs, whatever else the machine runs."""
    parents, titles = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parents[int(entry.name)] = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            titles[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
    server = []
    if server_pid is not None:
        for pid in parents:
            p = pid
            while p > 1 and p != server_pid:
                p = parents.get(p, 0)
            if p == server_pid:
                server.append(pid)
    postgres = [pid for pid, title in titles.items()
                if database and title.startswith("postgres:") and f" {database} " in title]
    return server, postgres


def run(base: str, home: Path, args) -> int:
    from circuits.protocol.oracle_report import private_key_from_hex, sign_report
    from circuits.state import fresh_salt

    credentials = json.loads((home / "dev-credentials.json").read_text())
    operator = {"Authorization": f"Bearer {credentials['operator_token']}"}
    client = httpx.Client(base_url=base, timeout=60)
    stamp = int(time.time())
    for oracle in credentials["oracles"]:
        key = private_key_from_hex(oracle["private_key"])
        for market, price in enumerate((100, 200)):
            client.post("/oracle-reports", json=sign_report(key, market, price, stamp).to_dict()).raise_for_status()
    current = client.get("/epochs/current")
    if current.status_code == 200:  # a previous run's epoch: close it (the reports above are fresh)
        client.post(f"/epochs/{current.json()['epoch_id']}/close", headers=operator).raise_for_status()
    epoch = client.post("/epochs", headers=operator)
    epoch.raise_for_status()
    epoch = epoch.json()
    rates = [m["maintenance_rate"] for m in client.get("/markets").json()]

    cache = _load_cache(args, home, epoch, rates)
    accounts = []
    for index in range(args.accounts):
        salt = int(cache["salts"][index]) if cache else fresh_salt(CURVE)
        opened = client.post("/accounts", json={"genesis_salt": str(salt), "encryption_public_key": "11" * 32})
        opened.raise_for_status()
        accounts.append((opened.json()["account_id"], salt, opened.json()["account_token"]))
    if cache and [a for a, _, _ in accounts] != cache["account_ids"]:
        cache = None  # the database was not fresh: other account ids
    if cache:
        print(f"{len(accounts)} accounts open; attestations from {args.proof_cache}", file=sys.stderr)
        requests = [(account_id, token, proof) for (account_id, _, token), proof in zip(accounts, cache["proofs"])]
    else:
        print(f"{len(accounts)} accounts open; proving {len(accounts)} attestations (not timed) ...", file=sys.stderr)
        chunks = [accounts[i::2] for i in range(2)]
        with ProcessPoolExecutor(2) as pool:
            proven = list(pool.map(_prove_chunk, [(str(home / "keys"), [(a, s) for a, s, _ in chunk],
                                                   epoch["epoch_id"], epoch["mark_prices"], rates)
                                                  for chunk in chunks]))
        requests = [(account_id, token, proof) for chunk, proofs in zip(chunks, proven)
                    for (account_id, _, token), proof in zip(chunk, proofs)]
        if args.proof_cache:
            by_account = {account_id: proof for account_id, _, proof in requests}
            Path(args.proof_cache).write_text(json.dumps({
                "key": _cache_key(home, epoch, rates), "account_ids": [a for a, _, _ in accounts],
                "salts": [str(s) for _, s, _ in accounts], "proofs": [by_account[a] for a, _, _ in accounts]}))

    latencies: list[float] = []
    statuses: dict[int, int] = {}
    host, port = base.removeprefix("http://").split(":")
    # the requests, serialized before the clock starts; a minimal keep-alive HTTP/1.1 client, so
    # that the load generator takes as little as possible of the CPU the service shares with it
    wire = []
    for account_id, token, proof in requests:
        body = json.dumps({"epoch_id": epoch["epoch_id"], "proof": proof}).encode()
        wire.append((f"POST /accounts/{account_id}/attestations HTTP/1.1\r\nHost: {host}\r\n"
                     f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(body)}\r\n\r\n").encode() + body)

    async def fire() -> float:
        pending = list(reversed(wire))

        async def connection() -> None:
            reader, writer = await asyncio.open_connection(host, int(port))
            try:
                while pending:
                    request = pending.pop()
                    started = time.perf_counter()
                    writer.write(request)
                    status = int((await reader.readline()).split()[1])
                    length = 0
                    while (line := await reader.readline()) not in (b"\r\n", b""):
                        name, _, value = line.decode().partition(":")
                        if name.lower() == "content-length":
                            length = int(value)
                    await reader.readexactly(length)
                    latencies.append(time.perf_counter() - started)
                    statuses[status] = statuses.get(status, 0) + 1
            finally:
                writer.close()

        started = time.perf_counter()
        await asyncio.gather(*(connection() for _ in range(args.concurrency)))
        return time.perf_counter() - started

    print(f"sending {len(requests)} attestations, {args.concurrency} in flight ...", file=sys.stderr, flush=True)
    database = args.database_url.rpartition("/")[2].partition("?")[0] if args.database_url else None
    server_pids, postgres_pids = _service_pids(getattr(args, "server_pid", None), database)
    server_cpu, postgres_cpu = _cpu_seconds(server_pids), _cpu_seconds(postgres_pids)  # per process
    client_cpu = time.process_time()
    elapsed = asyncio.run(fire())
    client_cpu = time.process_time() - client_cpu
    # processes started during the run (pool connections opened under load) count in full
    server_after, postgres_after = _service_pids(getattr(args, "server_pid", None), database)
    server_cpu = _cpu_spent(server_cpu, _cpu_seconds(server_after))
    postgres_cpu = _cpu_spent(postgres_cpu, _cpu_seconds(postgres_after))
    accepted = statuses.get(201, 0)
    latencies.sort()
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(json.dumps({"workers": args.workers, "concurrency": args.concurrency, "requests": len(requests),
                      "statuses": statuses, "seconds": round(elapsed, 3),
                      "accepted_per_second": round(accepted / elapsed, 1),
                      "p50_ms": round(p50 * 1000, 1), "p99_ms": round(p99 * 1000, 1),
                      "load_generator_cpu_seconds": round(client_cpu, 2),
                      # CPU per request: what bounds the rate on a busy or small machine
                      "server_cpu_ms_per_request": round(server_cpu * 1000 / len(requests), 2) if server_pids else None,
                      "postgres_cpu_ms_per_request": round(postgres_cpu * 1000 / len(requests), 2)
                      if postgres_pids else None}))
    return 0 if accepted == len(requests) else 1


if __name__ == "__main__":
    sys.exit(main())
