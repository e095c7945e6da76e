"""Logging to stderr and to ``data/work/<stage>/log.txt``; progress bars with tqdm."""

from __future__ import annotations

import logging
import sys
from contextlib import contextmanager
from pathlib import Path

from tqdm import tqdm

from pipeline.secrets import RedactingFilter

LOGGER_NAME = "alignx"
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def get_logger(name: str | None = None) -> logging.Logger:
    return logging.getLogger(LOGGER_NAME if name is None else f"{LOGGER_NAME}.{name}")


def setup_logging(verbose: int = 0) -> None:
    """Configure the ``alignx`` logger for stderr once per process."""
    root = get_logger()
    level = logging.DEBUG if verbose > 0 else logging.INFO
    root.setLevel(level)
    if not any(getattr(h, "_alignx_stderr", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        handler.addFilter(RedactingFilter())
        handler._alignx_stderr = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.propagate = False


@contextmanager
def stage_log(path: Path):
    """Also append every ``alignx`` record to ``path`` while the block runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(_FORMAT))
    handler.addFilter(RedactingFilter())  # a secret an endpoint echoes never reaches log.txt
    root = get_logger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()


def progress(iterable=None, *, enabled: bool = True, **kwargs):
    """A tqdm bar on stderr, shown only on a terminal (``disable=None``) and when enabled."""
    return tqdm(iterable, disable=None if enabled else True, dynamic_ncols=True, **kwargs)
