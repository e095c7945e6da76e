"""``alignx provenance ID``: where a record came from, from whatever the stages have written.

Looks for rows whose ``id`` equals the given id in every stage's outputs (latest stage
first) and prints each hit with its provenance columns (source file and line, or dataset and
row, sources in upstream stages) and the lineage of manifests that produced it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from pipeline.manifest import read_manifest, resolve
from pipeline.stage import Stage

#: Columns printed for a hit when present (the rest are content, shown truncated).
PROVENANCE_COLUMNS = ("id", "kind", "source", "source_file", "source_line", "source_ids", "prompt_ids", "dataset",
                      "split", "row", "link_id", "parent_id", "subreddit", "created_utc", "annotator",
                      "annotator_version")


def find_record(stages: list[Stage], data_dir: Path, record_id: str) -> list[dict[str, Any]]:
    """Every row with ``id == record_id`` in any stage output, latest stage first."""
    hits = []
    for stage in reversed(stages):
        manifest = read_manifest(data_dir, stage.name)
        if manifest is None:
            continue
        for stored in sorted(manifest["outputs"]):
            path = resolve(data_dir, stored)
            if path.suffix != ".parquet" or not path.exists():
                continue
            lf = pl.scan_parquet(path)
            if "id" not in lf.collect_schema().names():
                continue
            rows = lf.filter(pl.col("id") == record_id).collect()
            for row in rows.iter_rows(named=True):
                hits.append({"stage": stage.name, "file": stored, "row": row})
    return hits


def private_record(data_dir: Path, record_id: str) -> dict[str, Any] | None:
    """The maintainer-only map row of a pseudonymous id (real id, author, source), if present."""
    for path in sorted((data_dir / "private").glob("*/map/*.parquet")):
        rows = pl.scan_parquet(path).filter(pl.col("id") == record_id).collect()
        if rows.height:
            return rows.row(0, named=True)
    return None


def lineage(stages: list[Stage], data_dir: Path, stage_name: str) -> list[dict[str, Any]]:
    """Manifests of ``stage_name`` and everything upstream of it, upstream first."""
    by_name = {s.name: s for s in stages}
    order: list[str] = []

    def visit(name: str) -> None:
        for up in by_name[name].upstream:
            visit(up)
        if name not in order:
            order.append(name)

    visit(stage_name)
    out = []
    for name in order:
        m = read_manifest(data_dir, name)
        if m:
            out.append({k: m[k] for k in ("stage", "stage_version", "config_hash", "code_version", "finished_at")})
    return out


def format_hits(hits: list[dict[str, Any]], stages: list[Stage], data_dir: Path) -> str:
    lines = []
    for hit in hits:
        row = hit["row"]
        lines.append(f"{row['id']} in stage {hit['stage']} ({hit['file']})")
        for col in PROVENANCE_COLUMNS:
            if col in row and col != "id" and row[col] is not None:
                lines.append(f"  {col}: {row[col]}")
        for col, value in row.items():
            if col not in PROVENANCE_COLUMNS and isinstance(value, str) and value:
                text = value if len(value) <= 80 else value[:77] + "..."
                lines.append(f"  {col}: {text!r}")
        private = private_record(data_dir, row["id"])
        if private:
            lines.append("  private map (data/private, maintainers only; never publish):")
            for col, value in private.items():
                if col != "id":
                    lines.append(f"    {col}: {value}")
        if row.get("source_ids"):
            lines.append("  sources:")
            for source_id in row["source_ids"]:
                found = find_record(stages, data_dir, source_id)
                where = f"{found[0]['stage']} ({found[0]['file']})" if found else "not found"
                lines.append(f"    {source_id}: {where}")
                real = private_record(data_dir, source_id)
                if real:
                    lines.append(f"      private: real_id {real.get('real_id')}, author {real.get('real_author')}, "
                                 f"{real.get('source_file')} line {real.get('source_line')}")
                shown = set()
                for hit in found:  # the annotator from annotate's row, the dataset row from ingest...
                    for col in ("annotator", "annotator_version", "dataset", "source_file", "row"):
                        if col not in shown and hit["row"].get(col) is not None:
                            shown.add(col)
                            lines.append(f"      {col}: {hit['row'][col]}")
        lines.append("  lineage:")
        for m in lineage(stages, data_dir, hit["stage"]):
            lines.append(
                f"    {m['stage']} v{m['stage_version']} config {m['config_hash'][:12]} "
                f"code {m['code_version'][:12]} at {m['finished_at']}"
            )
    return "\n".join(lines)
