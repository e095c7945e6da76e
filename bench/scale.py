"""The whole pipeline at scale: per-stage seconds, peak memory and output counts.

    python -m bench scale                                   # both corpora (make bench runs this)
    python -m bench scale --corpus ethereum                 # the real r/ethereum corpus only
    python -m bench scale --corpus ethereum --only ingest_reddit   # ingest (and its CPU breakdown) alone
    python -m bench scale --corpus synthetic --comments 2000 --until emit --label smoke   # a quick check
    python -m bench scale --corpus ethereum --label eth-static \\
        --set annotate.embedding_model=all-MiniLM-L6-v2-static --set cluster.embedding_model=all-MiniLM-L6-v2-static

Corpora:

- ``ethereum``: the real r/ethereum daily threads in ../shared/data/reddit/ethereum_daily
  (128,889 comments, 605 threads), dumps to release;
- ``synthetic``: ``--comments`` comments (default 1,000,000) written by
  scripts/make_scale_corpus.py from real sentences, shaped like those threads (cached in
  bench/.work/scale-corpus-N; its generation is not timed).

Alignment inputs are the demo files in data/sample/alignment for both. ``--set`` passes any
config override to every stage (e.g. a faster annotator, a date range); the overrides are
recorded with the result, whose key is ``--label`` (default: the corpus name). Each stage runs
in its own subprocess (``alignx run STAGE``) in a new process group; the harness samples the
resident memory of every process in that group (the stage and its pool workers) every 0.1 s,
so ``peak_rss_mb`` is the peak of the whole process tree, not of its largest process
(``max_process_rss_mb``, from getrusage, is kept beside it). ``wall_seconds`` includes process
start-up and imports; ``stage_seconds`` is the stage's own time from its manifest.

The same run times the plain reader a competent user writes (zstandard stream + ``json.loads``
per line, nothing else) over the corpus's dump files, so ingest's speed-up is measured against
it on the same input. Results are merged into bench/results/scale.json by label, so one corpus
can be rerun without losing the other; the data dir is bench/.work/scale-<label>, rebuilt from
scratch each run.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import zstandard

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("ALIGNX_SHARED_DATA", ROOT.parent / "shared" / "data"))
WORK = ROOT / "bench" / ".work"
RESULTS = ROOT / "bench" / "results"
STAGES = ("ingest_reddit", "ingest_alignment", "anonymize", "annotate", "cluster", "assemble", "emit", "evaluate")
PAGE = os.sysconf("SC_PAGE_SIZE")
#: The issue's targets (issue 19), checked on each corpus they apply to.
TARGETS = {"ethereum_total_minutes_max": 15, "synthetic_1m_peak_rss_mb_max": 4096, "ingest_vs_json_loads_min": 3.0,
           "annotate_per_second_min": 500, "assemble_examples_per_second_min": 500}
#: Runs one CLI command and prints the largest single-process peak RSS (KiB) it saw and the CPU
#: seconds (user + system) of the process and its reaped workers.
MEASURED = ("import resource, sys\n"
            "from cli import main\n"
            "rc = main(sys.argv[1:])\n"
            "peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "
            "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
            "print('PEAK_KIB', peak, file=sys.stderr)\n"
            "usage = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]\n"
            "print('CPU_S', sum(u.ru_utime + u.ru_stime for u in usage), file=sys.stderr)\n"
            "sys.exit(rc)\n")


def group_rss(pgid: int) -> int:
    """Bytes resident in every process of process group ``pgid`` (read from /proc)."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
            if int(fields[2]) == pgid:  # field 5 of stat: the process group
                total += int(Path(entry.path, "statm").read_text().split()[1]) * PAGE
        except (OSError, ValueError, IndexError):
            continue  # a process that ended while being read
    return total


class TreePeak:
    """Samples ``group_rss`` every ``interval`` seconds in a thread until stopped; ``peak`` in bytes."""

    def __init__(self, pgid: int, interval: float = 0.1):
        self.pgid, self.interval, self.peak = pgid, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, group_rss(self.pgid))
            self._stop.wait(self.interval)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


