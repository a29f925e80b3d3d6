"""`retail-mlops`: generate sample data, materialize the whole graph locally, serve the API."""

from __future__ import annotations

import json
import os
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

app = typer.Typer(help="Retail basket price-sensitivity MLOps on Dagster.", no_args_is_help=True, add_completion=False)
console = Console()


class SampleProfile(str, Enum):
    """The sample generator's profiles (retail_assets.sample_data.PROFILES)."""

    default = "default"
    realistic = "realistic"


@app.command("sample-data")
def sample_data(
    out: Annotated[Path, typer.Option(help="Directory to write transactions_YYYYWW.csv files into.")] = Path("sample_data"),
    weeks: Annotated[int, typer.Option(min=1, help="Number of consecutive shop weeks.")] = 12,
    baskets_per_week: Annotated[int, typer.Option(min=1, help="Baskets per week (about 6.5 lines each).")] = 4000,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed writes the same files.")] = 7,
    first_week: Annotated[int, typer.Option(help="First shop week, YYYYWW.")] = 200607,
    profile: Annotated[
        SampleProfile,
        typer.Option(help="default: a noisy label with a known ceiling (~0.93); realistic: labels nearly set by the products (~0.99), as on the real extract."),
    ] = SampleProfile.default,
) -> None:
    """Write realistic weekly extracts in the dunnhumby layout (see docs/sample_data.md)."""
    from retail_assets.sample_data import generate_sample_data

    with console.status(f"generating {weeks} weeks x {baskets_per_week} {profile.value} baskets into {out}"):
        report = generate_sample_data(
            out, weeks=weeks, baskets_per_week=baskets_per_week, seed=seed, first_week=first_week, profile=profile.value
        )
    console.print(
        f"[green]wrote {len(report.files)} files[/green], {report.rows:,} rows, {report.baskets:,} baskets into {out}\n"
        f"label shares {json.dumps({k: round(v, 3) for k, v in report.label_shares.items()})}; "
        f"best achievable macro-F1 (the generator's Bayes ceiling) {report.ceiling_macro_f1:.3f}"
    )


@app.command()
def materialize(
    landing: Annotated[Path | None, typer.Option(help="A directory of transactions_YYYYWW.csv files to land first.")] = None,
) -> None:
    """Land files and materialize the whole graph locally, in order: raw -> silver/gold -> features -> model -> release -> basket_predictions -> monitoring."""
    from retail_assets.pipeline import PipelineError, run_pipeline

    try:
        summary = run_pipeline(landing, _instance(), _progress())
    except PipelineError as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(code=1) from error
    for line in summary.lines():
        console.print(line)
    if summary.weeks_rejected:
        console.print(
            f"[red]error:[/red] {len(summary.weeks_rejected)} week(s) could not be read and were set aside: "
            f"{', '.join(summary.weeks_rejected)} (see {summary.rejected}); the other weeks were built"
        )
    if summary.files_misnamed:
        console.print(
            f"[red]error:[/red] {len(summary.files_misnamed)} file(s) in the landing zone are not named "
            f"transactions_YYYYWW.csv and were not ingested (see {summary.rejected})"
        )
    if summary.weeks_rejected or summary.files_misnamed:
        raise typer.Exit(code=1)


@app.command()
def tables() -> None:
    """Show the lake's Delta tables (RETAIL_LAKE: a directory or s3://...): version and row count."""
    from rich.table import Table

    from retail_assets.lake.tables import table_statuses
    from retail_assets.settings import get_environment
    from retail_model.lake import open_lake

    settings = get_environment()
    lake = open_lake(settings.lake, settings.aws)
    table = Table("table", "version", "rows", "address", title=f"lake {lake.uri}")
    for status in table_statuses(lake):
        version = "-" if status.version is None else str(status.version)
        table.add_row(status.name, version, f"{status.rows:,}", status.uri)
    console.print(table)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    access_log: Annotated[
        bool, typer.Option(help="One log line per request (costs throughput; /metrics and the prediction log record every request).")
    ] = False,
) -> None:
    """Serve the inference API on the lake's released (else newest approved) model."""
    import uvicorn

    # uvloop + httptools: about twice the requests/s of asyncio + h11 (bench/README.md). One worker:
    # scale with processes behind a load balancer (replicas), each with its own /metrics.
    uvicorn.run(
        "retail_api.app:create_app", factory=True, host=host, port=port, loop="uvloop", http="httptools", access_log=access_log
    )


