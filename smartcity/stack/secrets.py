"""Credentials generated once per installation and kept 0600 in the data directory.

Nothing secret lives in code, in git or in the supervisor's logs: services and
clients read these values (or the environment variables ``smartcity stack env``
derives from them).
"""

from __future__ import annotations

import json
import os
import secrets
import string
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from smartcity.stack.errors import StackError

_KEY_ALPHABET = string.ascii_uppercase + string.digits


class StackSecrets(BaseModel):
    s3_access_key: str
    s3_secret_key: str
    airflow_password: str
    supervisor_password: str
    seaweed_jwt_write: str
    seaweed_jwt_read: str
    seaweed_filer_jwt_write: str
    seaweed_filer_jwt_read: str
    # Added after the first release: data dirs created before get them generated on the next load.
    kafka_username: str = Field(default_factory=lambda: "smartcity-" + secrets.token_hex(4))
    kafka_password: str = Field(default_factory=lambda: secrets.token_urlsafe(24))


def _generate() -> StackSecrets:
    return StackSecrets(
        # Shaped like AWS keys (20 upper-case alphanumerics / 40 characters) so every client accepts them.
        s3_access_key="SC" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(18)),
        s3_secret_key=secrets.token_urlsafe(30)[:40],
        airflow_password=secrets.token_urlsafe(18),
        supervisor_password=secrets.token_urlsafe(18),
        seaweed_jwt_write=secrets.token_hex(32),
        seaweed_jwt_read=secrets.token_hex(32),
        seaweed_filer_jwt_write=secrets.token_hex(32),
        seaweed_filer_jwt_read=secrets.token_hex(32),
    )


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by the owner only (created 0600, never world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


def load(path: Path) -> StackSecrets | None:
    """The stored secrets, None if never generated; a corrupt file is a clear error."""
    if not path.exists():
        return None
    try:
        return StackSecrets.model_validate(json.loads(path.read_text()))
    except (ValueError, ValidationError) as exc:
        raise StackError(
            f"The secrets file {path} is corrupt ({exc.__class__.__name__}). "
            "Run `smartcity stack reset` to start from a clean data directory."
        ) from exc


def ensure(path: Path) -> StackSecrets:
    """Load the secrets, generating and storing them on first use (and any added since)."""
    existing = load(path)
    if existing is not None:
        if set(json.loads(path.read_text())) != set(StackSecrets.model_fields):
            write_private(path, existing.model_dump_json(indent=2))
        return existing
    created = _generate()
    write_private(path, created.model_dump_json(indent=2))
    return created