#: The pseudonymization key of the bench's builds (a bench data dir holds no real identities).
KEY = "bench-scale-key-" + "s" * 40


def run_stage(stage: str, data_dir: Path, sets: list[str]) -> dict:
    """Run one stage in a fresh process group; its seconds, whole-tree peak RSS and counts."""
    env = {**os.environ, "ALIGNX_PSEUDONYM_KEY": KEY, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", MEASURED, "run", stage, "--force", "--data-dir", str(data_dir),
                             *sets],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    sampler = TreePeak(proc.pid)
    _, stderr = proc.communicate()
    seconds = time.perf_counter() - t0
    tree_peak = sampler.stop()
    if proc.returncode != 0:
        raise SystemExit(f"{stage} failed ({proc.returncode}):\n{stderr[-3000:]}")
    peak = next(int(line.split()[1]) for line in stderr.splitlines() if line.startswith("PEAK_KIB"))
    cpu = next(float(line.split()[1]) for line in stderr.splitlines() if line.startswith("CPU_S"))
    m = json.loads((data_dir / "work" / stage / "_manifest.json").read_text())
    return {"stage": stage, "wall_seconds": round(seconds, 1), "stage_seconds": round(m.get("seconds", 0), 1),
            "cpu_seconds": round(cpu, 1),
            "peak_rss_mb": round(max(tree_peak, peak * 1024) / 2**20), "max_process_rss_mb": round(peak / 1024),
            "unit": m.get("unit"), "records_in": m["records_in"], "records_out": m["records_out"],
            "dropped": sum(m["dropped"].values()),
            "in_per_second": round(m["records_in"] / seconds, 1) if seconds else None,
            "out_per_second": round(m["records_out"] / seconds, 1) if seconds else None}


def plain_reader_seconds(inputs: Path) -> dict:
    """The baseline for ingest: stream-decompress every dump file and ``json.loads`` each line."""
    t0, c0, records, size = time.perf_counter(), time.process_time(), 0, 0
    for path in sorted(inputs.glob("*.zst")):
        with open(path, "rb") as fh, zstandard.ZstdDecompressor(max_window_size=2**31).stream_reader(fh) as r:
            for line in io.BufferedReader(r, 1 << 20):
                json.loads(line)
                records += 1
                size += len(line)
    return {"seconds": round(time.perf_counter() - t0, 2), "cpu_seconds": round(time.process_time() - c0, 2),
            "records": records, "decompressed_mb": round(size / 2**20, 1)}


def ingest_breakdown(inputs: Path, extra: list[str], row: dict, naive: dict) -> dict:
    """Where ingest's CPU goes on ``inputs`` (bench/ingest_breakdown.py, in a fresh process, with
    the same overrides): read+parse, normalize+record filters, language ID (its model loading
    included), near-duplicates, and the rest of the stage's CPU seconds (``row``) by difference
    (dedupe, thread links and prompts, parquet writes, process start-up and imports, and the
    model loading of a second worker process). ``read_parse_vs_json_loads``: the plain reader's
    seconds over the stage's own read+parse seconds (the same work: decompress and parse)."""
    sets = [a for s in extra for a in ("--set", s)]
    proc = subprocess.run([sys.executable, "-m", "bench.ingest_breakdown", *map(str, sorted(inputs.glob("*.zst"))),
                           *sets], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                          text=True, check=True)
    b = json.loads(proc.stdout.strip().splitlines()[-1])
    cpu = {k: v for k, v in b["cpu_seconds"].items() if k != "language_id_model_load"}
    cpu["rest_by_difference"] = round(row["cpu_seconds"] - sum(cpu.values()), 2)
    return {"cpu_seconds": cpu, "language_id_model_load_cpu_seconds": b["cpu_seconds"].get("language_id_model_load"),
            "phase_wall_seconds": b["wall_seconds"], "stage_cpu_seconds": row["cpu_seconds"],
            "read_parse_vs_json_loads": round(naive["seconds"] / max(b["wall_seconds"]["read_parse"], 0.01), 2),
            # CPU seconds: the same comparison, unmoved by the machine's load
            "read_parse_vs_json_loads_cpu": round(naive.get("cpu_seconds", naive["seconds"])
                                                  / max(b["cpu_seconds"]["read_parse"], 0.01), 2),
            "how": "bench/ingest_breakdown.py: the stage's functions phase by phase in one process, CPU seconds "
                   "(process_time, its threads included); rest_by_difference = the stage's CPU seconds minus the phases"}


