"""S3 locations the stand-in may touch, and the pyarrow filesystem it reads and writes them with.

Only the configured buckets are reachable: the lake and images buckets for reading (crawls, queries) and
the Athena output bucket for writing results. Anything else, or a location with path tricks in it
(``..``, ``.``, empty segments, backslashes, control characters), is refused before any S3 call is made.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pyarrow.fs as pafs

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f\\]")


class LocationError(ValueError):
    """A location that is malformed or outside what the stand-in may access; the message says which."""


@dataclass(frozen=True)
class S3Location:
    bucket: str
    key: str  # no leading slash; "" is the whole bucket; a folder ends with "/"

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def fs_path(self) -> str:
        """The path pyarrow's S3FileSystem uses (bucket/key, no trailing slash)."""
        return f"{self.bucket}/{self.key}".rstrip("/")

    def as_folder(self) -> S3Location:
        return self if not self.key or self.key.endswith("/") else S3Location(self.bucket, self.key + "/")

    def child(self, name: str) -> S3Location:
        return S3Location(self.bucket, self.as_folder().key + name)


def parse_s3_uri(uri: str) -> S3Location:
    """Parse ``s3://bucket/key``; raise LocationError with a clear reason if it is malformed or tricky."""
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise LocationError(f"{uri!r} is not an s3:// location")
    rest = uri[len("s3://") :]
    if _CONTROL_RE.search(rest):
        raise LocationError(f"{uri!r} contains control characters or backslashes")
    bucket, _, key = rest.partition("/")
    if not _BUCKET_RE.match(bucket) or ".." in bucket:
        raise LocationError(f"{uri!r} does not name a valid bucket")
    segments = key.split("/")
    inner = segments[:-1] if segments and segments[-1] == "" else segments
    if key and any(segment in ("", ".", "..") for segment in inner):
        raise LocationError(f"{uri!r} contains empty, '.' or '..' path segments")
    return S3Location(bucket, key)


class Lake:
    """The S3 side of the stand-in: which buckets it may read or write, and the filesystem to do it with."""

    def __init__(
        self,
        *,
        endpoint: str,
        access_key: str,
        secret_key: str,
        region: str,
        readable: frozenset[str],
        writable: frozenset[str],
    ) -> None:
        scheme, _, host = endpoint.partition("://")
        self.fs = pafs.S3FileSystem(
            access_key=access_key,
            secret_key=secret_key,
            endpoint_override=host or endpoint,
            scheme=scheme if host else "http",
            region=region,
            force_virtual_addressing=False,
            connect_timeout=5,
            request_timeout=60,
        )
        self.readable = readable
        self.writable = writable

    def readable_location(self, uri: str) -> S3Location:
        location = parse_s3_uri(uri)
        if location.bucket not in self.readable:
            allowed = ", ".join(sorted(self.readable))
            raise LocationError(f"{uri} is outside the buckets this stand-in may read ({allowed})")
        return location

    def writable_location(self, uri: str) -> S3Location:
        location = parse_s3_uri(uri)
        if location.bucket not in self.writable:
            allowed = ", ".join(sorted(self.writable))
            raise LocationError(f"{uri} is outside the buckets this stand-in may write ({allowed})")
        return location

    def list_files(self, folder: S3Location) -> list[pafs.FileInfo]:
        """Every object under a folder (recursively); an absent folder has none."""
        selector = pafs.FileSelector(folder.fs_path, recursive=True, allow_not_found=True)
        return [info for info in self.fs.get_file_info(selector) if info.type == pafs.FileType.File]
