"""The HTTP face of the stand-in (Starlette on uvicorn): one POST endpoint for Glue, Athena and STS, and
``GET /health`` for the stack's readiness probe.

Every API request is SigV4-checked, routed by ``X-Amz-Target`` (JSON 1.1) or ``Action`` (STS Query
protocol), validated against botocore's model of the operation and answered in the AWS wire format,
errors included. Handlers are blocking (SQLite, S3) and run in Starlette's thread pool.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from smartcity.standin import protocol, sts
from smartcity.standin.athena import Athena
from smartcity.standin.errors import AwsError
from smartcity.standin.glue_catalog import GlueCatalog
from smartcity.standin.glue_crawlers import GlueCrawlers
from smartcity.standin.lake import Lake, LocationError, parse_s3_uri
from smartcity.standin.mirror import LakeMirror
from smartcity.standin.query_engine import QueryEngine
from smartcity.standin.service import Handler
from smartcity.standin.sigv4 import SignedRequest, SigV4Checker
from smartcity.standin.store import Store

log = logging.getLogger(__name__)

MAX_BODY = 8 * 1024 * 1024  # far above any Glue/Athena request; larger bodies are refused unread


@dataclass(frozen=True)
class StandinConfig:
    """Everything the stand-in needs; :func:`smartcity.standin.__main__` builds it from the project Settings."""

    state_dir: Path
    access_key: str
    secret_key: str
    s3_endpoint: str
    region: str
    readable_buckets: frozenset[str]
    athena_output: str
    host: str = "127.0.0.1"
    port: int = 4566

    @property
    def writable_buckets(self) -> frozenset[str]:
        return frozenset({parse_s3_uri(self.athena_output).bucket})


class Standin:
    """The assembled services: store, lake access, Glue catalog and crawlers, Athena."""

    def __init__(self, config: StandinConfig) -> None:
        self.config = config
        self.store = Store(config.state_dir / "catalog.sqlite3")
        self.lake = Lake(
            endpoint=config.s3_endpoint,
            access_key=config.access_key,
            secret_key=config.secret_key,
            region=config.region,
            readable=config.readable_buckets,
            writable=config.writable_buckets,
        )
        self.catalog = GlueCatalog(self.store, self.lake, config.region)
        self.crawlers = GlueCrawlers(self.catalog)
        mirror = LakeMirror(self.lake.fs, config.state_dir / "mirror")
        engine = QueryEngine(self.catalog, config.state_dir / "results", mirror)
        self.athena = Athena(self.catalog, engine, config.athena_output)
        self.checker = SigV4Checker(config.access_key, config.secret_key)
        self.handlers: dict[str, dict[str, Handler]] = {
            "glue": {**self.catalog.handlers(), **self.crawlers.handlers()},
            "athena": self.athena.handlers(),
        }

    def close(self) -> None:
        self.crawlers.shutdown()
        self.athena.shutdown()
        self.store.close()

    # ------------------------------------------------------------------ dispatch
    def json_call(self, target: str, request: SignedRequest) -> tuple[int, bytes]:
        """Answer one AWS JSON 1.1 request: (HTTP status, body)."""
        try:
            prefix, _, operation = target.partition(".")
            service = protocol.TARGET_PREFIXES.get(prefix)
            if service is None:
                raise AwsError("UnknownOperationException", f"Unknown service target {target!r}")
            self.checker.verify(request, expected_service=service)
            model = protocol.operation_model(service, operation)
            handler = self.handlers[service].get(operation)
            if model is None or handler is None:
                raise AwsError("UnknownOperationException", f"Operation {operation!r} is not supported by {service}")
            params = protocol.parse_body(request.body)
            protocol.validate_input(model, params)
            return 200, protocol.encode_response(handler(params))
        except AwsError as error:
            return error.status, protocol.encode_error(error)
        except LocationError as error:
            return 400, protocol.encode_error(AwsError("InvalidInputException", str(error)))
        except Exception:  # a bug, not the client's fault: answered as AWS answers its own failures
            log.exception("%s failed", target)
            return 500, protocol.encode_error(AwsError("InternalServiceException", "Internal service error", 500))

    def sts_call(self, request: SignedRequest) -> tuple[int, str]:
        try:
            form = parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True)
            caller = self.checker.verify(request, expected_service="sts", query_protocol=True)
            action = (form.get("Action") or [""])[0]
            if action != "GetCallerIdentity":
                raise AwsError("InvalidAction", f"Could not find operation {action!r} for version 2011-06-15")
            return 200, sts.caller_identity_xml(caller.access_key)
        except AwsError as error:
            return error.status, sts.error_xml(error.code, error.message)


async def _read_body(request: Request) -> bytes | None:
    declared = request.headers.get("content-length", "0")
    if declared.isdigit() and int(declared) > MAX_BODY:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(config: StandinConfig) -> Starlette:
    """The ASGI application; the services start with it and stop (crawls, queries cancelled) with it."""
    state: dict[str, Standin] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state["standin"] = Standin(config)
        log.info("stand-in ready on http://%s:%d (state in %s)", config.host, config.port, config.state_dir)
        try:
            yield
        finally:
            await run_in_threadpool(state.pop("standin").close)
            log.info("stand-in stopped")

    async def health(request: Request) -> Response:
        ready = "standin" in state
        return JSONResponse(
            {"status": "ok" if ready else "starting", "services": ["glue", "athena", "sts"]}, 200 if ready else 503
        )

    async def api(request: Request) -> Response:
        request_id = str(uuid.uuid4())
        standin = state.get("standin")
        body = await _read_body(request)
        target = request.headers.get("x-amz-target")
        headers: dict[str, Any] = {"x-amzn-RequestId": request_id}
        if body is None:
            error = AwsError("RequestEntityTooLarge", f"Request body larger than {MAX_BODY} bytes", 413)
            return Response(protocol.encode_error(error), error.status, headers, protocol.JSON_CONTENT_TYPE)
        signed = SignedRequest(
            method=request.method,
            url=str(request.url),
            headers={key.lower(): value for key, value in request.headers.items()},
            body=body,
        )
        if standin is None:
            error = AwsError("ServiceUnavailable", "The stand-in is starting", 503)
            return Response(protocol.encode_error(error), error.status, headers, protocol.JSON_CONTENT_TYPE)
        if target:
            status, payload = await run_in_threadpool(standin.json_call, target, signed)
            if status >= 400:
                log.info("%s -> %d %s", target, status, payload[:300].decode(errors="replace"))
            return Response(payload, status, headers, protocol.JSON_CONTENT_TYPE)
        if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            status, xml = await run_in_threadpool(standin.sts_call, signed)
            return Response(xml, status, headers, "text/xml")
        error = AwsError("UnknownOperationException", "Missing X-Amz-Target header (AWS JSON 1.1 protocol)")
        return Response(protocol.encode_error(error), error.status, headers, protocol.JSON_CONTENT_TYPE)

    return Starlette(
        routes=[Route("/health", health, methods=["GET"]), Route("/", api, methods=["POST"])],
        lifespan=lifespan,
    )
