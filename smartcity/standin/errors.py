"""AWS-style errors: what a handler raises is what the client's botocore turns into a ``ClientError``."""

from __future__ import annotations


class AwsError(Exception):
    """An error answered the way AWS answers it: an error code, a message and an HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def not_found(message: str) -> AwsError:
    return AwsError("EntityNotFoundException", message)


def invalid_input(message: str) -> AwsError:
    """Glue's error for a request that is well-formed but not acceptable."""
    return AwsError("InvalidInputException", message)


def invalid_request(message: str) -> AwsError:
    """Athena's error for a request that is well-formed but not acceptable."""
    return AwsError("InvalidRequestException", message)


def validation(message: str) -> AwsError:
    """The error every AWS JSON service gives for a request that breaks its API model."""
    return AwsError("ValidationException", message)
