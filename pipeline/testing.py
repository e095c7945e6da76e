"""Fault injection for the reliability suite; loaded only when an ``ALIGNX_INJECT_*``
environment variable is set, so normal runs never carry it.

- ``ALIGNX_INJECT_KILL_AFTER_SHARDS=N``: SIGKILL the runner after N shards of a stage are done
  (``ALIGNX_INJECT_KILL_STAGE=name`` limits it to that stage).
- ``ALIGNX_INJECT_KILL_WORKER_ON_SHARD=key``: a pool worker SIGKILLs itself when it starts that shard.
- ``ALIGNX_INJECT_ENOSPC_AFTER_WRITES=N``: the N-th atomic write of a process fails with ENOSPC,
  as a full disk would.
- ``ALIGNX_INJECT_HOLD_LOCK_S=S``: a writer sleeps S seconds once it holds the data dir's lock,
  so a second writer started meanwhile surely meets it (the concurrent-writers check).
"""

from __future__ import annotations

import errno
import multiprocessing
import os
import signal
from dataclasses import dataclass

from pipeline import io

PREFIX = "ALIGNX_INJECT_"
KILL_AFTER_SHARDS_ENV = PREFIX + "KILL_AFTER_SHARDS"
KILL_STAGE_ENV = PREFIX + "KILL_STAGE"
KILL_WORKER_ENV = PREFIX + "KILL_WORKER_ON_SHARD"
ENOSPC_ENV = PREFIX + "ENOSPC_AFTER_WRITES"
HOLD_LOCK_ENV = PREFIX + "HOLD_LOCK_S"


def requested() -> bool:
    return any(k.startswith(PREFIX) for k in os.environ)


@dataclass
class Faults:
    kill_after_shards: int = 0
    kill_stage: str = ""
    kill_worker_on_shard: str = ""
    hold_lock_s: float = 0.0

    def lock_taken(self) -> None:
        """In a writer that just took the data dir's lock: keep it a while."""
        if self.hold_lock_s:
            import time

            time.sleep(self.hold_lock_s)

    def shard_started(self, shard_key: str) -> None:
        """In a worker: die as a killed worker would."""
        if self.kill_worker_on_shard == shard_key and multiprocessing.parent_process() is not None:
            os.kill(os.getpid(), signal.SIGKILL)

    def shards_done(self, stage: str, finished: int) -> None:
        """In the runner: die as a killed build would."""
        if self.kill_after_shards and finished >= self.kill_after_shards and self.kill_stage in ("", stage):
            os.kill(os.getpid(), signal.SIGKILL)


def install() -> Faults:
    """Read the environment, hook the disk-full fault into ``pipeline.io`` and return the rest."""
    limit = int(os.environ.get(ENOSPC_ENV, "0") or 0)
    if limit and not any(getattr(h, "enospc", False) for h in io.BEFORE_WRITE):
        writes = 0

        def enospc(path) -> None:
            nonlocal writes
            writes += 1
            if writes >= limit:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

        enospc.enospc = True
        io.BEFORE_WRITE.append(enospc)
    return Faults(int(os.environ.get(KILL_AFTER_SHARDS_ENV, "0") or 0), os.environ.get(KILL_STAGE_ENV, ""),
                  os.environ.get(KILL_WORKER_ENV, ""), float(os.environ.get(HOLD_LOCK_ENV, "0") or 0))
