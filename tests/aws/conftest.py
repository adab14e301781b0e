"""Fixtures for ``smartcity aws``: a Glue/Athena stand-in of the tests' own beside the session stack.

Bootstrap is pointed at fresh bucket and database names, so what it creates and deletes can be told apart
from everything else on the session stack's S3. The stand-in may only read and write its configured
buckets, so the tests start one (``python -m smartcity.standin``, as the stack runs it) configured with
these names; S3 is the session stack's real SeaweedFS.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from smartcity.settings import LOOPBACK, Settings


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class LocalAws:
    """The environment that points ``smartcity aws`` at the tests' stand-in with fresh names."""

    env: dict[str, str]
    log: Path


@pytest.fixture(scope="session")
def local_aws(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalAws]:
    suffix = uuid.uuid4().hex[:8]
    port = _free_port()
    url = f"http://{LOOPBACK}:{port}"
    env = {
        "SMARTCITY_IMAGES_BUCKET": f"awstest-{suffix}-images",
        "SMARTCITY_LAKE_BUCKET": f"awstest-{suffix}-lake",
        "SMARTCITY_ATHENA_OUTPUT": f"s3://awstest-{suffix}-athena/results/",
        "SMARTCITY_GLUE_DATABASE": f"awstest_{suffix}",
        "AWS_ENDPOINT_URL_GLUE": url,
        "AWS_ENDPOINT_URL_ATHENA": url,
        "AWS_ENDPOINT_URL_STS": url,
    }
    state = tmp_path_factory.mktemp("aws-standin")
    log = state / "standin.log"
    server_env = {**os.environ, **env, "SMARTCITY_DATA_DIR": str(state), "SMARTCITY_STANDIN_PORT": str(port)}
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "smartcity.standin"], env=server_env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"stand-in exited with {process.returncode}:\n{log.read_text()}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"stand-in not ready in 60 s:\n{log.read_text()}")
            time.sleep(0.1)
        yield LocalAws(env, log)
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture
def aws_settings(local_aws: LocalAws, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings (and os.environ, for the CLI) pointing at the tests' stand-in and fresh names."""
    for key, value in local_aws.env.items():
        monkeypatch.setenv(key, value)
    return Settings()
