"""Opaque NextToken values, the way AWS hands them out: clients pass them back unchanged."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from smartcity.standin.errors import AwsError


def encode_token(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


def decode_token(token: str | None, kind: type = str, error_code: str = "InvalidInputException") -> Any:
    """The value behind a NextToken (None for the first page); a token not made here is a client error."""
    if not token:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, binascii.Error, UnicodeError):
        value = None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise AwsError(error_code, "Invalid pagination token (NextToken)")
    return value