def build_sets(inputs: Path | str, extra: list[str]) -> list[str]:
    """The ``--set`` arguments of a scale build: ``inputs`` as the Reddit dumps, the demo
    alignment files, no progress bars, then ``extra`` (``SECTION.KEY=VALUE`` each)."""
    sample = ROOT / "data" / "sample" / "alignment"
    sets = ["--set", f'ingest_reddit.inputs=["{inputs}"]', "--set", "execution.progress=false"]
    for key, f in (("pku", "pku_saferlhf"), ("ultrafeedback", "ultrafeedback"), ("helpsteer2", "helpsteer2")):
        sets += ["--set", f'ingest_alignment.{key}_inputs=["{sample / (f + ".jsonl")}"]']
    return sets + [a for s in extra for a in ("--set", s)]


def build(label: str, inputs: Path, extra: list[str], until: str = "evaluate", start: str | None = None,
          previous: dict | None = None, only: str | None = None) -> dict:
    """Every stage, in order, on ``inputs`` in a fresh data dir; the per-stage table and totals.
    With ``start``, the stages from ``start`` on rerun (forced) in the data dir an earlier run
    left, and the rows of the others come from ``previous`` (that run's result). With ``only``,
    that stage alone reruns (forced, in the same data dir) and every other row comes from
    ``previous``: ingest's figures can be refreshed without the 5-minute build."""
    data_dir = WORK / f"scale-{label}"
    if only and not previous:
        raise SystemExit(f"--only {only}: no earlier run of {label} in scale.json to take the other stages from")
    if start is None and only is None:
        shutil.rmtree(data_dir, ignore_errors=True)
        data_dir.mkdir(parents=True)
    elif start is not None and (not (data_dir / "work").is_dir() or not previous):
        raise SystemExit(f"--from {start}: no earlier run of {label} in {data_dir} and scale.json")
    sets = build_sets(inputs, extra)
    load = round(os.getloadavg()[0], 2)
    naive = plain_reader_seconds(inputs) if start is None else previous["json_loads_reader"]
    data_dir.mkdir(parents=True, exist_ok=True)
    kept = {r["stage"]: r for r in (previous or {}).get("stages", [])}
    rows = []
    for stage in STAGES[:STAGES.index(until) + 1]:
        if only and stage != only:
            rows += [kept[stage]] if stage in kept else []
            continue
        if start is not None and STAGES.index(stage) < STAGES.index(start):
            rows.append(kept[stage])
            continue
        rows.append({**run_stage(stage, data_dir, sets), "code": git_head()})
        if stage == "ingest_reddit":
            rows[-1]["cpu_breakdown"] = ingest_breakdown(inputs, extra, rows[-1], naive)
        r = rows[-1]
        print(f"  {label} {stage:<16} {r['wall_seconds']:>8.1f} s  {r['peak_rss_mb']:>6} MB  "
              f"{r['records_in']:>9} in  {r['records_out']:>9} out", file=sys.stderr, flush=True)
    if start is not None:  # later stages not rerun keep their earlier rows (each names its code)
        rows += [kept[s] for s in STAGES[STAGES.index(until) + 1:] if s in kept]
    assemble = (json.loads((data_dir / "work/assemble/_manifest.json").read_text())["counts"] if only is None
                else {"train": previous["assemble_examples"]})
    result = {
        "corpus": label, "inputs": str(inputs), "overrides": extra,
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "load_average_at_start": load, "load_average_at_end": round(os.getloadavg()[0], 2),
        "stages": rows, "json_loads_reader": naive,
        # assemble's unit is the target (a test target counts once); its examples are release rows
        "assemble_examples": assemble.get("train", 0) + assemble.get("test", 0),
    }
    return {**result, **summarize(result)}


