"""``zkmargin guardian ...``: one guardian of the liquidation key, its key ceremony and its share.

Mounted on ``zkmargin`` through the entry point ``zkmargin.commands:guardian`` (``register``).
Every command works on one guardian file (``--home DIR``: ``DIR/guardian.json``, default
``$ZKMARGIN_HOME/guardian``), locked for the command's duration, with the trader's passphrase
conventions (``--passphrase-file``, ``ZKMARGIN_PASSPHRASE_FILE``, ``ZKMARGIN_PASSPHRASE``, asked on a
terminal). Exit codes (``ExitCode``): 0 done; 1 the ceremony concluded that no key can be made
(too few qualified dealers) or that our share does not add up, or the guardian refuses a
liquidation request (a check failed) or the service refused its share; 2 a local problem
(arguments, the guardian file, the passphrase, a missing or malformed message, a step out of
order, a missing verifying key); 3 the service is unreachable or failing (retry later).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from circuits.protocol.api import LiquidationJson
from circuits.protocol.exit_codes import ExitCode
from circuits.protocol.keystore import default_keys_dir
from guardian.ceremony import answer_step, check_step, deal_step, finish_step
from guardian.console import emit_json, err_console, say
from guardian.keyfile import (
    GUARDIAN_FILE,
    GuardianFileError,
    GuardianState,
    create_guardian_file,
    default_guardian_home,
    guardian_file,
    load_guardian_file,
    save_guardian_file,
)
from guardian.liquidation import LiquidationRefusal, approve, share_for
from guardian.messages import (
    card_name,
    card_to_json,
    describe,
    read_roster,
    write_json,
    write_json_once,
)
from guardian.service import STATUSES, LiquidationService, ServiceRefusedError, ServiceUnavailableError
from zkmargin.curves import get_curve
from zkmargin.edwards import EdwardsCurve, embedded_curve, point_to_json
from zkmargin.errors import MalformedInputError, ZkMarginError
from zkmargin.threshold.decryption import decryption_share_to_json
from zkmargin.threshold.dkg import DkgParameters
from zkmargin.threshold.encoding import CURVES
from zkmargin.threshold.errors import DkgFailedError, InconsistentShareError

PANEL = "Guardian"
PASSPHRASE_ENV = "ZKMARGIN_PASSPHRASE"

guardian_app = typer.Typer(
    help="A guardian of the liquidation key: its key ceremony (files carried over any channel), its share, "
         "sealed at rest, and its decryption shares for the service's liquidation requests, each given only "
         "after the guardian's own checks.",
    no_args_is_help=True,
)
dkg_app = typer.Typer(
    help="The key ceremony, in four steps every guardian runs in turn: deal, check, answer, finish. "
         "Carry the files each step writes to every guardian (a shared folder will do).",
    no_args_is_help=True,
)
guardian_app.add_typer(dkg_app, name="dkg")
liquidation_app = typer.Typer(
    help="Liquidation requests of a verifier service: list them; check one and return this guardian's "
         "decryption share for it.",
    no_args_is_help=True,
)
guardian_app.add_typer(liquidation_app, name="liquidation")

HomeOpt = Annotated[Path | None, typer.Option(
    "--home", envvar="ZKMARGIN_GUARDIAN_HOME",
    help="the guardian's folder, holding guardian.json (default: $ZKMARGIN_HOME/guardian)")]
PassphraseFileOpt = Annotated[Path | None, typer.Option(
    "--passphrase-file", envvar="ZKMARGIN_PASSPHRASE_FILE",
    help=f"read the guardian file's passphrase from this file (or set {PASSPHRASE_ENV})")]
InOpt = Annotated[Path, typer.Option("--in", help="the folder holding the other guardians' files")]
OutOpt = Annotated[Path, typer.Option("--out", help="the folder to write this guardian's files to")]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable results on stdout")]
Saver = Callable[[GuardianState], None]


# --- errors and passphrases -----------------------------------------------------------------


def _fail(message: str, code: int) -> None:
    say(message, "[red]error:[/red] ")
    raise typer.Exit(code)


@contextmanager
def _explained_errors() -> Iterator[None]:
    """Every failure as one line and its exit code; never a traceback."""
    try:
        yield
    except (DkgFailedError, InconsistentShareError, LiquidationRefusal, ServiceRefusedError) as exc:
        _fail(str(exc), ExitCode.INVALID)
    except ServiceUnavailableError as exc:
        _fail(str(exc), ExitCode.SERVICE_UNAVAILABLE)
    except ZkMarginError as exc:
        _fail(str(exc), ExitCode.ERROR)
    except OSError as exc:
        _fail(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc), ExitCode.ERROR)


def _read_passphrase(passphrase_file: Path | None) -> str | None:
    if passphrase_file is not None:
        text = passphrase_file.read_text().rstrip("\r\n")
        if not text:
            raise GuardianFileError(f"the passphrase file {passphrase_file} is empty")
        return text
    return os.environ.get(PASSPHRASE_ENV) or None


def _passphrase_for(path: Path, passphrase_file: Path | None) -> str | None:
    """The given passphrase; or, for an encrypted file on a terminal, one asked for."""
    passphrase = _read_passphrase(passphrase_file)
    if passphrase is None and path.exists() and GUARDIAN_FILE.is_encrypted(path) and err_console.is_terminal:
        passphrase = typer.prompt("passphrase of the guardian file", hide_input=True, err=True)
    return passphrase


@contextmanager
def _guardian(home: Path | None, passphrase_file: Path | None) -> Iterator[tuple[GuardianState, Saver]]:
    """The guardian's state, locked; the second value saves a new state (under the same passphrase)."""
    path = guardian_file(home or default_guardian_home())
    with GUARDIAN_FILE.locked(path):
        passphrase = _passphrase_for(path, passphrase_file)
        state = load_guardian_file(path, passphrase)
        yield state, lambda new_state: save_guardian_file(path, new_state, passphrase)


