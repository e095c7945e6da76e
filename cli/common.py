"""What every command shares: the common options and loading the configuration."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.config import Config, load_config
from pipeline.logs import get_logger

log = get_logger("cli")


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", help="TOML file whose keys override configs/default.toml")
    p.add_argument("--set", dest="overrides", metavar="SECTION.KEY=VALUE", action="append", default=[],
                   help="override one setting (repeatable), e.g. --set ingest_reddit.min_length=20")
    p.add_argument("--data-dir", metavar="DIR", default="data",
                   help="root of raw/, sample/, work/, release/ (default: ./data)")
    p.add_argument("-v", "--verbose", action="count", default=0, help="debug logging")


def add_writer(p: argparse.ArgumentParser) -> None:
    """Options of a command that writes under the data dir (and so holds its writer lock)."""
    add_common(p)
    p.add_argument("--wait", action="store_true",
                   help="when another alignx is writing to the data dir, wait for it instead of exiting")


def canary_build(args, data_dir: Path) -> bool:
    """Whether this command reads the Reddit inputs from the copy with planted canaries: as
    ``--canaries`` / ``--no-canaries`` say, else as the data dir was last built. A data dir built
    with ``--canaries`` (``make build-dataset``) keeps the planted copy, and every later command
    (``status``, ``run``, ``verify``...) reads the configuration that build read, until
    ``alignx run --no-canaries`` removes the copy."""
    from alignx.privacy.canaries import COPY_DIR

    flag = getattr(args, "canaries", None)
    return flag if flag is not None else (data_dir / COPY_DIR).is_dir()


def load(args) -> tuple[Config, Path]:
    config, data_dir = load_config(args.config, args.overrides), Path(args.data_dir)
    if canary_build(args, data_dir):  # the Reddit inputs are the planted copy (alignx.privacy.canaries)
        from alignx.privacy.canaries import COPY_DIR

        config = load_config(args.config, [*args.overrides, f'ingest_reddit.inputs=["{COPY_DIR}"]'])
    return config, data_dir


def add_canaries(p: argparse.ArgumentParser) -> None:
    p.add_argument("--canaries", action=argparse.BooleanOptionalAction, default=None,
                   help="read the Reddit inputs from the copy with planted canaries (DATA_DIR/work/canaries/input; "
                   "`alignx run --canaries` makes it), so `alignx audit-privacy` can check none reaches the release. "
                   "A data dir built so stays so for every command until `alignx run --no-canaries`")


def writing(args, data_dir: Path):
    """The data dir's writer lock for this command (see pipeline.lock)."""
    from pipeline.lock import writer_lock

    return writer_lock(data_dir, f"alignx {args.command}", wait=getattr(args, "wait", False))


def stages():
    """Fresh stage objects for one command (no state carries over between runs)."""
    from cli.stages import build

    return build()
