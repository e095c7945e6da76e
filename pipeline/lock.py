"""One writer per data dir: an advisory lock (``fcntl.flock``) on ``data/work/.lock``.

Every command that writes under the data dir (``run``, ``forget``...) holds it for its whole
run; readers (``status``, ``provenance``, ``audit-privacy``, ``verify``) never take it and never
write. ``evaluate`` takes it only when its report folder is inside the data dir (the default,
``work/evaluate/adhoc``): it only reads the release, and the caches it fills (``cache/``:
content-addressed embeddings, fitted heads keyed by the train split's checksum) are written
atomically, as by a build. ``collect`` takes none: it only adds new, uniquely named dump files,
each written to a temporary name and renamed, and a rate-limited fetch can last hours. The kernel releases a flock when its holder dies, SIGKILL included, so a killed build
never leaves a stale lock behind. The file holds the holder's PID and start time, for the
message a second writer gets.
"""

from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from pipeline.errors import UserError

LOCK_NAME = ".lock"


def lock_path(data_dir: Path) -> Path:
    return Path(data_dir) / "work" / LOCK_NAME


def holder(data_dir: Path) -> dict:
    """``{"pid", "started_at", "command"}`` of the last writer to take the lock ({} if unknown)."""
    try:
        return json.loads(lock_path(data_dir).read_text() or "{}")
    except (OSError, json.JSONDecodeError):
        return {}


@contextmanager
def writer_lock(data_dir: Path, command: str, wait: bool = False) -> Iterator[None]:
    """Hold the data dir's writer lock while the block runs.

    ``wait``: block until the holder finishes; otherwise a second writer gets a UserError at
    once naming the holder's PID and start time.
    """
    path = lock_path(data_dir)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise UserError(f"{data_dir}: cannot write here ({exc.strerror}); `{command}` writes to the data dir: "
                        f"make it writable or pass another --data-dir") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            h = holder(data_dir)
            raise UserError(
                f"{data_dir} is in use by another alignx ({h.get('command', 'a writer')}, pid {h.get('pid', '?')}, "
                f"started {h.get('started_at', '?')}): one writer per data dir; wait for it to finish, or add --wait"
            ) from None
        info = {"pid": os.getpid(), "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "command": command}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        from pipeline import testing

        if testing.requested():  # the reliability suite's faults, only when asked for
            testing.install().lock_taken()
        yield
    finally:
        os.close(fd)  # releases the flock
