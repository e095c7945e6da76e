"""The runner: decides what is stale, runs shards through an executor (``pipeline.executors``:
local processes or Ray), commits atomically.

Layout under ``data/work/<stage>/``:

- ``parts/<shard>-<hash>/``: one finished shard (its files plus ``_SUCCESS.json`` with their
  sha256 and counts). The hash covers the stage version, its config and the shard's own input
  hashes, so a rerun after a kill, or a build with one more month of dumps, reuses every shard
  already done.
- ``out-<fingerprint>/``: the stage's outputs, built in ``.tmp-out-*`` and renamed when complete.
- ``_manifest.json``: written last (atomic rename); it is the commit point. Until it lands the
  previous manifest and its outputs stay current and intact.
- ``log.txt``: this stage's log, appended on every run.
"""

from __future__ import annotations

import errno
import os
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

from pipeline.config import Config
from pipeline.errors import StageFailed, UserError
from pipeline.executors import Executor, LocalExecutor, faults, part_is_complete, run_one_shard
from pipeline.io import parquet_rows, stable_hash
from pipeline.logs import get_logger, progress, stage_log
from pipeline.manifest import (
    STALE, UP_TO_DATE, HashCache, Plan, build_manifest, commit_manifest, incomplete_reason, plan_stage, read_manifest,
    rel, resolve, work_dir,
)
from pipeline.stage import Shard, Stage, StageContext, Stats

