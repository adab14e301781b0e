"""Shared fixtures: one real embedded stack per test session.

The session stack runs beside any stack the user has (its own data directory
under pytest's tmp dir and its own free ports); the jar cache is shared.
``stack`` yields its Settings and puts the ``smartcity stack env`` variables
into os.environ for the session, so code under test finds it the way a user's
shell would.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from smartcity.settings import Settings
from smartcity.stack.ports import free_port_block
from smartcity.stack.runner import Stack


def stack_environment(data_dir: str) -> dict[str, str]:
    return {
        "SMARTCITY_DATA_DIR": data_dir,
        "SMARTCITY_START_TIMEOUT_S": "180",
        # The suite's own test DAGs (forced failures, tiny deadlines) beside the product's dags/.
        "SMARTCITY_AIRFLOW_EXTRA_DAGS_DIR": str(Path(__file__).parent / "airflow" / "dags"),
        **free_port_block(),
    }


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    with pytest.MonkeyPatch.context() as mp:
        for key, value in stack_environment(str(tmp_path_factory.mktemp("stack"))).items():
            mp.setenv(key, value)
        runner = Stack(Settings())
        try:
            runner.up()
            for key, value in runner.env().items():
                mp.setenv(key, value)
            mp.setenv("PATH", f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ.get('PATH', '')}")
            yield Settings()
        finally:
            runner.down()


@pytest.fixture(scope="session")
def stack_runner(stack: Settings) -> Stack:
    """The Stack object of the session stack (for status/logs/after-ready checks)."""
    return Stack(stack)