def _edwards_curve(name: str) -> EdwardsCurve:
    """``babyjubjub`` / ``jubjub``, or the proof system's curve whose embedded curve is meant."""
    if name.lower() in CURVES:
        return CURVES[name.lower()]
    return embedded_curve(get_curve(name))


# --- init and show ----------------------------------------------------------------------------


@guardian_app.command("init")
def init(
    index: Annotated[int, typer.Option("--index", help="this guardian's index J, 1..N", min=1)],
    guardians: Annotated[int, typer.Option("--guardians", help="how many guardians N", min=1)],
    threshold: Annotated[int, typer.Option("--threshold", help="how many guardians T open an escrow", min=1)],
    curve: Annotated[str, typer.Option("--curve", help="babyjubjub (or bn254) or jubjub (or bls12381)")],
    session: Annotated[str, typer.Option("--session", help="the ceremony's name, the same for every guardian")],
    home: HomeOpt = None, passphrase_file: PassphraseFileOpt = None,
    encrypt: Annotated[bool, typer.Option("--encrypt", help="encrypt the guardian file with a passphrase "
                                                            "(asked for unless given by file or variable)")] = False,
    out: Annotated[Path, typer.Option("--out", help="the folder to write the card to")] = Path("."),
) -> None:
    """Create this guardian's key pairs in a new sealed guardian file, and write its public card."""
    path = guardian_file(home or default_guardian_home())
    with _explained_errors():
        params = DkgParameters(_edwards_curve(curve), threshold, guardians, session)
        state = GuardianState.new(params, index)
        passphrase = _read_passphrase(passphrase_file)
        if encrypt and passphrase is None:
            passphrase = typer.prompt("passphrase for the new guardian file", hide_input=True,
                                      confirmation_prompt=True, err=True)
        with GUARDIAN_FILE.locked(path):
            create_guardian_file(path, state, passphrase)
        card_path = out / card_name(index)
        write_json(card_path, card_to_json(state.card()))
    say(f"guardian {index} of {describe(params)}: keys in {path}{' (encrypted)' if passphrase else ''}; "
        f"card written to {card_path}: send it to every other guardian")


@guardian_app.command("show")
def show(home: HomeOpt = None, passphrase_file: PassphraseFileOpt = None, as_json: JsonOpt = False) -> None:
    """Index, threshold, curve, ceremony step, group key and own verification key (never a secret)."""
    with _explained_errors(), _guardian(home, passphrase_file) as (state, _):
        report = _public_report(state)
    if as_json:
        emit_json(report)
        return
    for key, value in report.items():
        typer.echo(f"{key:<18} {_shown(value)}")


