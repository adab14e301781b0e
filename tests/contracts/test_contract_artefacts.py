"""The committed docs table and JSON Schemas are generated from the contracts and up to date."""

from __future__ import annotations

import json
import subprocess
import sys

import jsonschema

from smartcity.contracts.generate import JSONSCHEMA_DIR, artefacts, stale_artefacts
from smartcity.contracts.records import CONTRACTS
from smartcity.settings import PROJECT_ROOT


def test_committed_artefacts_are_current():
    assert stale_artefacts(PROJECT_ROOT) == [], "run: python -m smartcity.contracts"


def test_every_schema_file_is_a_valid_json_schema():
    schema_files = [path for path in artefacts() if path.parent == JSONSCHEMA_DIR]
    assert len(schema_files) == len(CONTRACTS)
    for relative in schema_files:
        schema = json.loads((PROJECT_ROOT / relative).read_text())
        jsonschema.Draft202012Validator.check_schema(schema)


def test_every_field_appears_in_the_docs_table():
    docs = (PROJECT_ROOT / "docs" / "contracts.md").read_text()
    for contract in CONTRACTS.values():
        for name in contract.field_names:
            assert f"| `{name}` |" in docs


def test_check_mode_reports_stale_files_and_exits_1(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "smartcity.contracts", "--check", "--root", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "stale: docs/contracts.md" in result.stderr
    written = subprocess.run(
        [sys.executable, "-m", "smartcity.contracts", "--root", str(tmp_path)],
        capture_output=True,
        check=False,
    )
    assert written.returncode == 0
    assert stale_artefacts(tmp_path) == []
