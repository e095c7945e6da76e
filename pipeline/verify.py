"""Check files against what their manifests and checksum files say they are (``alignx verify``).

Reads only: never writes, so it works on a read-only data dir or a downloaded release.
"""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.io import parquet_rows, sha256_file
from pipeline.manifest import MANIFEST_NAME, resolve

CHECKSUMS = "checksums.sha256"


def check_checksums(folder: Path) -> tuple[list[str], int]:
    """Problems with ``folder/checksums.sha256`` (``sha256  name`` lines, as ``sha256sum`` writes
    them): a listed file missing or different, a file present but not listed. Returns
    (problems, files checked)."""
    problems, checked = [], 0
    listed = {}
    for n, line in enumerate((folder / CHECKSUMS).read_text().splitlines(), 1):
        if not line.strip():
            continue
        digest, _, name = line.partition("  ")
        if len(digest) != 64 or not name:
            problems.append(f"{folder / CHECKSUMS} line {n}: not '<sha256>  <file>'")
            continue
        listed[name] = digest
    for name, digest in sorted(listed.items()):
        path = folder / name
        checked += 1
        if not path.is_file():
            problems.append(f"{path}: missing (listed in {CHECKSUMS})")
        elif sha256_file(path) != digest:
            problems.append(f"{path}: sha256 differs from {CHECKSUMS} (modified or damaged)")
    present = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()} - {CHECKSUMS}
    for name in sorted(present - set(listed)):
        problems.append(f"{folder / name}: not listed in {CHECKSUMS} (added after the release was made?)")
    return problems, checked


def check_manifests(data_dir: Path, folder: Path) -> tuple[list[str], int]:
    """Problems with the files under ``folder`` that a stage manifest in ``data_dir`` lists
    (sha256, size, parquet rows). Returns (problems, files checked); none checked when no
    manifest lists anything there."""
    folder = folder.resolve()
    problems, checked = [], 0
    for mpath in sorted((data_dir / "work").glob(f"*/{MANIFEST_NAME}")):
        try:
            manifest = json.loads(mpath.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            problems.append(f"{mpath}: unreadable manifest ({exc})")
            continue
        for stored, info in sorted(manifest.get("outputs", {}).items()):
            path = resolve(data_dir, stored).resolve()
            if path != folder and folder not in path.parents:
                continue
            checked += 1
            where = f"(stage {manifest.get('stage')}'s manifest)"
            if not path.is_file():
                problems.append(f"{path}: missing {where}")
            elif path.stat().st_size != info["bytes"] or sha256_file(path) != info["sha256"]:
                problems.append(f"{path}: sha256 differs from {where}")
            elif info.get("rows") is not None and parquet_rows(path) != info["rows"]:
                problems.append(f"{path}: {parquet_rows(path)} rows, {info['rows']} expected {where}")
    return problems, checked