def _public_report(state: GuardianState) -> dict[str, Any]:
    params = state.parameters
    report: dict[str, Any] = {
        "index": state.index, "threshold": params.threshold, "guardians": params.guardians,
        "curve": params.curve.name, "session": params.session, "step": _step(state),
        "transport_key": state.card().transport_key.hex(), "signing_key": state.card().signing_key.hex(),
        "roster_digest": None if state.roster is None else state.roster.digest(),
        "group_key": None, "verification_key": None, "transcript_digest": None,
    }
    if state.share is not None:
        guardian_set = state.share.guardian_set
        report["group_key"] = point_to_json(guardian_set.group_key)
        report["verification_key"] = point_to_json(guardian_set.verification_key(state.index))
        report["transcript_digest"] = guardian_set.transcript_digest
    return report


def _step(state: GuardianState) -> str:
    if state.share is not None:
        return "finished: holds its share"
    if state.received is not None:
        return "checked: answer complaints, then finish"
    if state.dealing is not None:
        return "dealt: check the sub-shares received"
    return "initialized: deal once every card is in"


def _shown(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)


# --- the ceremony ------------------------------------------------------------------------------


@dkg_app.command("deal")
def dkg_deal(
    cards: Annotated[Path, typer.Option("--cards", help="the folder holding every guardian's card-J.json")],
    out: OutOpt, home: HomeOpt = None, passphrase_file: PassphraseFileOpt = None,
) -> None:
    """Write this guardian's broadcast and one sealed sub-share per other guardian."""
    with _explained_errors(), _guardian(home, passphrase_file) as (state, save):
        roster = read_roster(state.parameters, cards)
        new_state, files = deal_step(state, roster)
        save(new_state)
        _write_all(out, files)
    say(f"guardian {state.index} dealt: {len(files)} files written to {out} (a broadcast and "
        f"{len(files) - 1} sealed sub-shares); send them to every guardian")
    say(f"roster digest {roster.digest()}: every guardian must see the same one")


@dkg_app.command("check")
def dkg_check(in_: InOpt, out: OutOpt, home: HomeOpt = None, passphrase_file: PassphraseFileOpt = None) -> None:
    """Open and check this guardian's sub-shares against the broadcasts; write its complaints (or none)."""
    with _explained_errors(), _guardian(home, passphrase_file) as (state, save):
        new_state, complaints, files = check_step(state, in_)
        save(new_state)
        _write_all(out, files)
    if not complaints:
        say(f"guardian {state.index}: every sub-share matches its dealer's commitments; no complaint "
            f"(written to {out}, send it to every guardian)")
    for complaint in complaints:
        say(f"guardian {state.index} complains about dealer {complaint.dealer}: {complaint.reason}",
            "[yellow]complaint:[/yellow] ")


@dkg_app.command("answer")
def dkg_answer(in_: InOpt, out: OutOpt, home: HomeOpt = None, passphrase_file: PassphraseFileOpt = None) -> None:
    """Answer the complaints against this guardian by publishing the sub-shares it sent (or write none)."""
    with _explained_errors(), _guardian(home, passphrase_file) as (state, _):
        answers, files = answer_step(state, in_)
        _write_all(out, files)
    accusers = ", ".join(str(answer.recipient) for answer in answers)
    say(f"guardian {state.index} answered {len(answers)} complaints{f' (of guardians {accusers})' if answers else ''}; "
        f"written to {out}, send it to every guardian")


@dkg_app.command("finish")
def dkg_finish(
    in_: InOpt,
    out: Annotated[Path | None, typer.Option("--out", help="where to write guardian-set.json and "
                                                              "transcript.json (default: the --in folder)")] = None,
    home: HomeOpt = None, passphrase_file: PassphraseFileOpt = None,
) -> None:
    """Conclude from the public messages, seal this guardian's share, write the guardian set; print the group key."""
    target = out or in_
    with _explained_errors(), _guardian(home, passphrase_file) as (state, save):
        conclusion = finish_step(state, in_)
        for name, document in conclusion.files.items():
            write_json_once(target / name, document)  # a guardian that concluded otherwise is caught here
        save(conclusion.state)
    transcript = conclusion.transcript
    for dealer, reason in sorted(transcript.disqualified.items()):
        say(f"dealer {dealer} disqualified: {reason}", "[yellow]warning:[/yellow] ")
    say(f"guardian {state.index} holds its share of {describe(state.parameters)}; qualified dealers "
        f"{', '.join(map(str, transcript.qualified))}; guardian set written to {target}")
    typer.echo(f"group key {', '.join(point_to_json(conclusion.guardian_set.group_key))}")


