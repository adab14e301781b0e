"""``smartcity aws ...``: create, inspect and remove the pipeline's AWS resources.

Mounted in the main CLI as ``app.add_typer(aws_app, name="aws")``. Runs against whatever the environment
points boto3 at: the embedded stack (its S3 and Glue/Athena stand-in) or real AWS (``SMARTCITY_TARGET=aws``
and no endpoint variables).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
from rich.console import Console
from rich.table import Table

from smartcity.aws import iam
from smartcity.aws.clients import AwsClients, AwsSetupError, error_code, error_message
from smartcity.aws.connections import airflow_settings, export_lines
from smartcity.aws.plan import Change, Step, apply, plan_bootstrap, plan_teardown
from smartcity.aws.resources import (
    DEFAULT_WORKGROUP,
    InvalidNameError,
    Names,
    names_from,
)
from smartcity.settings import get_settings

app = typer.Typer(
    help="The pipeline's AWS resources (buckets, Glue, Athena) and IAM policies.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)

WorkGroupName = Annotated[
    str, typer.Option("--workgroup", envvar="SMARTCITY_ATHENA_WORKGROUP", help="Athena work group")
]
CrawlerRole = Annotated[
    str | None,
    typer.Option(
        "--crawler-role",
        help="IAM role (name or ARN) the crawlers run as (default: $SMARTCITY_GLUE_CRAWLER_ROLE); "
        "see `smartcity aws iam-policy crawler`",
    ),
]
DryRun = Annotated[bool, typer.Option("--dry-run", help="print the plan, change nothing")]

_STYLE = {
    Change.CREATE: "green",
    Change.UPDATE: "yellow",
    Change.DELETE: "red",
    Change.KEEP: "dim",
    Change.SKIP: "yellow",
}


@contextmanager
def _expected_errors() -> Iterator[None]:
    """Turn the problems a user can fix into one message and exit code 1 (no traceback)."""
    try:
        yield
    except (AwsSetupError, InvalidNameError) as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None
    except NoCredentialsError:
        err_console.print(
            "[bold red]error:[/] no AWS credentials: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE "
            "(or start the local stack once: `smartcity stack up`).",
            highlight=False,
        )
        raise typer.Exit(1) from None
    except ClientError as exc:
        operation = exc.operation_name
        err_console.print(f"[bold red]error:[/] {operation} failed: {error_code(exc)}: {error_message(exc)}")
        raise typer.Exit(1) from None
    except BotoCoreError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None


def _names(workgroup: str, role: str | None) -> Names:
    return names_from(get_settings(), workgroup=workgroup, crawler_role=role)


def _print_plan(title: str, steps: list[Step], dry_run: bool) -> None:
    table = Table(title=title + (" (dry run: nothing changed)" if dry_run else ""))
    for column in ("change", "resource", "name", "detail"):
        table.add_column(column)
    for step in steps:
        change = step.change.value if not dry_run or not step.changes_anything else f"would {step.change.value}"
        table.add_row(f"[{_STYLE[step.change]}]{change}[/]", step.kind, step.name, step.detail)
    console.print(table)


def _progress(step: Step) -> None:
    err_console.print(f"[dim]·[/] {step.change.value} {step.kind} {step.name}", highlight=False)


@app.command()
def bootstrap(
    dry_run: DryRun = False,
    crawler_role: CrawlerRole = None,
    workgroup: WorkGroupName = DEFAULT_WORKGROUP,
) -> None:
    """Create what the pipeline needs (idempotent): buckets, Glue database and crawlers, Athena work group."""
    with _expected_errors():
        settings = get_settings()
        names = _names(workgroup, crawler_role)
        steps = plan_bootstrap(AwsClients(settings), names)
        _print_plan("smartcity aws bootstrap", steps, dry_run)
        if not dry_run:
            apply(steps, progress=_progress)
        changed = sum(step.changes_anything for step in steps)
        verb = "would change" if dry_run else "changed"
        console.print(f"{verb} {changed} of {len(steps)} resources")
    typer.echo("\n# Airflow and pipeline settings (credentials: the AWS_* environment or the instance role)")
    typer.echo(export_lines(airflow_settings(settings, names)), nl=False)


@app.command()
def teardown(
    dry_run: DryRun = False,
    delete_data: Annotated[
        bool, typer.Option("--delete-data", help="also empty and delete buckets that hold objects")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask")] = False,
    crawler_role: CrawlerRole = None,
    workgroup: WorkGroupName = DEFAULT_WORKGROUP,
) -> None:
    """Delete what bootstrap created (tagged smartcity:managed-by) and nothing else."""
    with _expected_errors():
        names = _names(workgroup, crawler_role)
        steps = plan_teardown(AwsClients(get_settings()), names, delete_data=delete_data)
        _print_plan("smartcity aws teardown", steps, dry_run)
        deleting = [step for step in steps if step.change is Change.DELETE]
        if not dry_run and deleting:
            if not yes and not typer.confirm(f"Delete these {len(deleting)} resources?"):
                raise typer.Exit(1)
            apply(steps, delete_data=delete_data, progress=_progress)
        skipped = [step for step in steps if step.change is Change.SKIP]
        if skipped and not dry_run:
            raise AwsSetupError(
                "teardown left " + "; ".join(f"{step.kind} {step.name} ({step.detail})" for step in skipped)
            )
        console.print(f"{'would delete' if dry_run else 'deleted'} {len(deleting)} resources")


@app.command("iam-policy")
def iam_policy(
    principal: Annotated[
        str, typer.Argument(help="bootstrap (runs this command), pipeline (Airflow + Spark) or crawler (its role)")
    ],
    account_id: Annotated[
        str | None, typer.Option("--account-id", help="AWS account id (default: asked from STS)")
    ] = None,
    trust: Annotated[bool, typer.Option("--trust", help="print the crawler role's trust policy instead")] = False,
    crawler_role: CrawlerRole = None,
    workgroup: WorkGroupName = DEFAULT_WORKGROUP,
) -> None:
    """Print the least-privilege IAM policy for one principal, for the configured names."""
    with _expected_errors():
        if principal not in iam.PRINCIPALS:
            raise AwsSetupError(f"unknown principal {principal!r}: choose one of {', '.join(iam.PRINCIPALS)}")
        if trust:
            typer.echo(iam.render(iam.CRAWLER_TRUST_POLICY), nl=False)
            return
        settings = get_settings()
        names = _names(workgroup, crawler_role)
        clients = AwsClients(settings)
        account = iam.Account(
            account_id=account_id or clients.account,
            region=settings.aws_region,
            partition=clients.partition if account_id is None else "aws",
        )
        document = iam.policy(principal, names, account, settings.alert_sns_topic_arn)  # type: ignore[arg-type]
        typer.echo(iam.render(document), nl=False)


@app.command()
def connections(
    crawler_role: CrawlerRole = None,
    workgroup: WorkGroupName = DEFAULT_WORKGROUP,
) -> None:
    """Print the Airflow connection and pipeline settings for the configured target (no secrets)."""
    with _expected_errors():
        names = _names(workgroup, crawler_role)
    typer.echo(export_lines(airflow_settings(get_settings(), names)), nl=False)
