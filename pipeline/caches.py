"""Reading caches and a stage's own state files: damage is one line naming the file and what to do.

A cache (``data/cache``: ratings, paraphrases, descriptions, embeddings, fitted heads) and a
stage's state file (``data/work/<stage>/``: an open batch) only save work: what they hold can be
asked or computed again. So one that cannot be read (a write cut short by a crash or a full
disk, a damaged disk block, another program's file under its name) must not end a build in a
traceback: every read of one runs inside ``reading(path)``, which turns the error into a
``CorruptCache`` (a ``UserError``: one line, exit 2) naming the file and telling the user to
delete it.

A locked or unreachable database (``sqlite3.OperationalError``: another process holds it, a
read-only disk) is not damage and is raised as it is.
"""

from __future__ import annotations

import json
import sqlite3
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from pipeline.errors import UserError

#: What a damaged file raises when read: sqlite ("file is not a database", "database disk image
#: is malformed"), JSON, numpy (a bad .npy header, pickled data), a cut .npz, a piece of the cache
#: its index names but that is gone or shorter than it says.
DAMAGE = (sqlite3.DatabaseError, json.JSONDecodeError, ValueError, EOFError, zipfile.BadZipFile, KeyError, IndexError,
          FileNotFoundError)


class CorruptCache(UserError):
    """A cache or state file that cannot be read; deleting it loses only work already done."""


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:160]}" if text else type(exc).__name__


@contextmanager
def reading(path: Path | str, *, remove: Path | str | None = None,
            what: str = "a cache, remade on demand") -> Iterator[None]:
    """Reads of the cache ``path`` inside this block: damage becomes one line naming ``path`` and
    saying to delete ``remove`` (default ``path``; the folder, when the cache is several files
    that only make sense together)."""
    try:
        yield
    except sqlite3.OperationalError:
        raise
    except DAMAGE as exc:
        raise CorruptCache(f"{path}: cannot be read ({_reason(exc)}); it is {what}: delete {remove or path} "
                           f"and rerun") from None


def open_sqlite(path: Path, *setup: str, **connect_kwargs) -> sqlite3.Connection:
    """``sqlite3.connect(path)`` with ``setup`` statements run (pragmas, CREATE TABLE IF NOT EXISTS),
    a damaged file reported by ``reading``. Later queries on it belong in ``reading(path)`` too."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with reading(path):
        db = sqlite3.connect(path, **connect_kwargs)
        for statement in setup:
            db.execute(statement)
    return db