def _write_all(folder: Path, files: dict[str, dict[str, Any]]) -> None:
    for name, document in files.items():
        write_json(folder / name, document)


# --- liquidation requests ------------------------------------------------------------------

ServiceOpt = Annotated[str, typer.Option("--service", help="the verifier service's URL")]
InsecureOpt = Annotated[bool, typer.Option("--insecure", help="allow plain http:// to another machine")]
DEFAULT_GRACE_SECONDS = 3600  # the service's default cure window after a missed attestation deadline


@liquidation_app.command("list")
def liquidation_list(
    service: ServiceOpt,
    status: Annotated[str | None, typer.Option("--status", help=f"only these: {', '.join(STATUSES)}")] = None,
    insecure: InsecureOpt = False, as_json: JsonOpt = False,
) -> None:
    """The service's liquidations: account, rule, epoch, status and shares received."""
    with _explained_errors():
        if status is not None and status not in STATUSES:
            raise MalformedInputError(f"--status must be one of {', '.join(STATUSES)}, got {status!r}")
        with LiquidationService(service, insecure=insecure) as client:
            records = client.liquidations(status)
    if as_json:
        emit_json([record.model_dump(mode="json") for record in records])
        return
    if not records:
        say(f"no liquidations{f' {status}' if status else ''} at {service}")
    for record in records:
        typer.echo(_liquidation_line(record))


def _liquidation_line(record: LiquidationJson) -> str:
    request = record.request
    return (f"#{record.id} account {record.account_id} {record.status} ({request.get('reason')} of epoch "
            f"{request.get('epoch_id')}, requested at {request.get('requested_at')}): "
            f"{len(record.shares)} of {record.threshold} shares")


@liquidation_app.command("share")
def liquidation_share(
    liquidation_id: Annotated[int, typer.Argument(help="the liquidation's id", min=1)],
    service: ServiceOpt,
    operator_key: Annotated[str, typer.Option(
        "--operator-key", envvar="ZKMARGIN_OPERATOR_PUBLIC_KEY",
        help="the operator's Ed25519 public key (64 hex), pinned: obtained out of band, not from the service")],
    keys_dir: Annotated[Path | None, typer.Option(
        "--keys-dir", envvar="ZKMARGIN_KEYS_DIR",
        help="the key directory holding the escrow statements' verifying keys (default: $ZKMARGIN_HOME/keys)")] = None,
    grace_seconds: Annotated[int, typer.Option(
        "--grace-seconds", min=0, help="this guardian's grace period after a missed attestation deadline")] = (
        DEFAULT_GRACE_SECONDS),
    home: HomeOpt = None, passphrase_file: PassphraseFileOpt = None, insecure: InsecureOpt = False,
) -> None:
    """Check a liquidation request; if every check passes, post this guardian's decryption share."""
    with _explained_errors(), _guardian(home, passphrase_file) as (state, _):
        if state.share is None:
            raise GuardianFileError("this guardian holds no share yet: finish the key ceremony first "
                                    "(`zkmargin guardian dkg finish`)")
        with LiquidationService(service, insecure=insecure) as client:
            served_key = client.operator_key()
            approved = approve(client.liquidation(liquidation_id), operator_key=operator_key,
                               served_operator_key=served_key, epochs=client.epoch,
                               guardian_set=state.share.guardian_set,
                               keys_dir=keys_dir or default_keys_dir(), now=datetime.now(UTC),
                               grace_seconds=grace_seconds)
            for check in approved.checks:
                say(check, "[green]checked:[/green] ")
            share = share_for(approved, state.share)
            answer = client.post_share(liquidation_id, state.index,
                                       decryption_share_to_json(state.share.guardian_set, share))
    say(f"guardian {state.index} posted its share for liquidation {liquidation_id} (account "
        f"{approved.request.account_id}): the service holds {len(answer.shares)} of {answer.threshold}, "
        f"status {answer.status}")


def register(app: typer.Typer) -> None:
    """Mount ``guardian`` on the project's CLI."""
    app.add_typer(guardian_app, name="guardian", rich_help_panel=PANEL)
