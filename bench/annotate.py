"""Annotation quality on real data and OpenAI-backend throughput against a local server.

Validity: on ../shared/data/benchmarks/p-soups_student_phd.json (300 pairs preferred by an
"elementary school student" persona, 300 by a "PhD student" persona), the share of pairs whose
chosen-minus-rejected direction on a dimension points the persona's way:

- complexity ("Concerned about complexity"): PhD -> chosen more complex (1), student -> 0
- concise/detailed ("Concise communication style"): PhD -> chosen more detailed (0), student -> 1
- age ("Young"/"Older"): PhD -> older (0), student -> young (1)

Directions follow alignx/directions.py (evidence-gated, and on the relative dimensions the two
answers' raw measures compared, rule 3). A tie (0.5) counts as a miss.
Compared with the plain pole-similarity baseline (the bare pole
labels, no anchors, no features) in the same run.

Throughput: OpenAIAnnotator against tests/openai_server.py answering after a fixed 200 ms, at
concurrency 64: the ceiling is 64 / 0.2 = 320 requests/s.

The offline annotator's throughput on real comments is measured in bench/validity.py.

Writes bench/results/annotate.json.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from alignx.directions import gate, pair_direction
from annotators.embedding import EmbeddingAnnotator
from annotators.measures import raw_measures
from annotators.llm import OpenAIAnnotator
from annotators.ratings import Item, Spend
from pipeline.config import load_config
from alignx.taxonomy import load_taxonomy

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("ALIGNX_SHARED_DATA", ROOT.parent / "shared" / "data"))
RESULTS = ROOT / "bench" / "results"


def _dims():
    tax = load_taxonomy()
    return {
        "complexity": (tax.find("complexity of the statement").index, 1.0),
        "concise_detailed": (tax.find("Concise communication style").index, 0.0),
        "age": (tax.find("Age group").index, 0.0),
    }  # name -> (dimension, direction expected for the PhD persona)


def validity() -> dict:
    rows = json.loads((DATA / "benchmarks" / "p-soups_student_phd.json").read_text())
    phd = np.array(["PhD" in r["ground_truth_persona"] for r in rows])
    ann = EmbeddingAnnotator("all-MiniLM-L6-v2", None)
    t0 = time.perf_counter()
    rc = gate(*ann.rate([r["chosen"] for r in rows]))
    rr = gate(*ann.rate([r["rejected"] for r in rows]))
    seconds = time.perf_counter() - t0
    # baseline: similarity to the bare pole labels, direction by the sign of the difference
    tax = load_taxonomy()
    e1 = ann.embedder.encode([d.label_1 for d in tax])
    e0 = ann.embedder.encode([d.label_0 for d in tax])
    axis = (e1 - e0).T
    bc = ann.embedder.encode([r["chosen"] for r in rows]) @ axis
    br = ann.embedder.encode([r["rejected"] for r in rows]) @ axis
    out = {"pairs": len(rows), "texts_per_second": round(2 * len(rows) / seconds, 1)}
    directions = pair_direction(rc, rr, measures_chosen=raw_measures([r["chosen"] for r in rows]),
                                measures_rejected=raw_measures([r["rejected"] for r in rows]))
    for name, (dim, phd_dir) in _dims().items():
        expected = np.where(phd, phd_dir, 1.0 - phd_dir)
        ours = directions[:, dim]
        base = np.where(bc[:, dim] > br[:, dim], 1.0, np.where(bc[:, dim] < br[:, dim], 0.0, 0.5))
        out[name] = {
            "dimension": dim,
            "embedding_annotator": round(float((ours == expected).mean()), 3),
            "embedding_annotator_non_tied": round(float((ours[ours != 0.5] == expected[ours != 0.5]).mean()), 3),
            "ties": round(float((ours == 0.5).mean()), 3),
            "pole_similarity_baseline": round(float((base == expected).mean()), 3),
        }
    return out


#: A lean asyncio server for the throughput run: it answers every chat request after the fixed
#: latency with a schema-conforming completion, parsing only what HTTP needs, so the figure
#: measures the client (tests/openai_server.py, thread per connection, is the protocol-complete
#: server the tests use; on 2 cores it would be the bottleneck here).
SERVER = """
import asyncio, json
ANSWER = json.dumps({{"id": "c", "object": "chat.completion", "created": 0, "model": "bench",
    "choices": [{{"index": 0, "finish_reason": "stop", "message": {{"role": "assistant",
    "content": json.dumps({{"items": [{{"id": 1, "r": ["d16+1s"]}}]}})}}}}],
    "usage": {{"prompt_tokens": 2700, "completion_tokens": 40, "total_tokens": 2740}}}}).encode()
HEAD = b"HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\nContent-Length: %d\\r\\n\\r\\n" % len(ANSWER)

async def handle(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\\r\\n\\r\\n")
            length = 0
            for line in head.split(b"\\r\\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            await asyncio.sleep({latency})
            writer.write(HEAD + ANSWER)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()

async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(f"http://127.0.0.1:{{server.sockets[0].getsockname()[1]}}/v1", flush=True)
    await server.serve_forever()

asyncio.run(main())
"""


def throughput(n: int = 3200, concurrency: int = 64, latency: float = 0.2) -> dict:
    """The server runs in its own process, so it does not share this one's interpreter lock."""
    import subprocess

    # one comment a request: the figure is the client's requests per second
    p = load_config().section("annotate") | {"concurrency": concurrency, "timeout_s": 30.0, "model": "bench",
                                             "items_per_request": 1}
    items = [Item(f"i{i}", f"post {i}", f"response number {i}") for i in range(n)]
    server = subprocess.Popen([sys.executable, "-c", SERVER.format(latency=latency)],
                              stdout=subprocess.PIPE, text=True)
    try:
        p["base_url"] = server.stdout.readline().strip()
        os.environ.setdefault("OPENAI_API_KEY", "sk-bench")
        done = []
        import resource

        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        OpenAIAnnotator(p).annotate(items, [it.id for it in items], done.extend, Spend(0, 0), show_progress=False)
        wall = time.perf_counter() - t0
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        client_cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    finally:
        server.kill()
    ok = sum(r.ok for r in done)
    ceiling = concurrency / latency
    rate = n / wall
    return {
        "requests": n, "ok": ok, "concurrency": concurrency, "latency_s": latency, "seconds": round(wall, 2),
        "requests_per_second": round(rate, 1), "ceiling_requests_per_second": ceiling,
        "share_of_ceiling": round(rate / ceiling, 3),
        "overhead_ms_per_request": round((wall - n * latency / concurrency) / n * concurrency * 1000, 2),
        "client_cpu_ms_per_request": round(client_cpu / n * 1000, 2),
        "target_share_of_ceiling": 0.8,
    }


def main() -> None:
    report = {"validity_p_soups": validity(), "throughput_openai_backend": throughput()}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "annotate.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
