"""Checks of a rendered report shared by the unit and integration tests: the page's references and tables,
the figures as image files, and a headless Chromium screenshot."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
from PIL import Image

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class PageParser(HTMLParser):
    """Every URL-carrying attribute, and the reconciliation table's cells (``data-stream``/``data-column``)."""

    def __init__(self) -> None:
        super().__init__()
        self.references: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.images: list[str] = []
        self.tags: list[str] = []
        self.styles: list[str] = []
        self.cells: dict[tuple[str, str], str] = {}
        self._stream: str | None = None
        self._column: str | None = None
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        values = dict(attrs)
        for name, value in attrs:
            if name in ("src", "href", "srcset", "data", "poster", "action", "background") and value is not None:
                self.references.append((tag, name, value))
            if name == "style" and value:
                self.styles.append(value)
        if tag == "img" and values.get("src"):
            self.images.append(values["src"] or "")
        if tag == "tr" and values.get("data-stream"):
            self._stream = values["data-stream"]
        if tag == "td" and self._stream and values.get("data-column"):
            self._column = values["data-column"]
        if tag == "style":
            self._in_style = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr":
            self._stream = None
        if tag == "td":
            self._column = None
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.styles.append(data)
        if self._stream and self._column:
            key = (self._stream, self._column)
            self.cells[key] = self.cells.get(key, "") + data


def parse_page(path: Path) -> PageParser:
    parser = PageParser()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def table_number(page: PageParser, stream: str, column: str) -> int:
    return int(page.cells[(stream, column)].strip().replace(",", ""))


def non_local_references(page: PageParser, folder: Path) -> list[str]:
    """References that would fetch anything but a file in ``folder`` (empty when the page is self-contained)."""
    problems = []
    urls = [value for _tag, _attr, value in page.references]
    for style in page.styles:
        urls += re.findall(r"url\(\s*['\"]?([^'\")]+)", style)
        urls += re.findall(r"@import\s+['\"]([^'\"]+)", style)
    for url in urls:
        parsed = urlparse(url)
        if url.startswith("#"):
            continue
        if parsed.scheme or parsed.netloc or url.startswith("/"):
            problems.append(f"not a relative local reference: {url}")
        elif not (folder / parsed.path).resolve().is_relative_to(folder.resolve()):
            problems.append(f"outside the report folder: {url}")
        elif not (folder / parsed.path).is_file():
            problems.append(f"missing file: {url}")
    if "script" in page.tags:
        problems.append("the page has a <script>")
    if "link" in page.tags:
        problems.append("the page has a <link> (external stylesheet or resource)")
    return problems


def png_problems(path: Path, min_side: int = 300, max_side: int = 4000) -> list[str]:
    """Why ``path`` is not a sensible figure PNG (empty list if it is one)."""
    if not path.is_file():
        return [f"{path.name}: missing"]
    if path.read_bytes()[:8] != PNG_SIGNATURE:
        return [f"{path.name}: not a PNG"]
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        width, height = image.size
        few_colours = image.convert("RGB").getcolors(maxcolors=20)  # None: more than 20 colours
    problems = []
    if not (min_side <= width <= max_side and min_side // 2 <= height <= max_side):
        problems.append(f"{path.name}: odd size {width}x{height}")
    if path.stat().st_size < 5_000:
        problems.append(f"{path.name}: only {path.stat().st_size} bytes")
    if few_colours is not None:
        problems.append(f"{path.name}: only {len(few_colours)} colours (blank?)")
    return problems


def chromium_binary() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def screenshot(page: Path, out: Path, width: int = 1280, height: int = 2400, timeout: float = 90) -> Path:
    """Render ``page`` in headless Chromium (no network needed) and save a screenshot."""
    binary = chromium_binary()
    assert binary is not None
    profile = out.parent / "chromium-profile"
    command = [
        binary,
        "--headless",
        "--no-sandbox",  # root in CI containers
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
        f"--screenshot={out}",
        page.resolve().as_uri(),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    assert result.returncode == 0 and out.exists(), result.stderr[-2000:]
    return out


def blank_problems(shot: Path) -> list[str]:
    """A screenshot of the page is not blank: content covers part of it and the figures' colours show."""
    with Image.open(shot) as image:
        pixels = np.asarray(image.convert("RGB")).astype(int)
    inked = (pixels.min(axis=2) < 230).mean()  # anything clearly darker than the white background
    colourful = ((pixels.max(axis=2) - pixels.min(axis=2)) > 80).mean()  # saturated: plots, not text
    problems = []
    if inked < 0.02:
        problems.append(f"only {inked:.2%} of the screenshot is not white")
    if colourful < 0.002:
        problems.append(f"only {colourful:.3%} of the screenshot is coloured: figures not shown?")
    return problems
