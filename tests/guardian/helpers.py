"""Running guardians' ceremonies through the ``zkmargin guardian`` commands, in one folder."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

from guardian.cli import guardian_app
from guardian.keyfile import GuardianState, load_guardian_file, save_guardian_file
from guardian.messages import broadcast_name, sign
from zkmargin.edwards import add
from zkmargin.threshold.dkg import DealerBroadcast, Dealing, broadcast_to_json

runner = CliRunner()


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return runner.invoke(guardian_app, list(args), env=env, catch_exceptions=False)


def ok(*args: str, env: dict[str, str] | None = None) -> Result:
    result = run(*args, env=env)
    assert result.exit_code == 0, result.output
    return result


class Ceremony:
    """n guardians with homes under ``root``, exchanging files through ``root/shared``."""

    def __init__(self, root: Path, threshold: int, guardians: int, curve: str, session: str = "test-1"):
        self.root, self.threshold, self.guardians, self.curve, self.session = root, threshold, guardians, curve, session
        self.shared = root / "shared"

    def home(self, j: int) -> Path:
        return self.root / f"guardian-{j}"

    def indices(self) -> range:
        return range(1, self.guardians + 1)

    def init(self, j: int, env: dict[str, str] | None = None) -> Result:
        return run("init", "--index", str(j), "--guardians", str(self.guardians), "--threshold", str(self.threshold),
                   "--curve", self.curve, "--session", self.session, "--home", str(self.home(j)),
                   "--out", str(self.shared), env=env)

    def step(self, step: str, j: int, env: dict[str, str] | None = None) -> Result:
        folders = ["--cards", str(self.shared), "--out", str(self.shared)] if step == "deal" else \
            ["--in", str(self.shared)] + (["--out", str(self.shared)] if step != "finish" else [])
        return run("dkg", step, *folders, "--home", str(self.home(j)), env=env)

    def all(self, step: str, env: dict[str, str] | None = None) -> list[Result]:
        results = []
        for j in self.indices():
            result = self.init(j, env) if step == "init" else self.step(step, j, env)
            assert result.exit_code == 0, f"guardian {j}, {step}: {result.output}"
            results.append(result)
        return results

    def up_to(self, last: str) -> None:
        for step in ("init", "deal", "check", "answer", "finish"):
            self.all(step)
            if step == last:
                return

    def state(self, j: int, passphrase: str | None = None) -> GuardianState:
        return load_guardian_file(self.home(j) / "guardian.json", passphrase)

    def show(self, j: int) -> dict[str, Any]:
        return json.loads(ok("show", "--json", "--home", str(self.home(j))).stdout)

    def published(self, name: str) -> Any:
        return json.loads((self.shared / name).read_text())


def cheat_with_broadcast(ceremony: Ceremony, dealer: int) -> None:
    """Dealer ``dealer`` (after dealing) shifts its second commitment and signs that broadcast.

    Its proof of knowledge of the constant term still verifies, so only the sub-shares give it
    away. Its own file keeps the shifted broadcast, as a cheating program would.
    """
    state = ceremony.state(dealer)
    assert state.dealing is not None and ceremony.threshold >= 2
    real = state.dealing.broadcast
    commitments = list(real.commitments)
    commitments[1] = add(state.parameters.curve, commitments[1], state.parameters.curve.base)
    shifted = DealerBroadcast(real.dealer, tuple(commitments), real.proof_of_knowledge)
    save_guardian_file(ceremony.home(dealer) / "guardian.json",
                       replace(state, dealing=Dealing(shifted, state.dealing.sub_shares)), None)
    message = sign(state.signing_key, dealer, broadcast_to_json(state.parameters, shifted))
    (ceremony.shared / broadcast_name(dealer)).write_text(json.dumps(message))