def summarize(c: dict) -> dict:
    """Totals and the rates the issue targets, from one corpus's per-stage rows. "To release"
    is ingest through emit (evaluate reads the release afterwards). Rates use wall seconds,
    process start-up and imports included; ``*_stage_seconds`` variants use the stage's own."""
    by = {r["stage"]: r for r in c["stages"]}
    upto = STAGES[:STAGES.index("emit") + 1]
    release = sum(by[s]["wall_seconds"] for s in upto)
    total = sum(r["wall_seconds"] for r in c["stages"])
    naive = c["json_loads_reader"]["seconds"]
    examples = c["assemble_examples"]
    emit_rows = by["emit"]["records_out"]
    return {
        "total_seconds": round(total, 1), "total_minutes": round(total / 60, 1),
        "to_release_seconds": round(release, 1), "to_release_minutes": round(release / 60, 1),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in c["stages"]),
        "release_rows": emit_rows,
        "rates": {
            "ingest_vs_json_loads": round(naive / by["ingest_reddit"]["wall_seconds"], 2),
            "ingest_vs_json_loads_stage_seconds": round(naive / max(by["ingest_reddit"]["stage_seconds"], 0.1), 2),
            "ingest_vs_json_loads_cpu_seconds": round(c["json_loads_reader"].get("cpu_seconds", naive)
                                                      / by["ingest_reddit"]["cpu_seconds"], 2)
            if by["ingest_reddit"].get("cpu_seconds") else None,
            "ingest_read_parse_vs_json_loads": by["ingest_reddit"].get("cpu_breakdown", {}).get("read_parse_vs_json_loads"),
            "ingest_read_parse_vs_json_loads_cpu": by["ingest_reddit"].get("cpu_breakdown", {})
            .get("read_parse_vs_json_loads_cpu"),
            "anonymize_records_per_second": by["anonymize"]["in_per_second"],
            "annotate_comments_per_second": by["annotate"]["in_per_second"],
            "annotate_comments_per_stage_second": round(by["annotate"]["records_in"]
                                                        / max(by["annotate"]["stage_seconds"], 0.1), 1),
            "assemble_targets_per_second": by["assemble"]["out_per_second"],
            "assemble_examples_per_second": round(examples / by["assemble"]["wall_seconds"], 1),
            "assemble_examples_per_stage_second": round(examples / max(by["assemble"]["stage_seconds"], 0.1), 1),
        },
    }


# -- docs/scaling.md quotes scale.json through this block (docs/figures.md: scripts/make_figures.py) --

BEGIN, END = "<!-- generated by bench/scale.py from bench/results/scale.json: begin -->", \
    "<!-- generated by bench/scale.py: end -->"
#: AlignX's size (docs/design.md): Reddit examples, comments to annotate (about 5M distinct
#: comments behind 1.2M examples) and 12 monthly dumps of all of Reddit, decompressed.
ALIGNX = {"examples": 1_225_988, "comments": 5_000_000, "dump_gb": 3_600}
#: Cores of the Ray cluster the projection assumes.
CLUSTER_CORES = 128


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:,.1f} h" if seconds >= 3600 else f"{seconds / 60:,.1f} min"


def projection(c: dict) -> list[tuple[str, str, float | None, float | None]]:
    """(stage, what scales it, seconds at AlignX size on this machine, on the cluster) from one
    corpus's measured per-stage rates (the stage's own seconds: start-up does not grow with the
    input). Ingest scales with decompressed dump bytes; anonymize, annotate and cluster with
    comments; assemble and emit with examples. A cluster divides a sharded stage by its cores
    over this machine's, the ideal a sharded stage reaches; a stage whose shards run one after
    another in one process (``parallel = False``: emit; annotate with an LLM) gains nothing from
    the cluster and keeps its one-machine time. None where the corpus lacks the figure."""
    from cli.stages import STAGES as CLASSES

    serial = {cls.name for cls in CLASSES if not cls.parallel}
    by = {r["stage"]: r for r in c["stages"]}
    cpus = c.get("cpus") or 2
    comments = by["annotate"]["records_in"] or 1
    examples = c["assemble_examples"] or 1
    mb = c["json_loads_reader"].get("decompressed_mb")
    scale = {
        "ingest_reddit": ("decompressed dump bytes", ALIGNX["dump_gb"] * 1024 / mb if mb else None),
        "anonymize": ("comments", ALIGNX["comments"] / comments),
        "annotate": ("comments", ALIGNX["comments"] / comments),
        "cluster": ("comments", ALIGNX["comments"] / comments),
        "assemble": ("examples", ALIGNX["examples"] / examples),
        "emit": ("examples", ALIGNX["examples"] / examples),
    }
    rows = []
    for stage, (what, factor) in scale.items():
        one = by[stage]["stage_seconds"] * factor if factor else None
        rows.append((stage, what, one, None if one is None else one if stage in serial else one * cpus / CLUSTER_CORES))
    return rows


