"""What every service of the stand-in shares: the operation registry and a few AWS constants."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, ClassVar

#: The account the stand-in pretends to be (ARNs, CatalogId, STS GetCallerIdentity).
ACCOUNT_ID = "000000000000"

Params = dict[str, Any]
Handler = Callable[[Params], dict[str, Any]]


def operation(name: str) -> Callable[[Callable[..., dict[str, Any]]], Callable[..., dict[str, Any]]]:
    """Mark a method as the handler of the API operation ``name``."""

    def mark(method: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        method.__aws_operation__ = name  # type: ignore[attr-defined]
        return method

    return mark


class Service:
    """A group of API operations; subclasses mark their handlers with :func:`operation`."""

    service_name: ClassVar[str]

    def handlers(self) -> dict[str, Handler]:
        found: dict[str, Handler] = {}
        for attribute in dir(type(self)):
            method = getattr(self, attribute)
            name = getattr(method, "__aws_operation__", None)
            if name:
                found[name] = method
        return found


def now() -> float:
    """Timestamps are kept as epoch seconds: that is what the JSON protocol carries."""
    return time.time()


def page_size(params: Params, default: int, maximum: int) -> int:
    value = params.get("MaxResults") or default
    return max(1, min(int(value), maximum))
