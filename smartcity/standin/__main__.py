"""Run the stand-in in the foreground: ``python -m smartcity.standin [--host H] [--port P]``.

Configuration comes from :class:`smartcity.settings.Settings` (the variables ``smartcity stack env``
prints): ``SMARTCITY_STANDIN_PORT``, ``SMARTCITY_DATA_DIR`` (state in ``<data_dir>/standin``), the stack's
credentials, the S3 endpoint, ``SMARTCITY_LAKE_BUCKET`` / ``SMARTCITY_IMAGES_BUCKET`` (the buckets it may
read) and ``SMARTCITY_ATHENA_OUTPUT``. Logs go to stderr; SIGTERM or Ctrl-C stop it cleanly.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Annotated

import typer
import uvicorn

from smartcity.settings import LOOPBACK, Settings
from smartcity.standin.app import StandinConfig, create_app
from smartcity.standin.lake import LocationError, parse_s3_uri


def config_from_settings(settings: Settings, host: str | None = None, port: int | None = None) -> StandinConfig:
    """The stand-in's configuration from the project settings; raises ValueError naming what is missing."""
    missing = [
        name
        for name, value in (
            ("AWS_ACCESS_KEY_ID", settings.access_key),
            ("AWS_SECRET_ACCESS_KEY", settings.secret_key),
            ("AWS_ENDPOINT_URL_S3", settings.s3_endpoint),
        )
        if not value
    ]
    if missing:
        raise ValueError(f"missing {', '.join(missing)} (export them, or start the local stack once to generate them)")
    try:
        parse_s3_uri(settings.athena_output)
    except LocationError as exc:
        raise ValueError(f"SMARTCITY_ATHENA_OUTPUT: {exc}") from None
    return StandinConfig(
        state_dir=settings.data_dir / "standin",
        access_key=settings.access_key,  # type: ignore[arg-type]  # checked above
        secret_key=settings.secret_key,  # type: ignore[arg-type]
        s3_endpoint=settings.s3_endpoint,  # type: ignore[arg-type]
        region=settings.aws_region,
        readable_buckets=frozenset({settings.lake_bucket, settings.images_bucket}),
        athena_output=settings.athena_output,
        host=host or LOOPBACK,
        port=port or settings.standin_port,
    )


class LogLevel(StrEnum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


def main(
    host: Annotated[str, typer.Option(help="address to bind (loopback by default)")] = LOOPBACK,
    port: Annotated[int | None, typer.Option(help="port (default: SMARTCITY_STANDIN_PORT)")] = None,
    log_level: Annotated[LogLevel, typer.Option(help="debug also logs every request")] = LogLevel.info,
) -> None:
    """Serve the local Glue Data Catalog + crawlers and Athena (and STS GetCallerIdentity)."""
    logging.basicConfig(level=log_level.value.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = config_from_settings(Settings(), host, port)
    except ValueError as exc:
        typer.echo(f"smartcity.standin: cannot start: {exc}", err=True)
        raise typer.Exit(2) from None
    uvicorn.run(
        create_app(config),
        host=config.host,
        port=config.port,
        log_level=log_level.value,
        access_log=log_level is LogLevel.debug,
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    typer.run(main)