log = get_logger("runner")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Runner:
    """Runs stages in order; independent shards go to ``executor`` (default: local processes),
    at most ``workers`` at a time."""

    def __init__(self, stages: list[Stage], config: Config, data_dir: Path, *, workers: int | None = None,
                 show_progress: bool | None = None, executor: Executor | None = None):
        self.stages = stages
        self.executor = executor or LocalExecutor()
        self.by_name = {s.name: s for s in stages}
        self.config = config
        self.data_dir = Path(data_dir).resolve()
        w = config["execution.workers"] if workers is None else workers
        self.workers = w if w > 0 else (os.cpu_count() or 1)
        self.show_progress = config["execution.progress"] if show_progress is None else show_progress
        self.hashes = HashCache(self.data_dir)
        self.accept_incomplete = config["execution.accept_incomplete"]
        self.max_failed_share = config["execution.max_failed_share"]

    # -- planning -----------------------------------------------------------------------------
    def plan(self, stage: Stage) -> Plan:
        return plan_stage(stage, self.config, self.data_dir, self.hashes)

    def states(self) -> dict[str, tuple[Plan | None, str, str]]:
        """Every stage's (plan, state, why), as ``alignx run`` will find it: a stage whose upstream
        will rerun is stale whatever its manifest says ("upstream X will rerun first"), and one
        whose plan fails is "error" (why: the message). ``alignx status`` prints exactly this."""
        out: dict[str, tuple[Plan | None, str, str]] = {}
        for stage in self.stages:
            try:
                plan = self.plan(stage)
                state, why = plan.state, "; ".join(plan.reasons)
            except UserError as exc:
                plan, state, why = None, "error", str(exc)
            behind = [up for up in stage.upstream if up in out and out[up][1] != UP_TO_DATE]
            if behind and state == UP_TO_DATE:
                state, why = STALE, f"upstream {', '.join(behind)} will rerun first"
            out[stage.name] = (plan, state, why)
        return out

    def with_stale_upstream(self, named: list[Stage]) -> list[Stage]:
        """The named stages and every stage they depend on (transitively) that is not up to date,
        in order: `alignx run emit` brings emit up to date, as `status` promises, instead of
        rerunning it on an assemble output that is about to change (DVC's repro does the same)."""
        ancestors = {s.name for s in named}
        for stage in reversed(self.stages):
            if stage.name in ancestors:
                ancestors |= set(stage.upstream)
        states = self.states()
        chosen = []
        for stage in self.stages:
            if stage in named:
                chosen.append(stage)
            elif stage.name in ancestors and states[stage.name][1] != UP_TO_DATE:
                log.info("%s: runs first (%s)", stage.name, states[stage.name][2])
                chosen.append(stage)
        return chosen

    def select(self, names: list[str] | None) -> list[Stage]:
        if not names:
            return list(self.stages)
        unknown = [n for n in names if n not in self.by_name]
        if unknown:
            import difflib

            hint = difflib.get_close_matches(unknown[0], list(self.by_name), n=1)
            raise UserError(
                f"unknown stage '{unknown[0]}'" + (f" (did you mean '{hint[0]}'?)" if hint else "")
                + f"; stages are: {', '.join(self.by_name)}"
            )
        return [s for s in self.stages if s.name in names]

    # -- running ------------------------------------------------------------------------------
    def run(self, names: list[str] | None = None, *, force: bool = False) -> list[dict]:
        """Run the selected stages (all, in order, when ``names`` is empty), and any stage they
        depend on that is not up to date; skip up-to-date ones. ``force`` reruns the named ones."""
        named = self.select(names)
        manifests = []
        for stage in self.with_stale_upstream(named) if names else named:
            forced = force and stage in named
            self._refuse_incomplete_upstream(stage)
            stage.prepare(stage.view(self.config), self.data_dir)
            plan = self.plan(stage)
            if plan.missing_upstream:
                raise UserError(f"{stage.name}: {plan.reasons[0]}; run `alignx run` to build everything in order")
            if plan.up_to_date and not forced:
                log.info("%s: up to date, skipped", stage.name)
                manifests.append(plan.manifest)
                continue
            why = "forced" if forced else "; ".join(plan.reasons)
            manifests.append(self.run_stage(plan, why, fresh=forced))
        self.hashes.save()
        return manifests

    def _refuse_incomplete_upstream(self, stage: Stage) -> None:
        """A stage does not run on an upstream whose items failed, unless the user accepts it."""
        if self.accept_incomplete:
            return
        for up in stage.upstream:
            m = read_manifest(self.data_dir, up)
            if m and m.get("failed"):
                raise StageFailed(
                    f"{stage.name} not run: upstream {up} is {incomplete_reason(m)}; run `alignx run {up}` to "
                    f"retry them, or accept the output without them (--accept-incomplete, or "
                    f"--set execution.accept_incomplete=true)")

    def _check_failures(self, stage: Stage, stats: Stats) -> None:
        """Fail the stage, before anything is promoted, when more than execution.max_failed_share
        of its items failed; fewer are committed as an incomplete stage (retried on the next run)."""
        failed = sum(stats.failed.values())
        if not failed:
            return
        share = failed / max(stats.records_in, 1)
        reasons = ", ".join(f"{k} {v}" for k, v in stats.failed.items())
        if share > self.max_failed_share:
            hint = stage.failure_hint(stage.view(self.config))
            raise StageFailed(
                f"{stage.name}: {failed} of {stats.records_in} {stage.unit} failed ({reasons})"
                + (f" {hint}" if hint else "")
                + f", more than execution.max_failed_share={self.max_failed_share}; the previous output is kept "
                f"and a rerun retries only the failed items")
        log.warning("%s: %d of %d %s failed (%s): the stage is incomplete; a rerun retries them", stage.name,
                    failed, stats.records_in, stage.unit, reasons)

    def context(self, stage: Stage, inputs: list[Path]) -> StageContext:
        upstream, manifests = {}, {}
        for up in stage.upstream:
            m = manifests[up] = read_manifest(self.data_dir, up) or {"outputs": {}}
            upstream[up] = sorted(resolve(self.data_dir, p) for p in m["outputs"])
        return StageContext(
            stage=stage.name, data_dir=self.data_dir, work_dir=work_dir(self.data_dir, stage.name),
            config=stage.view(self.config),
            inputs=inputs, upstream=upstream, progress=self.show_progress, manifests=manifests,
        )

    def _part_dir(self, plan: Plan, shard: Shard) -> Path:
        # A shard that names its inputs depends on those alone, so adding a month of dumps
        # leaves the other months' shards reusable; one that names none depends on everything.
        inputs = {p: self.hashes.sha256(Path(p)) for p in shard.inputs} if shard.inputs else plan.inputs
        h = stable_hash({"v": plan.stage.version, "config": plan.config_hash, "shard": shard.key,
                         "params": shard.params, "inputs": inputs})
        safe_key = "".join(c if c.isalnum() or c in "-_." else "_" for c in shard.key)
        return work_dir(self.data_dir, plan.stage.name) / "parts" / f"{safe_key}-{h[:12]}"

    def run_stage(self, plan: Plan, why: str, fresh: bool = False) -> dict:
        """Run one stage; ``fresh`` (forced runs) redoes every shard instead of reusing finished ones."""
        try:
            return self._run_stage(plan, why, fresh)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
            wdir = work_dir(self.data_dir, plan.stage.name)
            for tmp in wdir.glob(".tmp-*"):  # give back what the failed attempt took
                shutil.rmtree(tmp, ignore_errors=True)
            raise StageFailed(
                f"{plan.stage.name}: disk full while writing {exc.filename or 'its output'}; the previous output "
                f"and manifest are intact and finished shards are kept: free space under {self.data_dir} and rerun"
            ) from None

    def _run_stage(self, plan: Plan, why: str, fresh: bool) -> dict:
        stage = plan.stage
        wdir = work_dir(self.data_dir, stage.name)
        wdir.mkdir(parents=True, exist_ok=True)
        with stage_log(wdir / "log.txt"):
            log.info("%s: running (%s)", stage.name, why)
            started, t0 = _now(), time.perf_counter()
            ctx = self.context(stage, plan.raw_inputs)
            shards = sorted(stage.shards(ctx), key=lambda s: (-s.weight, s.key))
            if len({s.key for s in shards}) != len(shards):
                raise RuntimeError(f"{stage.name}: shard keys are not unique")
            parts = {s.key: self._part_dir(plan, s) for s in shards}
            if fresh:
                for part in parts.values():
                    shutil.rmtree(part, ignore_errors=True)
            stats, resumed = self._run_shards(stage, ctx, shards, parts)
            self._check_failures(stage, stats)
            out_dir = wdir / f"out-{plan.fingerprint[:12]}"
            tmp_out = wdir / f".tmp-out-{os.getpid()}"
            if tmp_out.exists():
                shutil.rmtree(tmp_out)
            tmp_out.mkdir()
            ordered_parts = [parts[s.key] for s in sorted(shards, key=lambda s: s.key)]
            stats = stage.finish(ctx, ordered_parts, stats, tmp_out)
            if stats.unbalanced():
                raise StageFailed(
                    f"{stage.name}: its counts do not balance: {stats.records_in} {stage.unit} in, "
                    f"{stats.records_out} out, {sum(stats.dropped.values())} dropped ({stats.unbalanced()} "
                    f"unaccounted for); nothing was committed. This is a bug in the stage: please report it")
            if out_dir.exists():  # a forced rerun of the same fingerprint
                os.replace(out_dir, wdir / f".tmp-old-{os.getpid()}")
            os.replace(tmp_out, out_dir)
            outputs = {}
            external = [x for root in stage.external_outputs(stage.view(self.config), self.data_dir)
                        for x in ([root] if root.is_file() else sorted(root.rglob("*")))]
            for p in sorted(out_dir.rglob("*")) + external:
                if p.is_file():
                    outputs[rel(self.data_dir, p)] = {
                        "sha256": self.hashes.sha256(p),
                        "bytes": p.stat().st_size,
                        "rows": parquet_rows(p) if p.suffix == ".parquet" else None,
                    }
            seconds = time.perf_counter() - t0
            manifest = build_manifest(
                plan, self.config, self.data_dir, outputs, stats.to_json(), started, _now(), seconds,
                {"total": len(shards), "resumed": resumed},
            )
            commit_manifest(self.data_dir, stage.name, manifest)
            self._collect_garbage(wdir, out_dir, set(parts.values()))
            dropped = sum(stats.dropped.values())
            log.info("%s: done in %.1fs: %d records in, %d out, %d dropped%s", stage.name, seconds,
                     stats.records_in, stats.records_out, dropped,
                     f" ({resumed} of {len(shards)} shards resumed)" if resumed else "")
            return manifest

    def _run_shards(self, stage: Stage, ctx: StageContext, shards: list[Shard], parts: dict[str, Path]):
        total = Stats()
        todo = []
        resumed = 0
        for shard in shards:
            done = part_is_complete(parts[shard.key])
            if done is not None:
                total.merge(done)
                resumed += 1
            else:
                todo.append(shard)
        if resumed:
            log.info("%s: resuming, %d of %d shards already complete", stage.name, resumed, len(shards))
        injected = faults()
        finished = 0
        bar = progress(total=len(todo), desc=stage.name, unit="shard", enabled=self.show_progress)

        def _one_done(stats: Stats) -> None:
            nonlocal finished
            total.merge(stats)
            finished += 1
            bar.update(1)
            if injected:
                injected.shards_done(stage.name, finished)

        try:
            if self.workers == 1 or len(todo) <= 1 or not stage.parallel:
                for shard in todo:
                    _one_done(run_one_shard(stage, ctx, shard, parts[shard.key]))
            else:
                self.executor.run(stage, ctx, todo, parts, _one_done, self.workers)
        finally:
            bar.close()
        return total, resumed

    def _collect_garbage(self, wdir: Path, keep_out: Path, keep_parts: set[Path]) -> None:
        """Remove outputs and parts the new manifest no longer references."""
        for p in wdir.glob("out-*"):
            if p != keep_out:
                shutil.rmtree(p, ignore_errors=True)
        for p in wdir.glob(".tmp-*"):
            shutil.rmtree(p, ignore_errors=True)
        parts_dir = wdir / "parts"
        if parts_dir.exists():
            for p in parts_dir.iterdir():
                if p not in keep_parts:
                    shutil.rmtree(p, ignore_errors=True)