#: Issue 29's scaling series: synthetic corpora of these sizes, dumps to release, and its targets
#: (the largest against the smallest).
SERIES = (500_000, 1_000_000, 2_000_000)
SERIES_TARGETS = {"stage_peak_ratio_max": 1.25, "wall_ratio_max": 4.5, "stage_peak_mb_max": 2048}


def series(out: dict) -> dict | None:
    """Per stage, dumps to release, the peak and the seconds of each synthetic corpus of
    ``SERIES`` measured (labels ``synthetic-<N>``), and the largest against the smallest: each
    stage's peak ratio, the whole pipeline's wall-seconds ratio (and CPU seconds, less moved by
    other work on the machine), every target checked. None until the smallest and largest ran."""
    runs = {n: out.get("corpora", {}).get(f"synthetic-{n}") for n in SERIES}
    runs = {n: c for n, c in runs.items() if c}
    if min(SERIES) not in runs or max(SERIES) not in runs:
        return None
    upto = STAGES[:STAGES.index("emit") + 1]
    small, large = runs[min(SERIES)], runs[max(SERIES)]
    by = {n: {r["stage"]: r for r in c["stages"]} for n, c in runs.items()}
    stages = {s: {"peak_mb": {n: by[n][s]["peak_rss_mb"] for n in runs}, "wall_s": {n: by[n][s]["wall_seconds"] for n in runs},
                  "peak_ratio": round(by[max(SERIES)][s]["peak_rss_mb"] / by[min(SERIES)][s]["peak_rss_mb"], 3)}
              for s in upto}
    total = {n: round(sum(by[n][s]["wall_seconds"] for s in upto), 1) for n in runs}
    cpu = {n: round(sum(by[n][s].get("cpu_seconds") or 0 for s in upto), 1) for n in runs}
    t = SERIES_TARGETS
    worst = max(stages, key=lambda s: stages[s]["peak_ratio"])
    top = max(stages, key=lambda s: max(stages[s]["peak_mb"].values()))
    checks = {
        f"every stage's peak at {max(SERIES):,} <= {t['stage_peak_ratio_max']}x at {min(SERIES):,} (worst: {worst})":
            stages[worst]["peak_ratio"] <= t["stage_peak_ratio_max"],
        f"wall seconds at {max(SERIES):,} <= {t['wall_ratio_max']}x at {min(SERIES):,}":
            total[max(SERIES)] <= t["wall_ratio_max"] * total[min(SERIES)],
        f"no stage above {t['stage_peak_mb_max']:,} MB at any size (highest: {top})":
            max(stages[top]["peak_mb"].values()) <= t["stage_peak_mb_max"],
    }
    return {"sizes": sorted(runs), "stages": stages, "wall_seconds": total, "cpu_seconds": cpu,
            "wall_ratio": round(total[max(SERIES)] / total[min(SERIES)], 3),
            "cpu_ratio": round(cpu[max(SERIES)] / max(cpu[min(SERIES)], 0.1), 3),
            "load_average_at_start": {n: c.get("load_average_at_start") for n, c in runs.items()},
            "code": {n: stage_codes(c) for n, c in runs.items()}, "targets": t,
            "checks": checks, "met": all(checks.values()), "small": small["corpus"], "large": large["corpus"]}


