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
from pipeline.logs import get_logger, setup_logging
from pipeline.stage import Shard, Stage, StageContext, Stats

SUCCESS = "_SUCCESS.json"
log = get_logger("executors")


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


def in_own_process(label: str, fn: Callable, *args):
    """``fn(*args)`` in a spawned process of its own that exits with the runner, and its result:
    for a step whose memory should be given back when it ends, not kept by the runner while the
    shard workers run beside it (cluster's topic fit). A process that dies (killed, or out of
    memory) is a ``StageFailed`` naming ``label``; an exception it raises is raised here."""
    pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_die_with_parent, initargs=(os.getpid(),))
    with pool:
        try:
            return pool.submit(fn, *args).result()
        except BrokenProcessPool:
            raise StageFailed(f"{label}: its process died (killed, or out of memory); rerun to retry") from None


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


def ray_shard(stage: Stage, ctx: StageContext, shard: Shard, part: Path) -> tuple[Stats, str]:
    """``run_one_shard`` as a Ray task; also returns the id of the Ray node it ran on, so a
    build on a cluster says where its shards went."""
    import ray

    return run_one_shard(stage, ctx, shard, part), ray.get_runtime_context().get_node_id()


#: Seconds to wait for a TCP connection to a cluster address before calling it unreachable
#: (``ray.init`` itself retries an address nothing answers at for minutes).
CONNECT_TIMEOUT_S = 10.0


def _host_port(address: str) -> tuple[str, int] | None:
    """(host, port) of "host:port" or "ray://host:port"; None for "auto" and anything else."""
    rest = address.removeprefix("ray://")
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not port.isdigit():
        return None
    return host.strip("[]"), int(port)


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """A one-line UserError when nothing accepts a TCP connection at ``address``'s host:port."""
    import socket

    hp = _host_port(address)
    if hp is None:
        return
    try:
        socket.create_connection(hp, timeout=timeout).close()
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or type(exc).__name__)
        raise UserError(
            f"--ray-address {address}: no Ray cluster answers there ({reason}): start one (`ray start --head "
            f"--port=PORT`, then `ray start --address=HOST:PORT` on each worker) and pass the address its head "
            f"printed, or omit --ray-address for a local Ray instance") from None


class RayExecutor:
    """Shards as Ray tasks (GPUs used by the stages where the cluster's workers have them).
    ``address``: "" starts a local Ray instance with ``workers`` CPUs (``RAY_ADDRESS`` is then
    ignored); "HOST:PORT" (the head's GCS address, as ``ray start --head`` prints it), "auto"
    (``RAY_ADDRESS`` or the cluster ``ray start`` last started here) or "ray://host:10001"
    joins a running cluster, whose nodes must see the same data dir at the same path (a shared
    filesystem), have the project installed, and hold the same secrets in their environment
    (``ALIGNX_PSEUDONYM_KEY``, an LLM API key) or in the shared data dir."""

    def __init__(self, address: str = ""):
        self.address = address

    def check(self) -> None:
        """Fail now, in one line, when the cluster address answers nothing (before any stage runs)."""
        if self.address:
            check_reachable(self.address)

    def _connect(self, ray, workers: int) -> None:
        if not self.address:
            ray.init(address="local", num_cpus=workers, include_dashboard=False, log_to_driver=False)
            return
        check_reachable(self.address)
        try:
            ray.init(address=self.address, log_to_driver=False)
        except (ConnectionError, TimeoutError, ValueError, RuntimeError, ray.exceptions.RayError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            hint = ("check the address (the head's HOST:PORT, as `ray start --head` printed it), that this "
                    "machine runs the cluster's Ray version and, where Ray's log above says InvalidAuthToken, "
                    "that RAY_AUTH_TOKEN (or RAY_AUTH_TOKEN_PATH) here holds the cluster's token")
            raise UserError(f"--ray-address {self.address}: could not join the Ray cluster ({first[:300]}): {hint}") from None

    def run(self, stage, ctx, shards, parts, done, workers) -> None:
        try:
            import ray
        except ImportError:
            raise UserError("--engine ray needs Ray: pip install -e '.[ray]'") from None
        if not ray.is_initialized():
            # the first failed shard is raised below, in one line; the others (cancelled, or failed
            # alike at the same time) would each print Ray's "Unhandled error" with a traceback
            os.environ.setdefault("RAY_IGNORE_UNHANDLED_ERRORS", "1")
            self._connect(ray, workers)
        task = ray.remote(max_retries=0)(ray_shard)
        pending = {task.remote(stage, ctx, s, parts[s.key]): s for s in shards}
        nodes: dict[str, int] = {}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                shard = pending.pop(ref)
                try:
                    stats, node = ray.get(ref)
                except ray.exceptions.RayTaskError as exc:
                    for other in pending:
                        ray.cancel(other, force=True)
                    cause = exc.cause  # the exception the task raised (as_instanceof_cause's str holds the remote traceback)
                    if isinstance(cause, (UserError, StageFailed)):
                        raise type(cause)(*cause.args) from None
                    raise StageFailed(f"{stage.name}: shard {shard.key} failed on Ray: {exc}") from None
                except ray.exceptions.RayError as exc:  # a worker died
                    for other in pending:
                        ray.cancel(other, force=True)
                    raise StageFailed(f"{stage.name}: the Ray worker running shard {shard.key} died ({type(exc).__name__}); "
                                      f"finished shards are kept: rerun to resume") from None
                nodes[node] = nodes.get(node, 0) + 1
                done(stats)
        log.info("%s: %d shards ran on %d Ray node(s): %s", stage.name, len(shards), len(nodes),
                 ", ".join(f"{n[:12]}={k}" for n, k in sorted(nodes.items())))
