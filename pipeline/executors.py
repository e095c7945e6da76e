"""Executors: where a stage's independent shards run. Two siblings with one method,
``run(stage, ctx, shards, parts, done, workers)``: ``LocalExecutor`` (processes on this machine)
and ``RayExecutor`` (tasks on a Ray cluster). The runner (``pipeline.runner``) decides what runs
and commits it; an executor only runs shards and calls ``done(stats)`` for each as it finishes.

What both share, and the runner's in-process path too, is the unit of work: ``run_one_shard``
runs one shard into a private temp folder and renames it to its part folder, with
``_SUCCESS.json`` (its files' sha256 and counts) written last; ``part_is_complete`` reads that
back, so a rerun reuses every part already done.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Callable, Protocol

from pipeline.errors import StageFailed, UserError
from pipeline.io import sha256_file, write_json
from pipeline.logs import setup_logging
from pipeline.stage import Shard, Stage, StageContext, Stats

SUCCESS = "_SUCCESS.json"


def faults():
    """The reliability suite's fault injection, only when its environment asks for it."""
    from pipeline import testing

    return testing.install() if testing.requested() else None


def files_with_hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): sha256_file(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != SUCCESS
    }


def part_is_complete(part: Path) -> Stats | None:
    """Counts of a finished shard whose files still match their recorded sha256, else None."""
    marker = part / SUCCESS
    if not marker.exists():
        return None
    try:
        record = json.loads(marker.read_text())
    except json.JSONDecodeError:
        return None
    if files_with_hashes(part) != record["files"]:
        return None
    stats = Stats.from_json(record["stats"])
    return None if stats.failed else stats  # a shard with failed items is rerun: they are retried


def run_one_shard(stage: Stage, ctx: StageContext, shard: Shard, part: Path) -> Stats:
    """Run a shard into a private temp folder, then rename it to ``part`` (worker entry point;
    the stage object travels to the worker by pickling, so no executor looks stages up)."""
    setup_logging()
    injected = faults()
    if injected:
        injected.shard_started(shard.key)
    tmp = part.with_name(f".tmp-{part.name}-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        stats = stage.run_shard(ctx, shard, tmp)
        write_json(tmp / SUCCESS, {"shard": shard.key, "stats": stats.to_json(), "files": files_with_hashes(tmp)})
        if part.exists():
            shutil.rmtree(part)
        os.replace(tmp, part)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return stats


class Executor(Protocol):
    def run(self, stage: Stage, ctx: StageContext, shards: list[Shard], parts: dict[str, Path],
            done: Callable[[Stats], None], workers: int) -> None:
        """Run ``shards`` (each into ``parts[shard.key]``) at once, at most ``workers`` at a time;
        ``done(stats)`` for each as it finishes. Raises StageFailed when a worker dies."""


def _die_with_parent(parent: int) -> None:
    """Pool worker initializer: exit when the runner dies (SIGKILL included), so no orphan
    worker outlives a killed build holding its pipes. Linux prctl(PR_SET_PDEATHSIG)."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the runner died before the line above
        os._exit(1)


class LocalExecutor:
    """Shards on a pool of local processes (spawned, so no state leaks between shards)."""

    def run(self, stage, ctx, shards, parts, done, workers) -> None:
        pool = ProcessPoolExecutor(max_workers=min(workers, len(shards)),
                                   mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_die_with_parent, initargs=(os.getpid(),))
        with pool:
            futures = {pool.submit(run_one_shard, stage, ctx, s, parts[s.key]): s for s in shards}
            try:
                for fut in as_completed(futures):
                    done(fut.result())
            except BrokenProcessPool:
                raise StageFailed(
                    f"{stage.name}: a worker process died (killed, or out of memory) while running "
                    f"shards; finished shards are kept: rerun to resume"
                ) from None
            except BaseException:
                for f in futures:
                    f.cancel()
                raise


class RayExecutor:
    """Shards as Ray tasks (GPUs used by the stages where the cluster's workers have them).
    ``address``: "" starts a local Ray instance with ``workers`` CPUs; "auto" or
    "ray://host:10001" joins a running cluster, whose workers must see the same data dir (a
    shared filesystem) and have the project installed."""

    def __init__(self, address: str = ""):
        self.address = address

    def run(self, stage, ctx, shards, parts, done, workers) -> None:
        try:
            import ray
        except ImportError:
            raise UserError("--engine ray needs Ray: pip install -e '.[ray]'") from None
        if not ray.is_initialized():
            if self.address:
                ray.init(address=self.address, log_to_driver=False)
            else:
                ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        task = ray.remote(max_retries=0)(run_one_shard)
        pending = {task.remote(stage, ctx, s, parts[s.key]): s for s in shards}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                shard = pending.pop(ref)
                try:
                    done(ray.get(ref))
                except ray.exceptions.RayTaskError as exc:
                    for other in pending:
                        ray.cancel(other, force=True)
                    cause = exc.as_instanceof_cause()
                    if isinstance(cause, (UserError, StageFailed)):
                        raise cause from None
                    raise StageFailed(f"{stage.name}: shard {shard.key} failed on Ray: {exc}") from None
                except ray.exceptions.RayError as exc:  # a worker died
                    for other in pending:
                        ray.cancel(other, force=True)
                    raise StageFailed(f"{stage.name}: the Ray worker running shard {shard.key} died ({type(exc).__name__}); "
                                      f"finished shards are kept: rerun to resume") from None
