"""The AWS JSON 1.1 protocol: operation lookup, input validation against botocore's own service models,
and response encoding.

The operation shapes come from ``botocore.loaders`` (the models boto3 itself uses), so a request the real
service would refuse for its shape is refused here with the same kind of ``ValidationException`` message
("1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null").
Members the model does not know are ignored, as AWS does, so newer clients keep working.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from typing import Any

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape

from smartcity.standin.errors import AwsError, validation

JSON_CONTENT_TYPE = "application/x-amz-json-1.1"

#: X-Amz-Target prefix -> (botocore service name, SigV4 signing name)
TARGET_PREFIXES: dict[str, str] = {"AWSGlue": "glue", "AmazonAthena": "athena"}


@cache
def service_model(service: str) -> ServiceModel:
    return botocore.session.get_session().get_service_model(service)


def operation_model(service: str, operation: str) -> OperationModel | None:
    model = service_model(service)
    if operation not in model.operation_names:
        return None
    return model.operation_model(operation)


def parse_body(body: bytes) -> dict[str, Any]:
    """The JSON request body as a dict (an empty body is an empty request, as botocore sends it)."""
    if not body.strip():
        return {}
    try:
        params = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise AwsError("SerializationException", f"Malformed request body: {exc}") from None
    if not isinstance(params, dict):
        raise AwsError("SerializationException", "The request body must be a JSON object")
    return params


def _lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


class _Validator:
    """Walks a request against its input shape, collecting AWS-style constraint messages."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def fail(self, value: Any, path: str, constraint: str) -> None:
        shown = "null" if value is None else _short(value)
        self.errors.append(f"Value {shown} at '{path}' failed to satisfy constraint: {constraint}")

    def check(self, value: Any, shape: Shape, path: str) -> None:
        kind = shape.type_name
        checker = getattr(self, f"_check_{kind}", None)
        if checker is not None:
            checker(value, shape, path)

    def _check_structure(self, value: Any, shape: Shape, path: str) -> None:
        if not isinstance(value, dict):
            self.fail(value, path or "request", "Member must be a structure")
            return
        for name in shape.required_members:
            if value.get(name) is None:
                self.fail(None, _join(path, name), "Member must not be null")
        for name, member in shape.members.items():
            if value.get(name) is not None:
                self.check(value[name], member, _join(path, name))

    def _check_list(self, value: Any, shape: Shape, path: str) -> None:
        if not isinstance(value, list):
            self.fail(value, path, "Member must be a list")
            return
        self._length(value, shape, path)
        for index, item in enumerate(value):
            if item is None:
                self.fail(None, f"{path}.{index + 1}.member", "Member must not be null")
            else:
                self.check(item, shape.member, f"{path}.{index + 1}.member")

    def _check_map(self, value: Any, shape: Shape, path: str) -> None:
        if not isinstance(value, dict):
            self.fail(value, path, "Member must be a map")
            return
        self._length(value, shape, path)
        for key, item in value.items():
            self.check(key, shape.key, f"{path}.key")
            if item is not None:
                self.check(item, shape.value, f"{path}.{key}.value")

    def _check_string(self, value: Any, shape: Shape, path: str) -> None:
        if not isinstance(value, str):
            self.fail(value, path, "Member must be a string")
            return
        self._length(value, shape, path)
        enum = shape.metadata.get("enum")
        if enum and value not in enum:
            self.fail(value, path, f"Member must satisfy enum value set: [{', '.join(enum)}]")

    def _check_integer(self, value: Any, shape: Shape, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(value, path, "Member must be an integer")
            return
        self._range(value, shape, path)

    _check_long = _check_integer

    def _check_double(self, value: Any, shape: Shape, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            self.fail(value, path, "Member must be a number")
            return
        self._range(value, shape, path)

    _check_float = _check_double

    def _check_boolean(self, value: Any, shape: Shape, path: str) -> None:
        if not isinstance(value, bool):
            self.fail(value, path, "Member must be a boolean")

    def _check_timestamp(self, value: Any, shape: Shape, path: str) -> None:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float | str)
            or (isinstance(value, int | float) and not (math.isfinite(value) and -1e11 < value < 1e11))
        ):
            self.fail(value, path, "Member must be a timestamp")

    def _check_blob(self, value: Any, shape: Shape, path: str) -> None:
        if not isinstance(value, str):
            self.fail(value, path, "Member must be a base64 string")

    def _length(self, value: Any, shape: Shape, path: str) -> None:
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if low is not None and len(value) < low:
            self.fail(value, path, f"Member must have length greater than or equal to {low}")
        if high is not None and len(value) > high:
            self.fail(value, path, f"Member must have length less than or equal to {high}")

    def _range(self, value: float, shape: Shape, path: str) -> None:
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if low is not None and value < low:
            self.fail(value, path, f"Member must have value greater than or equal to {low}")
        if high is not None and value > high:
            self.fail(value, path, f"Member must have value less than or equal to {high}")


def _join(path: str, name: str) -> str:
    return f"{path}.{_lower_first(name)}" if path else _lower_first(name)


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return f"'{text[:60]}...'" if len(text) > 60 else f"'{text}'"


def validate_input(op: OperationModel, params: Mapping[str, Any]) -> None:
    """Raise ``ValidationException`` if ``params`` break the operation's input shape (AWS's wording)."""
    if op.input_shape is None:
        return
    checker = _Validator()
    checker.check(params, op.input_shape, "")
    if checker.errors:
        count = len(checker.errors)
        noun = "error" if count == 1 else "errors"
        raise validation(f"{count} validation {noun} detected: " + "; ".join(checker.errors[:10]))


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(f"cannot encode {type(value).__name__}")


def encode_response(payload: Mapping[str, Any]) -> bytes:
    """JSON body of a response; timestamps travel as epoch seconds, as the JSON protocol does."""
    return json.dumps(payload, default=_encode, separators=(",", ":")).encode()


def encode_error(error: AwsError) -> bytes:
    return json.dumps({"__type": error.code, "message": error.message}).encode()