models = typer.Typer(help="The model registry: list versions, approve or reject one (see docs/models.md).", no_args_is_help=True)
app.add_typer(models, name="models")


@models.command("list")
def models_list() -> None:
    """Every registered version: status, test scores, the last decision, and which one serves."""
    from rich.table import Table

    registry, _ = _registry_and_release()
    serving = registry.serving_entry()
    table = Table()
    for column in ("version", "status", "registered", "macro-F1", "accuracy", "serving"):
        table.add_column(column, no_wrap=True)  # ids and states are copied from here: never cut them
    table.add_column("last decision", overflow="fold")
    for entry in registry.list_versions():
        last = entry.history[-1] if entry.history else {}
        table.add_row(
            entry.version,
            entry.status,
            entry.created_at[:16].replace("T", " "),
            _score(entry.metrics.get("macro_f1")),
            _score(entry.metrics.get("accuracy")),
            "<- serving" if serving is not None and serving.version == entry.version else "",
            f"{last.get('actor', '')}: {last.get('reason', '')}"[:160],
        )
    # Piped into a file or a script, print the table whole instead of cutting it at 80 columns.
    (console if console.is_terminal else Console(width=200)).print(table)
    if serving is None:
        console.print("[yellow]no model serves: approve one (retail-mlops models approve VERSION --reason ...)[/yellow]")


@models.command("approve")
def models_approve(
    version: Annotated[str, typer.Argument(help="The model version, as `retail-mlops models list` shows it.")],
    reason: Annotated[str, typer.Option(help="Why it may serve; recorded in the registry with your name.")],
    by: Annotated[str | None, typer.Option(help="Who decides (default: your login name).")] = None,
) -> None:
    """Approve a version that passed the promotion gate; the model_approval_sensor then releases it."""
    from retail_model.registry import APPROVED

    registry, _ = _registry_and_release()
    entry = _decide(lambda: registry.decide(version, APPROVED, reason, by or _login()))
    console.print(
        f"[green]{entry.version} is Approved[/green]. The model_approval_sensor releases it within a minute while "
        "`dagster dev` runs (make ui); its smoke test runs first, and the current model keeps serving if it fails."
    )


@models.command("reject")
def models_reject(
    version: Annotated[str, typer.Argument(help="The model version, as `retail-mlops models list` shows it.")],
    reason: Annotated[str, typer.Option(help="Why it must not serve; recorded in the registry with your name.")],
    by: Annotated[str | None, typer.Option(help="Who decides (default: your login name).")] = None,
    wait: Annotated[float, typer.Option(help="Seconds to wait for a release in progress before the rollback.")] = 120.0,
) -> None:
    """Reject a version for good; if it serves, serving rolls back to the previous Approved release."""
    from retail_assets.release.approvals import reject_and_roll_back
    from retail_assets.release.target import ReleaseError
    from retail_model.lake import LockBusyError

    registry, target = _registry_and_release()
    try:
        entry, rolled_back = _decide(lambda: reject_and_roll_back(registry, target, registry.lake, version, reason, by or _login(), wait))
    except ReleaseError as error:
        console.print(f"[yellow]{version} is Rejected, but serving could not roll back: {error}[/yellow]")
        raise typer.Exit(code=1) from error
    except LockBusyError as error:
        console.print(
            f"[yellow]{version} is Rejected, but a release is still in progress after {wait:g} s, so serving has not rolled "
            f"back yet ({error}). Once it ends, the model_approval_sensor rolls back (while `dagster dev` runs), or run this "
            "command again.[/yellow]"
        )
        raise typer.Exit(code=1) from error
    console.print(f"[green]{entry.version} is Rejected[/green].")
    if rolled_back is not None:
        console.print(f"It was serving: serving rolled back to {rolled_back.version}.")


