"""Traffic-camera snapshots: a rendered JPEG per traffic event, uploaded to S3 before the event is sent.

``SnapshotGate`` renders and uploads on a small thread pool (bounded concurrency and a bounded backlog)
and releases the traffic records strictly in the order they came in, each only once its object exists,
so the ``traffic_data`` topic keeps per-vehicle order and never references a missing image.
"""

from __future__ import annotations

import io
import zlib
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cache
from typing import Any

from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT = 320, 180


class SnapshotError(Exception):
    """An upload failed after the S3 client's own retries."""


@cache
def _background() -> Image.Image:
    """The static part of every frame: sky, hills, road and lane markings."""
    image = Image.new("RGB", (WIDTH, HEIGHT), (135, 185, 225))
    draw = ImageDraw.Draw(image)
    for y in range(70):  # sky gradient
        shade = 150 + y
        draw.line([(0, y), (WIDTH, y)], fill=(110, min(shade, 220), 235))
    draw.polygon([(0, 80), (70, 50), (150, 78), (230, 45), (320, 75), (320, 95), (0, 95)], fill=(70, 120, 70))
    draw.rectangle([(0, 95), (WIDTH, HEIGHT)], fill=(95, 150, 80))
    draw.polygon([(140, 80), (180, 80), (300, HEIGHT), (20, HEIGHT)], fill=(70, 70, 75))
    for i in range(6):  # centre line dashes, larger towards the camera
        top = 84 + i * 16
        draw.line([(160, top), (160, top + 6 + i * 2)], fill=(240, 220, 90), width=1 + i // 2)
    return image


@cache
def _font() -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=11)


def render_snapshot(record: dict[str, Any]) -> bytes:
    """A JPEG of the camera's view with the vehicle and an overlay: camera id, time, location, vehicle."""
    image = _background().copy()
    draw = ImageDraw.Draw(image)
    colour_seed = zlib.crc32(record["vehicle_id"].encode())
    colour = (colour_seed & 0xFF, (colour_seed >> 8) & 0xFF, (colour_seed >> 16) & 0xFF)
    left = 110 + colour_seed % 60
    draw.rounded_rectangle([(left, 120), (left + 60, 160)], radius=6, fill=colour, outline=(20, 20, 20))
    draw.rectangle([(left + 8, 126), (left + 52, 138)], fill=(180, 210, 230))
    font = _font()
    draw.rectangle([(0, 0), (WIDTH, 30)], fill=(0, 0, 0))
    draw.text((4, 2), f"{record['camera_id']}  {record['event_time']}", fill=(255, 255, 255), font=font)
    draw.text((4, 16), record["location"][:52], fill=(255, 255, 0), font=font)
    draw.text((4, HEIGHT - 14), record["vehicle_id"], fill=(255, 255, 255), font=font)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=70)
    return out.getvalue()


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` → (bucket, key)."""
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise ValueError(f"not an s3://bucket/key URI: {uri}")
    bucket, key = uri[5:].split("/", 1)
    return bucket, key


class SnapshotGate:
    """Render + upload concurrently; release records in arrival order once their object is stored."""

    def __init__(self, s3: Any, concurrency: int = 8, backlog: int | None = None) -> None:
        self.s3 = s3
        self.pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="snapshot")
        self.backlog = backlog or 4 * concurrency
        self.pending: deque[tuple[Future[int], Any]] = deque()
        self.uploaded = 0
        self.failed = 0
        self.bytes = 0

    def _store(self, record: dict[str, Any]) -> int:
        body = render_snapshot(record)
        bucket, key = split_s3_uri(record["snapshot_uri"])
        self.s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="image/jpeg")
        return len(body)

    def submit(self, record: dict[str, Any], item: Any, release: Callable[[Any], None]) -> None:
        """Start storing ``record``'s snapshot; ``release(item)`` is called in order once it exists."""
        self.pending.append((self.pool.submit(self._store, record), item))
        self.release_ready(release, block=len(self.pending) > self.backlog)

    def release_ready(self, release: Callable[[Any], None], block: bool = False) -> None:
        """Release the finished head of the queue; with ``block``, wait for at least the head."""
        while self.pending and (block or self.pending[0][0].done()):
            future, item = self.pending[0]
            try:
                size = future.result()
            except Exception as exc:  # the S3 client already retried; this record cannot be sent
                self.failed += 1
                raise SnapshotError(f"snapshot upload failed: {exc}") from exc
            self.pending.popleft()
            self.uploaded += 1
            self.bytes += size
            release(item)
            block = False

    def drain(self, release: Callable[[Any], None]) -> None:
        while self.pending:
            self.release_ready(release, block=True)

    def abandon(self) -> int:
        """Stop: wait for running uploads, drop queued ones; returns how many records were not released."""
        left = len(self.pending)
        self.pending.clear()
        self.pool.shutdown(wait=True, cancel_futures=True)
        return left

    def close(self) -> None:
        self.pool.shutdown(wait=True)