def stage_codes(run: dict) -> str:
    """The commits a run's stages were measured at, runs of stages with one commit joined
    (``--from`` reruns the later stages at a newer commit): "ingest_reddit-annotate abc, cluster-emit def"."""
    groups: list[list] = []
    for row in run["stages"]:
        code = row.get("code") or run.get("code")
        if groups and groups[-1][1] == code:
            groups[-1][0].append(row["stage"])
        else:
            groups.append([[row["stage"]], code])
    if len(groups) == 1:
        return str(groups[0][1])
    return ", ".join(f"{names[0]}-{names[-1]} {code}" if len(names) > 1 else f"{names[0]} {code}"
                     for names, code in groups)


def render_series(out: dict) -> list[str]:
    r = series(out)
    if r is None:
        return []
    sizes = r["sizes"]
    lines = ["### Scaling series", "", f"Synthetic corpora of {', '.join(f'{n:,}' for n in sizes)} comments, dumps to "
             "release (`python -m bench scale --corpus synthetic --comments N --until emit`):", "",
             "| stage | " + " | ".join(f"peak MB {n:,}" for n in sizes) + f" | peak {sizes[-1]:,} / {sizes[0]:,} | "
             + " | ".join(f"wall s {n:,}" for n in sizes) + " |",
             "|---|" + "---|" * (2 * len(sizes) + 1)]
    for stage, x in r["stages"].items():
        lines.append(f"| {stage} | " + " | ".join(f"{x['peak_mb'][n]:,}" for n in sizes) + f" | {x['peak_ratio']} | "
                     + " | ".join(f"{x['wall_s'][n]:,}" for n in sizes) + " |")
    cells = ["**whole pipeline**", *([""] * len(sizes)), f"wall {r['wall_ratio']}x, CPU {r['cpu_ratio']}x",
             *(f"**{r['wall_seconds'][n]:,}**" for n in sizes)]
    lines.append("| " + " | ".join(cells) + " |")
    dominant = []
    for n in sizes:
        stage = max(r["stages"], key=lambda s: r["stages"][s]["wall_s"][n])
        dominant.append(f"{n:,}: {stage} ({100 * r['stages'][stage]['wall_s'][n] / r['wall_seconds'][n]:.0f}%)")
    lines += ["", "The stage that takes the most wall time at each size: " + ", ".join(dominant) + "."]
    lines += ["", "Load average at each start: " + ", ".join(f"{n:,}: {r['load_average_at_start'][n]}" for n in sizes)
              + ". Commits measured: " + "; ".join(f"{n:,}: {r['code'][n]}" for n in sizes) + ".", ""]
    lines += [f"- {'met' if ok else '**not met**'}: {name}" for name, ok in r["checks"].items()] + [""]
    return lines


