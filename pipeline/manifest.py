"""Manifests (the lock file of each stage, like ``dvc.lock``) and the up-to-date check.

``data/work/<stage>/_manifest.json`` records the stage version, the hash of the config keys it
uses (``Stage.uses``), the sha256 of every input and output, the counts and the timings of the last
successful run. A stage is up to date when its version, config hash and input hashes equal
the manifest's and its outputs are still there, unchanged.
"""

from __future__ import annotations

import glob
import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline import __version__
from pipeline.config import SECRET_KEY, Config, keys_hash
from pipeline.errors import UserError
from pipeline.io import sha256_file, stable_hash, write_json
from pipeline.stage import FAILED_PREFIX, Stage

MANIFEST_NAME = "_manifest.json"
HASH_CACHE_NAME = ".hashcache.json"


def work_dir(data_dir: Path, stage: str) -> Path:
    return data_dir / "work" / stage


def manifest_path(data_dir: Path, stage: str) -> Path:
    return work_dir(data_dir, stage) / MANIFEST_NAME


def read_manifest(data_dir: Path, stage: str) -> dict[str, Any] | None:
    path = manifest_path(data_dir, stage)
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: corrupt manifest ({exc}); delete it and rerun the stage") from None


def rel(data_dir: Path, path: Path) -> str:
    """A path as manifests store it: relative to the data dir when inside it."""
    try:
        return str(Path(path).resolve().relative_to(data_dir.resolve()))
    except ValueError:
        return str(Path(path).resolve())


def resolve(data_dir: Path, stored: str) -> Path:
    p = Path(stored)
    return p if p.is_absolute() else data_dir / p


class HashCache:
    """sha256 of files, remembered by (path, size, mtime) so unchanged multi-GB dumps hash once."""

    def __init__(self, data_dir: Path):
        self.path = data_dir / "work" / HASH_CACHE_NAME
        try:
            self.entries: dict[str, list] = json.loads(self.path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            self.entries = {}
        self.dirty = False

    def sha256(self, path: Path) -> str:
        st = path.stat()
        key = str(path.resolve())
        hit = self.entries.get(key)
        if hit and hit[0] == st.st_size and hit[1] == st.st_mtime_ns:
            return hit[2]
        digest = sha256_file(path)
        self.entries[key] = [st.st_size, st.st_mtime_ns, digest]
        self.dirty = True
        return digest

    def save(self) -> None:
        if self.dirty:
            write_json(self.path, self.entries)
            self.dirty = False


def resolve_inputs(stage: Stage, config: Config, data_dir: Path, keys: tuple[str, ...] | None = None) -> list[Path]:
    """Expand the stage's input keys (or ``keys``: files, directories, globs) into a sorted file list.

    Relative paths are resolved against the data dir. A pattern that matches nothing is an error
    naming the key, since a silently empty input would build an empty dataset.
    """
    files: set[Path] = set()
    for key in stage.input_keys if keys is None else keys:
        for pattern in config[key]:
            base = Path(pattern).expanduser()
            full = base if base.is_absolute() else data_dir / base
            matches = [Path(m) for m in sorted(glob.glob(str(full)))] if glob.has_magic(str(full)) else [full]
            found = []
            for m in matches:
                if m.is_dir():
                    found += [p for p in sorted(m.rglob("*")) if p.is_file() and stage.accepts_input(p)]
                elif m.is_file():
                    found.append(m)
            if not found:
                raise UserError(
                    f"{key}: '{pattern}' matches no input files (looked in {full}); "
                    f"put files there or point {key} elsewhere with --set {key}=PATH"
                )
            files.update(p.resolve() for p in found)
    return sorted(files)


#: Libraries whose versions every manifest records (what produced the outputs).
RECORDED_LIBRARIES = ("polars", "pyarrow", "zstandard", "numpy", "scikit-learn", "hdbscan", "sentence-transformers",
                      "torch", "openai", "praw")


def environment() -> dict[str, str]:
    import platform
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in RECORDED_LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def code_version() -> str:
    """The git commit of the project when it is a checkout, else the package version."""
    root = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        )
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=5,
        ).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return f"alignx-pipeline {__version__}"


