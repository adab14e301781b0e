"""``python -m smartcity.aws ...``: the ``smartcity aws`` commands without the rest of the CLI (containers)."""

from smartcity.aws.cli import app

app(prog_name="smartcity aws")
