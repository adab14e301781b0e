"""Camera snapshots are real JPEGs showing the camera, time, place and vehicle."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from producers.snapshots import render_snapshot, split_s3_uri

RECORD = {
    "camera_id": "cam-nlex-012",
    "event_time": "2025-03-01T06:30:00.000Z",
    "location": "NLEX, San Fernando, Pampanga",
    "vehicle_id": "vehicle-00007",
}


def test_render_gives_a_jpeg_that_differs_per_vehicle():
    jpeg = render_snapshot(RECORD)
    image = Image.open(io.BytesIO(jpeg))
    assert image.format == "JPEG"
    assert image.size == (320, 180)
    assert 2_000 < len(jpeg) < 40_000
    assert render_snapshot({**RECORD, "vehicle_id": "vehicle-00008"}) != jpeg
    assert render_snapshot({**RECORD, "event_time": "2025-03-01T06:30:01.000Z"}) != jpeg


def test_split_s3_uri():
    assert split_s3_uri("s3://bucket/a/b.jpg") == ("bucket", "a/b.jpg")
    for bad in ("http://bucket/a.jpg", "s3://bucket-only"):
        with pytest.raises(ValueError, match="not an s3://bucket/key URI"):
            split_s3_uri(bad)