def render(out: dict) -> str:
    """Markdown tables of every corpus in ``out`` (scale.json) and the AlignX-size projection."""
    lines = [BEGIN, ""] + render_series(out)
    m = out.get("machine", {})
    for label, c in sorted(out.get("corpora", {}).items()):
        r = c["rates"]
        lines += [f"**{label}** (`{c.get('inputs', '')}`; overrides: {', '.join(c.get('overrides') or []) or 'none'}; "
                  f"code {stage_codes(c)}, {c.get('finished_at', '?')}, {m.get('cpus')} cores, load average "
                  f"{c.get('load_average_at_start')} at start): **{c['to_release_minutes']} min** dumps to release "
                  f"({c['total_minutes']} min for every stage run), peak **{c['peak_rss_mb']:,} MB** (whole process tree), "
                  f"{c['release_rows']:,} release rows.", "",
                  "| stage | wall s | stage s | CPU s | peak MB | in | out | in/s |", "|---|---|---|---|---|---|---|---|"]
        for s in c["stages"]:
            lines.append(f"| {s['stage']} | {s['wall_seconds']:,} | {s['stage_seconds']:,} | {s.get('cpu_seconds', '-')} | "
                         f"{s['peak_rss_mb']:,} | "
                         f"{s['records_in']:,} {s.get('unit') or ''} | {s['records_out']:,} | {s['in_per_second']:,} |")
        lines += ["", f"Ingest vs a plain `json.loads` reader on the same dumps ({c['json_loads_reader']['seconds']} s): "
                      f"**{r['ingest_vs_json_loads']}x** ({r['ingest_vs_json_loads_stage_seconds']}x on the stage's own "
                      f"seconds); annotate **{r['annotate_comments_per_second']:,} comments/s** "
                      f"({r['annotate_comments_per_stage_second']:,}/s); assemble **{r['assemble_examples_per_second']:,} "
                      f"examples/s** ({r['assemble_examples_per_stage_second']:,}/s; {c['assemble_examples']:,} examples, "
                      f"{r['assemble_targets_per_second']:,} targets/s). Wall seconds include process start-up and "
                      f"imports; the figures in brackets use the stage's own seconds.", ""]
        b = c["stages"][0].get("cpu_breakdown")
        if b:
            lines += ["Ingest's CPU seconds by phase (bench/ingest_breakdown.py; the stage's "
                      f"{b['stage_cpu_seconds']} CPU s): " + ", ".join(f"{k.replace('_', ' ')} {v}"
                                                                      for k, v in b["cpu_seconds"].items())
                      + f" (language ID's model loading alone: {b['language_id_model_load_cpu_seconds']} s per process). "
                      f"Read+parse alone is **{b['read_parse_vs_json_loads']}x** the plain reader in wall seconds, "
                      f"{b.get('read_parse_vs_json_loads_cpu')}x in CPU seconds; the whole stage "
                      f"{r.get('ingest_vs_json_loads_cpu_seconds')}x in CPU seconds.", ""]
    corpora = out.get("corpora", {})
    if corpora:
        # the projection uses the largest real corpus measured, else the largest corpus
        real = [c for c in corpora.values() if "ethereum" in c["corpus"]]
        base = max(real or corpora.values(), key=lambda c: c["stages"][0]["records_in"])
        rows = projection({**base, "cpus": m.get("cpus")})
        lines += [f"Projection to AlignX's size ({ALIGNX['examples']:,} Reddit examples, {ALIGNX['comments']:,} comments, "
                  f"{ALIGNX['dump_gb']:,} GB of dumps) from the per-stage rates of **{base['corpus']}** above, "
                  f"each stage scaled by what drives it; the cluster has {CLUSTER_CORES} cores:", "",
                  f"| stage | scales with | one {m.get('cpus')}-core machine | Ray cluster |", "|---|---|---|---|"]
        for stage, what, one, ray in rows:
            lines.append(f"| {stage} | {what} | {_hours(one) if one else 'not measured'} | "
                         f"{_hours(ray) if ray else 'not measured'} |")
        lines += [f"| **total** | | **{_hours(sum(r[2] or 0 for r in rows))}** | **{_hours(sum(r[3] or 0 for r in rows))}** |",
                  "", "(evaluate reads the finished release and is left out; a stage 'not measured' is left out of "
                  "the total.)", ""]
        peaks = {c["corpus"]: c["peak_rss_mb"] for c in corpora.values()}
        lines += ["Peak memory measured (whole process tree): " + ", ".join(f"{k} {v:,} MB" for k, v in sorted(peaks.items()))
                  + ".", ""]
    lines.append(END)
    return "\n".join(lines)


def render_summary(out: dict) -> str:
    """One line per corpus (docs/figures.md, Scale): minutes, peak memory and the rates the issue targets."""
    lines = [BEGIN, ""]
    for label, c in sorted(out.get("corpora", {}).items()):
        r = c["rates"]
        lines.append(f"- **{label}**{' (' + ', '.join(c['overrides']) + ')' if c.get('overrides') else ''}: "
                     f"{c['to_release_minutes']} min dumps to release, peak {c['peak_rss_mb']:,} MB; ingest "
                     f"{r['ingest_vs_json_loads']}x a plain `json.loads` reader; annotate "
                     f"{r['annotate_comments_per_second']:,} comments/s; assemble {r['assemble_examples_per_second']:,} "
                     f"examples/s ({stage_codes(c)}, load average {c.get('load_average_at_start')})")
    r = series(out)
    if r:
        worst = max(r["stages"], key=lambda s: r["stages"][s]["peak_ratio"])
        lines.append(f"- **scaling series** ({' / '.join(f'{n:,}' for n in r['sizes'])} synthetic comments): "
                     f"{'every target met' if r['met'] else 'targets **not all met**'}; highest peak ratio "
                     f"{r['stages'][worst]['peak_ratio']}x ({worst}), wall seconds {r['wall_ratio']}x, CPU seconds "
                     f"{r['cpu_ratio']}x, largest to smallest ([table](scaling.md#scaling-series))")
    lines += ["", END]
    return "\n".join(lines)


