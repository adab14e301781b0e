"""The stand-in's persistent state: catalog, crawlers, work groups, tags and query history in one SQLite file.

Every resource is a JSON document keyed by (kind, parent, name): a table's parent is its database, a
partition's parent is ``database/table``, a query's parent is its work group. SQLite (WAL mode, one
connection behind a lock) keeps it crash-safe and survives restarts; the data volumes here are catalog-sized.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    kind    TEXT NOT NULL,
    parent  TEXT NOT NULL,
    name    TEXT NOT NULL,
    created REAL NOT NULL,
    doc     TEXT NOT NULL,
    PRIMARY KEY (kind, parent, name)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items_by_time ON items (kind, parent, created);
"""


class Store:
    """A small document store; all methods are thread-safe."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.RLock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group several writes atomically (re-entrant)."""
        with self._lock:
            if self._db.in_transaction:
                yield
                return
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def get(self, kind: str, parent: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT doc FROM items WHERE kind=? AND parent=? AND name=?", (kind, parent, name)
            ).fetchone()
        return json.loads(row[0]) if row else None

    def insert(self, kind: str, parent: str, name: str, doc: dict[str, Any]) -> bool:
        """Store a new document; False if one with that key exists already."""
        with self._lock:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO items (kind, parent, name, created, doc) VALUES (?, ?, ?, ?, ?)",
                (kind, parent, name, time.time(), json.dumps(doc)),
            )
        return cursor.rowcount == 1

    def put(self, kind: str, parent: str, name: str, doc: dict[str, Any]) -> None:
        """Create or replace a document (keeping its creation order)."""
        with self._lock:
            self._db.execute(
                "INSERT INTO items (kind, parent, name, created, doc) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (kind, parent, name) DO UPDATE SET doc = excluded.doc",
                (kind, parent, name, time.time(), json.dumps(doc)),
            )

    def delete(self, kind: str, parent: str, name: str) -> bool:
        with self._lock:
            cursor = self._db.execute("DELETE FROM items WHERE kind=? AND parent=? AND name=?", (kind, parent, name))
        return cursor.rowcount == 1

    def delete_children(self, kind: str, parent: str) -> int:
        with self._lock:
            return self._db.execute("DELETE FROM items WHERE kind=? AND parent=?", (kind, parent)).rowcount

    def names(self, kind: str, parent: str) -> list[str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT name FROM items WHERE kind=? AND parent=? ORDER BY name", (kind, parent)
            ).fetchall()
        return [row[0] for row in rows]

    def page(
        self, kind: str, parent: str, *, after: str | None, limit: int
    ) -> tuple[list[tuple[str, dict[str, Any]]], str | None]:
        """Up to ``limit`` documents in name order after ``after``; the second value is the next page's start."""
        with self._lock:
            rows = self._db.execute(
                "SELECT name, doc FROM items WHERE kind=? AND parent=? AND name > ? ORDER BY name LIMIT ?",
                (kind, parent, after or "", limit + 1),
            ).fetchall()
        items = [(name, json.loads(doc)) for name, doc in rows[:limit]]
        more = len(rows) > limit
        return items, (items[-1][0] if more else None)

    def all(self, kind: str, parent: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT doc FROM items WHERE kind=? AND parent=? ORDER BY name", (kind, parent)
            ).fetchall()
        return [json.loads(row[0]) for row in rows]

    def newest_first(self, kind: str, parent: str, *, offset: int, limit: int) -> tuple[list[str], bool]:
        """Names by descending creation time, for paged history listings; the flag says whether more follow."""
        with self._lock:
            rows = self._db.execute(
                "SELECT name FROM items WHERE kind=? AND parent=? ORDER BY created DESC, name LIMIT ? OFFSET ?",
                (kind, parent, limit + 1, offset),
            ).fetchall()
        return [row[0] for row in rows[:limit]], len(rows) > limit

    def all_kinds(self, kind: str) -> list[tuple[str, str, dict[str, Any]]]:
        """Every (parent, name, doc) of a kind, whatever its parent (used for recovery at start-up)."""
        with self._lock:
            rows = self._db.execute("SELECT parent, name, doc FROM items WHERE kind=?", (kind,)).fetchall()
        return [(parent, name, json.loads(doc)) for parent, name, doc in rows]
