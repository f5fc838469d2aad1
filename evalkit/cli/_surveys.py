"""``evalkit surveys validate|codebook|deploy|retire|move-server``, ``participants add|remind``,
``pull``, ``submit``.

A thin layer over :mod:`evalkit.sources` and :mod:`evalkit.codebook`: each command loads
the project, calls the library and prints a short summary; every
:class:`~evalkit.errors.EvalkitError` becomes one ``error: ...`` line on stderr and exit
status 1. :func:`register` adds the commands to the main ``evalkit`` app.

LimeSurvey settings come from ``evalkit.yml`` (``limesurvey: {url, user}``), the password
from ``EVALKIT_LIMESURVEY_PASSWORD`` and the key of the pseudonymous ids from
``EVALKIT_ID_KEY``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from evalkit.cli._common import ProjectOpt, _errors, console, err
from evalkit.errors import ConfigError, EvalkitError

if TYPE_CHECKING:
    from evalkit.config import LimeSurveySettings, ProjectConfig
    from evalkit.instruments import Instrument
    from evalkit.sources import Deployment, Invitations, LimeSurvey

__all__ = ["register"]

InstrumentOpt = Annotated[str, typer.Option("--instrument", "-i", help="Instrument id, as in "
                                            "evalkit.yml.")]
WaveOpt = Annotated[str, typer.Option("--wave", "-w", help="Wave id, as in evalkit.yml.")]
SiteOpt = Annotated[str | None, typer.Option("--site", "-s", help="Site id, as in evalkit.yml.")]

surveys_app = typer.Typer(name="surveys", help="Instruments as data: write a starter, "
                          "validate them, write their codebook and site forms, deploy them "
                          "to LimeSurvey.", no_args_is_help=True,
                          rich_markup_mode=None)
participants_app = typer.Typer(name="participants", help="Participants: register them in "
                               "LimeSurvey with site and wave, send invitations and "
                               "reminders, record how many are expected to answer.",
                               no_args_is_help=True, rich_markup_mode=None)


def _config(project: Path) -> ProjectConfig:
    from evalkit.config import load_config

    return load_config(project)


def _instruments(cfg: ProjectConfig) -> dict[str, Instrument]:
    from evalkit.pipeline import project_instruments

    return project_instruments(cfg)


def _instrument_for(cfg: ProjectConfig, instrument: str, wave: str) -> Instrument:
    instruments = _instruments(cfg)
    where = cfg.root / "evalkit.yml"
    if instrument not in instruments:
        raise ConfigError(f"--instrument: {instrument!r} is not one of the project's "
                          f"instruments {sorted(instruments)} ({where})")
    waves = cfg.instruments[instrument].waves
    if wave not in waves:
        raise ConfigError(f"--wave: instrument {instrument!r} is used at waves {list(waves)}, "
                          f"not {wave!r} ({where})")
    return instruments[instrument]


def _check_site(cfg: ProjectConfig, site: str | None) -> None:
    ids = [s.id for s in cfg.sites]
    if site is not None and site not in ids:
        raise ConfigError(f"--site: {site!r} is not one of the project's sites {ids} "
                          f"({cfg.root / 'evalkit.yml'})")


def _settings(cfg: ProjectConfig) -> LimeSurveySettings:
    if cfg.limesurvey is None:
        raise ConfigError(f"{cfg.root / 'evalkit.yml'}: limesurvey: not set; add "
                          "limesurvey: {url: https://HOST/index.php/admin/remotecontrol, "
                          "user: NAME}")
    return cfg.limesurvey


def _connect(cfg: ProjectConfig, url: str | None = None) -> LimeSurvey:
    from evalkit.sources import connect, password_from_env

    settings = _settings(cfg)
    from evalkit.config import insecure_url_ok

    target = url or settings.url
    if not insecure_url_ok(target, allow_http=False):
        if not settings.allow_http:
            raise ConfigError(f"{target}: plain http would send the LimeSurvey password "
                              "unencrypted; use https:// (or set limesurvey.allow_http: true)")
        err.print(f"warning: {target} is plain http: the LimeSurvey password travels "
                  "unencrypted (limesurvey.allow_http: true)", markup=False, soft_wrap=True)
    return connect(target, settings.user,
                   password_from_env(settings.password_env), timeout=settings.timeout)


def _mapping_file(cfg: ProjectConfig) -> Path:
    from evalkit.sources import MAPPING_FILE

    return cfg.path(MAPPING_FILE)


def _deployment(cfg: ProjectConfig, instrument: str, wave: str, site: str | None
                ) -> Deployment:
    from evalkit.sources import load_deployments

    path = _mapping_file(cfg)
    found = load_deployments(path).find(instrument=instrument, wave=wave, site=site)
    if site is None and len(found) > 1:
        raise ConfigError(f"{path}: instrument {instrument!r} wave {wave!r} is deployed as "
                          f"{len(found)} surveys (one per site); choose one with --site")
    if not found:
        raise ConfigError(f"{path}: instrument {instrument!r} wave {wave!r}"
                          f"{f' site {site!r}' if site else ''} is not deployed; run "
                          f"`evalkit surveys deploy {instrument} --wave {wave}` first")
    return found[-1]


def _survey_files(project: Path, paths: list[Path] | None) -> list[Path]:
    if not paths:
        root = project.parent if project.is_file() else project
        paths = [root / "surveys"]
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = sorted(p.glob("*.yaml")) + sorted(p.glob("*.yml"))
            if not found:
                raise ConfigError(f"{p}: no instrument files (*.yaml) in this folder")
            files += found
        elif p.is_file():
            files.append(p)
        else:
            raise ConfigError(f"{p}: file or folder not found")
    return files


# surveys ----------------------------------------------------------------------------------
@surveys_app.command("validate")
def validate(
    paths: Annotated[list[Path] | None, typer.Argument(
        help="Instrument files or folders (default: the project's surveys/).")] = None,
    project: ProjectOpt = Path("."),
) -> None:
    """Check every instrument file; errors name the file and the key.

    Example: evalkit surveys validate surveys/
    """
    from evalkit.instruments import load_instrument

    with _errors():
        files = _survey_files(project, paths)
    failed: list[str] = []
    ids: dict[str, Path] = {}
    for path in files:
        try:
            inst = load_instrument(path)
        except EvalkitError as exc:
            failed += str(exc).splitlines()
            continue
        if inst.id in ids:
            failed.append(f"{path}: id: instrument id {inst.id!r} is used by {ids[inst.id]} "
                          "too")
            continue
        ids[inst.id] = path
        console.print(f"ok {path}: {inst.id} v{inst.version}, {len(inst.items)} items, "
                      f"{len(inst.scales)} scales", markup=False, soft_wrap=True)
    for line in failed:
        err.print(f"error: {line}", markup=False, soft_wrap=True)
    if failed:
        raise typer.Exit(code=1)


@surveys_app.command("codebook")
def codebook(
    paths: Annotated[list[Path] | None, typer.Argument(
        help="Instrument files or folders (default: the project's surveys/).")] = None,
    project: ProjectOpt = Path("."),
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", metavar="DIR", help="Folder for codebook.md and codebook.csv (default: "
        "PROJECT/codebook).")] = None,
) -> None:
    """Write the codebook of the instruments as Markdown and CSV.

    Example: evalkit surveys codebook -p my-evaluation --out docs/
    """
    from evalkit.codebook import write_codebook
    from evalkit.instruments import load_instrument

    with _errors():
        files = _survey_files(project, paths)
        instruments = [load_instrument(p) for p in files]
        root = project.parent if project.is_file() else project
        md, csv = write_codebook(instruments, out or root / "codebook")
    console.print(f"Codebook of {len(instruments)} instruments:", markup=False, soft_wrap=True)
    console.print(f"  {md}\n  {csv}", markup=False, soft_wrap=True)


@surveys_app.command("deploy")
def deploy(
    instrument: Annotated[str, typer.Argument(help="Instrument id, as in evalkit.yml.")],
    wave: WaveOpt,
    project: ProjectOpt = Path("."),
    site: SiteOpt = None,
    organizations: Annotated[Path | None, typer.Option(
        metavar="FILE",
        help="CSV of org_id,name: the rows of rating grids (default: the site's organizations "
        "in the store).")] = None,
    title: Annotated[str | None, typer.Option(help="Survey title.")] = None,
    replace: Annotated[bool, typer.Option(
        "--replace", help="Deploy a new survey even if this instrument and wave have one.")
        ] = False,
) -> None:
    """Turn an instrument into an active LimeSurvey survey and record the mapping.

    Generates the .lss survey structure, imports it, activates the survey and its
    participant table (attributes: site, wave, org, role) and records survey id and column
    mapping in limesurvey.yml. Community instruments become anonymized open surveys.

    Example: evalkit surveys deploy partnership --wave baseline -p my-evaluation
    """
    from evalkit.sources import deploy as deploy_survey

    with _errors():
        cfg = _config(project)
        inst = _instrument_for(cfg, instrument, wave)
        _check_site(cfg, site)
        orgs = _organizations(cfg, site, organizations) if any(
            i.type == "rating_grid" for i in inst.items) else None
        if orgs is not None and site is None:
            raise ConfigError(f"--site: instrument {instrument!r} has rating grids whose rows "
                              "are a site's organizations; deploy it once per site")
        with _connect(cfg) as ls:
            d = deploy_survey(ls, inst, wave=wave, site=site, organizations=orgs,
                              sites={s.id: s.name for s in cfg.sites}, title=title,
                              mapping_file=_mapping_file(cfg), replace=replace)
    kind = ("anonymized open survey (no participant table)" if d.anonymized else
            "participant table with attributes site, wave, org, role")
    console.print(f"Deployed {d.instrument} ({d.wave}{', ' + d.site if d.site else ''}) as "
                  f"LimeSurvey survey {d.survey_id}: {len(d.questions)} questions, active, "
                  f"{kind}.", markup=False, soft_wrap=True)
    console.print(f"Mapping recorded in {_mapping_file(cfg)}.", markup=False, soft_wrap=True)


def _organizations(cfg: ProjectConfig, site: str | None, path: Path | None) -> dict[str, str]:
    import pandas as pd

    if path is not None:
        if not path.is_file():
            raise ConfigError(f"--organizations: {path}: file not found")
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        if "org_id" not in frame.columns:
            raise ConfigError(f"--organizations: {path}: expected columns org_id, name; got "
                              f"{list(frame.columns)}")
        if "site_id" in frame.columns and site is not None:
            frame = frame[frame["site_id"] == site]
        names = frame["name"] if "name" in frame.columns else frame["org_id"]
        return dict(zip(frame["org_id"], names, strict=True))
    if site is None:
        return {}
    from evalkit.store import read_table

    if not cfg.store_path.exists():
        raise ConfigError(f"--organizations: site {site!r} has no organizations in the store "
                          f"({cfg.store_path} does not exist); give a CSV of org_id,name")
    frame = read_table(cfg.store_path, "SELECT org_id, name FROM organizations WHERE "
                       "site_id = ? ORDER BY org_id", [site])
    if frame.empty:
        raise ConfigError(f"--organizations: site {site!r} has no organizations in the store; "
                          "give a CSV of org_id,name")
    return dict(zip(frame["org_id"], frame["name"].fillna(frame["org_id"]), strict=True))


@surveys_app.command("retire")
def retire(
    instrument: Annotated[str, typer.Argument(help="Instrument id, as in evalkit.yml.")],
    wave: WaveOpt,
    project: ProjectOpt = Path("."),
    site: SiteOpt = None,
) -> None:
    """End a deployment on purpose: kept in limesurvey.yml as retired, never pulled again.

    For a survey deleted or closed on the server, or replaced by a new deployment.
    Responses already pulled stay in the store. The server is not contacted.

    Example: evalkit surveys retire partnership --wave baseline -p my-evaluation
    """
    from evalkit.sources import retire as retire_deployments

    with _errors():
        cfg = _config(project)
        _instrument_for(cfg, instrument, wave)
        _check_site(cfg, site)
        retired = retire_deployments(_mapping_file(cfg), instrument=instrument, wave=wave,
                                     site=site)
    for d in retired:
        console.print(f"Retired {d.label} on {d.url}: kept in {_mapping_file(cfg)} as "
                      "retired; pull skips it from now on.", markup=False, soft_wrap=True)


@surveys_app.command("move-server")
def move_server(
    to: Annotated[str, typer.Option("--to", metavar="URL",
                                    help="The RemoteControl URL of the server the "
                                    "surveys are on now.")],
    project: ProjectOpt = Path("."),
    from_url: Annotated[str | None, typer.Option(
        "--from", metavar="URL", help="Move only the deployments recorded on this URL.")] = None,
) -> None:
    """Re-map deployments to a LimeSurvey server's new address, on purpose.

    Every active deployment must exist on the new server under the same survey id with
    the same creation time (a moved installation); otherwise nothing changes. Response ids
    keep their origin, so responses already stored are recognised. Moving to the same URL
    records the server's identity of surveys deployed with an older evalkit.

    Example: evalkit surveys move-server --to https://new.example.org/index.php/admin/remotecontrol
    """
    from evalkit.sources import move_server as move

    with _errors():
        cfg = _config(project)
        with _connect(cfg, to) as ls:
            result = move(ls, _mapping_file(cfg), from_url=from_url)
    from evalkit.sources import same_url

    for old, d in zip(result.before, result.deployments, strict=True):
        if same_url(old.url, d.url):
            console.print(f"Recorded the server's identity of {d.label} on {d.url}: created "
                          f"{d.survey_created}.", markup=False, soft_wrap=True)
        elif old.survey_created is None:
            console.print(f"Moved {d.label} from {old.url} to {d.url} and recorded its "
                          f"identity there: created {d.survey_created}.", markup=False,
                          soft_wrap=True)
        else:
            console.print(f"Moved {d.label} from {old.url} to {d.url} (same survey id and "
                          "creation time there).", markup=False, soft_wrap=True)
    if not same_url(_settings(cfg).url, to):
        console.print(f"evalkit.yml still names {_settings(cfg).url}: set limesurvey.url to "
                      f"{to} before the next pull.", markup=False, soft_wrap=True)


# participants ------------------------------------------------------------------------------
@participants_app.command("add")
def participants_add(
    file: Annotated[Path, typer.Argument(help="CSV or XLSX: code, site, email[, firstname, "
                                         "lastname, role, org].")],
    instrument: InstrumentOpt,
    wave: WaveOpt,
    project: ProjectOpt = Path("."),
    site: SiteOpt = None,
    invite: Annotated[bool, typer.Option("--invite", help="Email the invitations now.")
                      ] = False,
) -> None:
    """Register participants in a deployed survey, with site and wave attributes.

    Tokens are keyed hashes of site and participant code: the same person gets the same
    token (and pseudonymous id) in every wave. Names and emails go to LimeSurvey only.
    Running the same list again adds nobody.

    Example: evalkit participants add staff.csv -i partnership -w baseline --invite
    """
    from evalkit.sources import add_participants, id_key, read_participants
    from evalkit.store import Batch, ingest

    with _errors():
        cfg = _config(project)
        _instrument_for(cfg, instrument, wave)
        _check_site(cfg, site)
        d = _deployment(cfg, instrument, wave, site)
        rows = read_participants(file)
        key = id_key()
        with _connect(cfg) as ls:
            result = add_participants(ls, d, rows, key=key, sites=[s.id for s in cfg.sites],
                                      mapping_file=_mapping_file(cfg), invite=invite,
                                      source=str(file))
        if result.participants is not None and len(result.participants):
            ingest(cfg.store_path, Batch(participants=result.participants),
                   source=f"limesurvey:{d.url}:{d.survey_id}:participants", kind="limesurvey",
                   detail={"survey_id": d.survey_id, "participants": len(result.participants)})
    registered = ", ".join(f"{k} {v}" for k, v in sorted(result.registered.items()))
    console.print(f"Added {result.added} participant(s) to survey {d.survey_id} "
                  f"({result.already} already there). Registered: {registered}.",
                  markup=False, soft_wrap=True)
    for line in result.refused:
        err.print(f"warning: refused by LimeSurvey: {line}", markup=False, soft_wrap=True)
    if result.invitations is not None:
        _print_emails("Invitations", result.invitations,
                      retry="the participants are registered; fix the survey's email settings "
                      "in LimeSurvey and run this command again to send the failed ones")


def _print_emails(what: str, inv: Invitations, *, retry: str) -> None:
    """Print what was sent; exit 1 with the failures counted by reason if any failed."""
    from collections import Counter

    console.print(f"{what} sent: {inv.sent}"
                  + (f", {inv.left} left to send (run again)" if inv.left else "") + ".",
                  markup=False, soft_wrap=True)
    if not inv.failed:
        return
    reasons = Counter(" ".join(str(r).split())[:200] or "no reason given"
                      for r in inv.failed.values())
    by_reason = "; ".join(f"{n} x {reason!r}" for reason, n in reasons.most_common())
    err.print(f"error: {len(inv.failed)} of {len(inv.failed) + inv.sent} "
              f"{what.lower()} failed ({by_reason}); {retry}", markup=False, soft_wrap=True)
    raise typer.Exit(code=1)


@participants_app.command("remind")
def participants_remind(
    instrument: InstrumentOpt,
    wave: WaveOpt,
    project: ProjectOpt = Path("."),
    site: SiteOpt = None,
    min_days: Annotated[int | None, typer.Option(
        help="Only if the last email is at least this many days old.")] = None,
    max_reminders: Annotated[int | None, typer.Option(
        help="Only participants reminded fewer times than this.")] = None,
) -> None:
    """Email reminders to invited participants who have not completed the survey.

    Example: evalkit participants remind -i partnership -w baseline --min-days 7
    """
    from evalkit.sources import remind_participants

    with _errors():
        cfg = _config(project)
        _instrument_for(cfg, instrument, wave)
        d = _deployment(cfg, instrument, wave, site)
        with _connect(cfg) as ls:
            result = remind_participants(ls, d, min_days_between=min_days,
                                         max_reminders=max_reminders)
    _print_emails("Reminders", result, retry="fix the survey's email settings in LimeSurvey "
                  "and run this command again")


# pull and submit ---------------------------------------------------------------------------
def pull(
    project: ProjectOpt = Path("."),
    instrument: Annotated[str | None, typer.Option(
        "--instrument", "-i", help="Only this instrument.")] = None,
    wave: Annotated[str | None, typer.Option("--wave", "-w", help="Only this wave.")] = None,
    restart: Annotated[bool, typer.Option(
        "--restart", help="Forget surveys kept from an interrupted pull; fetch all again.")
        ] = False,
) -> None:
    """Export responses from LimeSurvey, map them to item codes and ingest them.

    Complete and incomplete responses (flagged) of every deployed survey, in one
    transaction: re-pulling adds nothing, edited responses are updated. If the server stops
    half-way nothing is ingested and the next pull continues where this one stopped,
    reusing what it fetched only if the server confirms it is unchanged. A server other
    than the one the surveys were deployed on is refused; surveys missing or inactive on
    the server are skipped (the others are pulled, exit status 1); questions the mapping
    does not know are listed on every pull.

    Example: evalkit pull -p my-evaluation
    """
    import shutil

    from evalkit.sources import check_server, id_key, load_deployments
    from evalkit.sources import pull as pull_responses

    with _errors():
        cfg = _config(project)
        instruments = _instruments(cfg)
        recorded = load_deployments(_mapping_file(cfg))
        deployments = recorded.find(instrument=instrument, wave=wave)
        if not deployments:
            if recorded.find(instrument=instrument, wave=wave, retired=True):
                console.print("Nothing to pull: every deployed survey"
                              f"{' of ' + instrument if instrument else ''}"
                              f"{' wave ' + wave if wave else ''} is retired.", markup=False,
                              soft_wrap=True)
                return
            raise ConfigError(f"{_mapping_file(cfg)}: no deployed survey"
                              f"{' for ' + instrument if instrument else ''}"
                              f"{' wave ' + wave if wave else ''}; run `evalkit surveys "
                              "deploy` first")
        check_server(deployments, _settings(cfg).url)  # before connecting anywhere
        staging = cfg.path(".evalkit/pull")
        if restart and staging.exists():
            shutil.rmtree(staging)
        key = id_key()
        with _connect(cfg) as ls:
            summary = pull_responses(
                ls, deployments, instruments, store=cfg.store_path, key=key, staging=staging,
                progress=lambda d: console.print(
                    f"Exporting survey {d.survey_id} ({d.instrument}, {d.wave}"
                    f"{', ' + d.site if d.site else ''})", markup=False, soft_wrap=True))
    copies = {"reused": " (kept copy from the interrupted pull reused: the server confirms it "
                        "is unchanged)",
              "refetched": " (kept copy from the interrupted pull not confirmed unchanged by "
                           "the server: fetched again)"}
    for row in summary.surveys.itertuples(index=False):
        console.print(f"  survey {row.survey_id} {row.instrument} {row.wave}: "
                      f"{row.complete} complete, {row.incomplete} incomplete"
                      f"{copies.get(str(row.copy), '')}", markup=False, soft_wrap=True)
    s = summary.ingest
    if s is None:
        console.print("No responses on the server yet." if not summary.skipped else
                      "No responses pulled.", markup=False, soft_wrap=True)
    elif s.skipped:
        console.print(f"Nothing new: the store already holds these {summary.responses} "
                      "responses.", markup=False, soft_wrap=True)
    else:
        console.print(f"Store: {s.inserted} new, {s.updated} updated, {s.unchanged} unchanged "
                      f"responses ({s.answers_written} answers written).", markup=False,
                      soft_wrap=True)
    for note in summary.notes:
        err.print(f"warning: {note}", markup=False, soft_wrap=True)
    for line in summary.skipped:
        err.print(f"warning: {line}", markup=False, soft_wrap=True)
    if summary.skipped:
        names = ", ".join(line.split(":")[0] for line in summary.skipped)
        err.print(f"error: {len(summary.skipped)} of {len(deployments)} survey(s) skipped "
                  f"({names}), the others were pulled; end a deployment on purpose with "
                  "`evalkit surveys retire INSTRUMENT --wave WAVE`", markup=False,
                  soft_wrap=True)
        raise typer.Exit(code=1)


def submit(
    file: Annotated[Path, typer.Argument(help="CSV or XLSX: one row per response, one column "
                                         "per item.")],
    site: Annotated[str, typer.Option("--site", "-s", help="Site id, as in evalkit.yml.")],
    wave: WaveOpt,
    instrument: InstrumentOpt,
    project: ProjectOpt = Path("."),
    report: Annotated[Path | None, typer.Option(
        metavar="FILE",
        help="Where to write the validation report if the file is rejected or accepted with "
        "warnings (default: FILE.validation.csv).")] = None,
    replace: Annotated[bool, typer.Option(
        "--replace", help="Replace responses with the same ids stored before from another "
        "file (without it such a file is refused, naming that file).")] = False,
    sheet: Annotated[str | None, typer.Option(
        help="The workbook sheet to read, when several sheets hold data.")] = None,
    wait: Annotated[float, typer.Option(
        min=0, metavar="SECONDS",
        help="Seconds to wait while another evalkit process writes to the store "
        "(default: refuse at once).")] = 0.0,
) -> None:
    """Validate a site's file of responses and ingest it whole, or reject it whole.

    The file (CSV or XLSX): one row per response, row 1 the headers. One column per item,
    headed by its code (PSA01); rating grids one per organization, ITEM[ORG_ID]; multiple
    choice one per option, ITEM[OPTION], 1 ticked / 0 not. Besides the items:
    response_id (the form's number; needed unless participant_code identifies each row),
    participant_code (the site's code for the person, never a name; turned into a
    pseudonym, never stored), submitted_at (YYYY-MM-DD, optional) and complete (yes / no,
    optional, default yes). Codes are the instrument's, written 0-9; an item not asked (its
    skip condition) is blank. `evalkit surveys form` writes a workbook with these columns.

    Every cell is checked against the instrument; any problem rejects the file and the
    validation report lists each one by row (as the file numbers it, header = 1), column,
    value and rule. Ids that responses stored from another file already use are refused
    unless --replace; a self-generated code seen twice in a wave is stored unlinked and
    listed in the report. The same file submitted twice is recognised by its hash.

    Example: evalkit submit paper_forms.xlsx --site S01 --wave baseline -i community
    """
    from evalkit.sources import SubmissionRejectedError, id_key, submit_file

    with _errors(file):
        cfg = _config(project)
        inst = _instrument_for(cfg, instrument, wave)
        _check_site(cfg, site)
        try:
            result = submit_file(file, inst, site=site, wave=wave, store=cfg.store_path,
                                 key=id_key(), report=report, replace=replace, sheet=sheet,
                                 wait=wait)
        except SubmissionRejectedError as exc:
            import pandas as pd

            problems = exc.report if isinstance(exc.report, pd.DataFrame) else pd.DataFrame()
            for p in problems.head(20).itertuples(index=False):
                err.print(f"  row {p.row}, column {p.column!r}, value {p.value!r}: "
                          f"{p.message} (rule {p.rule})", markup=False, soft_wrap=True)
            if len(problems) > 20:
                err.print(f"  ... and {len(problems) - 20} more in the report",
                          markup=False, soft_wrap=True)
            raise
    s = result.ingest
    if s.skipped:
        console.print(f"Already ingested: {file} (same SHA-256 {result.sha256[:12]}); "
                      "nothing changed.", markup=False, soft_wrap=True)
        return
    console.print(f"Accepted {file}: {result.rows} responses ({inst.id}, {wave}, {site}). "
                  f"Store: {s.inserted} new, {s.updated} updated, {s.unchanged} unchanged.",
                  markup=False, soft_wrap=True)
    if len(result.warnings):
        err.print(f"warning: {len(result.warnings)} response(s) share a self-generated code "
                  "with another response of this wave and were stored unlinked (no "
                  f"respondent id); listed in {result.report}", markup=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add ``surveys``, ``participants``, ``pull`` and ``submit`` to the ``evalkit`` app."""
    app.add_typer(surveys_app, name="surveys")
    app.add_typer(participants_app, name="participants")
    app.command("pull")(pull)
    app.command("submit")(submit)