def update_docs(out: dict) -> None:
    """Replace the generated block of docs/scaling.md (the tables); `make figures` writes the summary."""
    out = {**out, "corpora": {k: {**c, **summarize(c)} for k, c in out.get("corpora", {}).items()}}
    for path, text in ((ROOT / "docs" / "scaling.md", render(out)),):
        doc = path.read_text()
        if BEGIN in doc and END in doc:
            doc = doc[:doc.index(BEGIN)] + text + doc[doc.index(END) + len(END):]
            path.write_text(doc)


def git_head() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True).stdout.strip()
    except OSError:
        return ""


def synthetic_corpus(n: int) -> Path:
    corpus = WORK / f"scale-corpus-{n}"
    if not (corpus / "done").exists():
        shutil.rmtree(corpus, ignore_errors=True)
        subprocess.run([sys.executable, str(ROOT / "scripts" / "make_scale_corpus.py"), "--comments", str(n),
                        "--out", str(corpus)], check=True)
        (corpus / "done").write_text("")
    return corpus


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench scale", description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", choices=("ethereum", "synthetic", "all"), default="all")
    ap.add_argument("--comments", type=int, default=1_000_000, help="synthetic corpus size (default 1,000,000)")
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="config override for every stage (repeatable)")
    ap.add_argument("--label", help="key of the result in scale.json (default: the corpus name)")
    ap.add_argument("--until", choices=STAGES[STAGES.index("emit"):], default="evaluate",
                    help="last stage to run (emit: dumps to release, without evaluate)")
    ap.add_argument("--from", dest="start", choices=STAGES,
                    help="rerun from this stage in the data dir the last run of the same label left")
    ap.add_argument("--only", choices=("ingest_reddit",),
                    help="rerun this stage alone (and its CPU breakdown), keeping the other rows of the last run")
    ap.add_argument("--docs-only", action="store_true", help="only rewrite docs/scaling.md's tables from scale.json")
    args = ap.parse_args(argv if argv is not None else [])
    path = RESULTS / "scale.json"
    if args.docs_only:
        update_docs(json.loads(path.read_text()))
        return
    runs = []
    if args.corpus in ("ethereum", "all"):
        runs.append((args.label or "ethereum", SHARED / "reddit" / "ethereum_daily"))
    if args.corpus in ("synthetic", "all"):
        runs.append((args.label or f"synthetic-{args.comments}", synthetic_corpus(args.comments)))
    out = json.loads(path.read_text()) if path.exists() else {}
    if not isinstance(out.get("corpora"), dict):
        out["corpora"] = {}
    out["machine"] = {"cpus": os.cpu_count(), "memory_gb": round(os.sysconf("SC_PHYS_PAGES") * PAGE / 2**30, 1)}
    out["targets"] = TARGETS
    out["command"] = ("python -m bench scale [--corpus ethereum|synthetic] [--comments N] [--set K=V] [--label L] "
                      "[--until emit] [--from STAGE] [--only ingest_reddit]")
    for label, inputs in runs:
        result = build(label, inputs, args.sets, args.until, args.start, out["corpora"].get(label), args.only)
        result["code"] = git_head()
        out["corpora"][label] = result
        out["series"] = series({**out, "corpora": {k: {**c, **summarize(c)} for k, c in out["corpora"].items()}})
        RESULTS.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(out, indent=2) + "\n")
        os.replace(tmp, path)
        update_docs(out)
        print(f"{label}: {result['to_release_minutes']} min to release ({result['total_minutes']} for every stage run), "
              f"peak {result['peak_rss_mb']} MB, {result['release_rows']} release rows, rates {json.dumps(result['rates'])}")


if __name__ == "__main__":
    main(sys.argv[1:])
