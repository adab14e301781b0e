"""``python -m producers``: see ``producers.cli``."""

from producers.cli import app

app(prog_name="python -m producers")