alarms = typer.Typer(help="CloudWatch alarms on the pipeline's alert metrics (see docs/monitoring.md).", no_args_is_help=True)
app.add_typer(alarms, name="alarms")


@alarms.command("sync")
def alarms_sync(
    prefix: Annotated[str, typer.Option(help="Alarm and topic name prefix; Terraform's is <project>-<environment>.")] = "retail-mlops",
    email: Annotated[str | None, typer.Option(help="Subscribe this address to the alert topic (AWS e-mails a confirmation link).")] = None,
    kms_key: Annotated[str | None, typer.Option(help="KMS key for the topic (it must let CloudWatch use it).")] = None,
) -> None:
    """Create or update the SNS alert topic and the pipeline's CloudWatch alarms, for accounts without the Terraform in infra/."""
    import boto3
    from rich.table import Table

    from retail_assets.alerts.alarms import AlarmSyncError, sync_alarms
    from retail_assets.settings import ConfigurationError, get_environment

    try:
        settings = get_environment()
        session = boto3.session.Session(region_name=settings.aws.region)
        if session.region_name is None:
            raise ConfigurationError("no AWS region: set AWS_DEFAULT_REGION")
        cloudwatch = session.client("cloudwatch", endpoint_url=settings.aws.endpoint_url)
        sns = session.client("sns", endpoint_url=settings.aws.endpoint_url)
        result = sync_alarms(cloudwatch, sns, prefix, settings.alerts_namespace, email, kms_key)
    except (ConfigurationError, AlarmSyncError) as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(code=1) from error
    table = Table("alarm", "change", title=f"namespace {settings.alerts_namespace}, actions -> {result.topic_arn}")
    for name, change in result.alarms.items():
        table.add_row(name, change)
    (console if console.is_terminal else Console(width=200)).print(table)
    if result.subscription:
        console.print(result.subscription)
    if settings.alerts_backend != "cloudwatch":
        console.print(
            f"[yellow]RETAIL_ALERTS is {settings.alerts_backend}: the pipeline writes its alerts to the lake, so these alarms "
            "see no data until the Dagster deployment runs with RETAIL_ALERTS=cloudwatch (or RETAIL_MODE=aws).[/yellow]"
        )


def _registry_and_release():
    from retail_assets.backends import release_target
    from retail_assets.settings import ConfigurationError, get_environment
    from retail_model.lake import open_lake
    from retail_model.registry import open_registry

    try:
        settings = get_environment()
        registry = open_registry(settings, open_lake(settings.lake, settings.aws))
        return registry, release_target(settings, registry)
    except ConfigurationError as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(code=1) from error


def _decide(decision):
    from retail_model.registry import RegistryError

    try:
        return decision()
    except RegistryError as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(code=1) from error


def _login() -> str:
    import getpass

    return getpass.getuser()


def _score(value) -> str:
    return f"{value:.3f}" if isinstance(value, float) else "-"


def _instance():
    """The Dagster instance `dagster dev` uses, so the UI shows these runs (DAGSTER_HOME, default ./.dagster_home)."""
    from dagster import DagsterInstance

    from retail_assets.event_store import instance_settings

    home = Path(os.environ.setdefault("DAGSTER_HOME", str(Path(".dagster_home").resolve())))
    home.mkdir(parents=True, exist_ok=True)
    settings = home / "dagster.yaml"
    if not settings.exists():  # SQLite under DAGSTER_HOME, a step's materializations written in one go
        settings.write_text(instance_settings(home))
    return DagsterInstance.get()


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    )