UP_TO_DATE, STALE, NEVER_RUN, INCOMPLETE = "up to date", "stale", "never run", "incomplete"


@dataclass
class Plan:
    """What a stage would run on now, and whether its manifest already covers that."""

    stage: Stage
    state: str  # UP_TO_DATE | STALE | NEVER_RUN | INCOMPLETE (items failed; rerun retries them)
    reasons: list[str] = field(default_factory=list)
    config_hash: str = ""
    inputs: dict[str, str] = field(default_factory=dict)  # stored path -> sha256 (raw and upstream)
    raw_inputs: list[Path] = field(default_factory=list)  # the raw input files, resolved
    extra: dict[str, str] = field(default_factory=dict)  # Stage.fingerprint_extra
    fingerprint: str = ""
    manifest: dict[str, Any] | None = None
    missing_upstream: list[str] = field(default_factory=list)  # upstream stages that have not run

    @property
    def up_to_date(self) -> bool:
        return self.state == UP_TO_DATE


def _config_diff(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The used keys whose values differ (a key the stage no longer uses is no reason)."""
    return [k for k in sorted(new) if old.get(k) != new[k]]


def plan_stage(stage: Stage, config: Config, data_dir: Path, hashes: HashCache) -> Plan:
    """Compare the stage's current inputs, config and version with its manifest."""
    view = stage.view(config)
    extra = stage.fingerprint_extra(view, data_dir)
    config_hash = keys_hash(config, stage.used_keys(config))
    if extra:
        config_hash = stable_hash({"config": config_hash, "extra": extra})
    plan = Plan(stage, STALE, config_hash=config_hash, extra=extra)
    for up in stage.upstream:
        up_manifest = read_manifest(data_dir, up)
        if up_manifest is None:
            plan.state = NEVER_RUN
            plan.missing_upstream.append(up)
            plan.reasons.append(f"upstream stage {up} has not run")
            continue
        for path, info in up_manifest["outputs"].items():
            plan.inputs[path] = info["sha256"]
    if plan.reasons:
        return plan
    plan.raw_inputs = resolve_inputs(stage, config, data_dir)
    for path in plan.raw_inputs:
        plan.inputs[rel(data_dir, path)] = hashes.sha256(path)
    plan.fingerprint = stable_hash(
        {"stage": stage.name, "version": stage.version, "config": plan.config_hash, "inputs": plan.inputs}
    )
    manifest = plan.manifest = read_manifest(data_dir, stage.name)
    if manifest is None:
        plan.state = NEVER_RUN
        plan.reasons.append("no manifest")
        return plan
    if manifest["stage_version"] != stage.version:
        plan.reasons.append(f"stage version {manifest['stage_version']} -> {stage.version}")
    if manifest["config_hash"] != plan.config_hash:
        changed = _config_diff(manifest.get("config_full", {}), _public_config(config, stage))
        changed += [k for k in sorted(set(extra) | set(manifest.get("extra", {})))
                    if extra.get(k) != manifest.get("extra", {}).get(k)]
        plan.reasons.append("config changed: " + (", ".join(changed) or "the keys it uses (their declaration)"))
    for up in stage.upstream:
        now = (read_manifest(data_dir, up) or {}).get("fingerprint")
        if manifest.get("upstream", {}).get(up) != now:
            plan.reasons.append(f"upstream {up} changed")
    # upstream outputs are covered by the line above; list raw inputs by name
    old_inputs = {k: v for k, v in manifest["inputs"].items() if not k.startswith("work/")}
    current = {k: v for k, v in plan.inputs.items() if not k.startswith("work/")}
    added = sorted(set(current) - set(old_inputs))
    removed = sorted(set(old_inputs) - set(current))
    changed = sorted(p for p in set(current) & set(old_inputs) if current[p] != old_inputs[p])
    for label, paths in (("new input", added), ("input removed", removed), ("input changed", changed)):
        if paths:
            more = f" (+{len(paths) - 3} more)" if len(paths) > 3 else ""
            plan.reasons.append(f"{label}: {', '.join(paths[:3])}{more}")
    for path, info in manifest["outputs"].items():
        full = resolve(data_dir, path)
        if not full.exists():
            plan.reasons.append(f"output missing: {path}")
            break
        if full.stat().st_size != info["bytes"] or hashes.sha256(full) != info["sha256"]:
            plan.reasons.append(f"output modified: {path}")
            break
    added = unlisted_outputs(stage, view, data_dir, manifest)
    if added:
        more = f" (+{len(added) - 1} more)" if len(added) > 1 else ""
        plan.reasons.append(f"output added: {added[0]}{more} (not in the manifest)")
    if not plan.reasons and manifest.get("failed"):
        plan.state = INCOMPLETE
        plan.reasons.append(incomplete_reason(manifest))
    elif not plan.reasons:
        plan.state = UP_TO_DATE
    return plan


def incomplete_reason(manifest: dict[str, Any]) -> str:
    """``"incomplete: 7 failed (failed_http_500 5, failed_timeout 2)"`` for a manifest with failures."""
    failed = {k: v for k, v in manifest["dropped"].items() if k.startswith(FAILED_PREFIX) and v}
    return (f"incomplete: {manifest['failed']} failed (" + ", ".join(f"{k} {v}" for k, v in failed.items())
            + "); a rerun retries them")


def unlisted_outputs(stage: Stage, view: Config, data_dir: Path, manifest: dict[str, Any]) -> list[str]:
    """Files under the stage's external output folders (a release) that its manifest does not
    list: a shard added after the release was made is as wrong as one modified."""
    found = []
    for root in stage.external_outputs(view, data_dir):
        if root.is_dir():
            found += [rel(data_dir, p) for p in sorted(root.rglob("*")) if p.is_file()]
    return [p for p in found if p not in manifest["outputs"]]


def _public(key: str, value: Any) -> Any:
    return "<redacted>" if SECRET_KEY.search(key) and value else value


def _public_config(config: Config, stage: Stage) -> dict[str, Any]:
    """The keys the stage uses, secrets redacted, as dotted keys (for manifests and diffs)."""
    return {k: _public(k, config[k]) for k in stage.used_keys(config)}


def build_manifest(
    plan: Plan, config: Config, data_dir: Path, outputs: dict[str, dict[str, Any]], stats_json: dict[str, Any],
    started_at: str, finished_at: str, seconds: float, shards: dict[str, int],
) -> dict[str, Any]:
    stage = plan.stage
    return {
        "stage": stage.name,
        "stage_version": stage.version,
        "config_hash": plan.config_hash,
        "config": {k.split(".", 1)[1]: v for k, v in _public_config(config, stage).items()
                   if k.split(".", 1)[0] == stage.section},  # the used keys of its own section
        "config_full": _public_config(config, stage),
        "fingerprint": plan.fingerprint,
        "extra": plan.extra,
        "inputs": plan.inputs,
        "upstream": {up: (read_manifest(data_dir, up) or {}).get("fingerprint") for up in stage.upstream},
        "outputs": outputs,
        "unit": stage.unit,
        "records_in": stats_json["records_in"],
        "records_out": stats_json["records_out"],
        "dropped": stats_json["dropped"],
        "failed": sum(v for k, v in stats_json["dropped"].items() if k.startswith(FAILED_PREFIX)),
        "counts": stats_json["counts"],
        "shards": shards,
        "started_at": started_at,
        "finished_at": finished_at,
        "seconds": round(seconds, 3),
        "code_version": code_version(),
        "environment": environment(),
    }


def commit_manifest(data_dir: Path, stage: str, manifest: dict[str, Any]) -> None:
    """The commit point of a stage run: once this rename lands, the new outputs are current."""
    write_json(manifest_path(data_dir, stage), manifest)
