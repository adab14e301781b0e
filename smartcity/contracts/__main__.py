"""``python -m smartcity.contracts``: regenerate the docs table and JSON Schemas."""

from smartcity.contracts.generate import app

app(prog_name="python -m smartcity.contracts")
