"""The ``alignx`` command line (also ``python -m cli``): the top layer, above ``stages/``, and the
only code that hands the stages (``cli.stages``) to the framework's runner. One module per group
of commands."""

from __future__ import annotations

import argparse
import sys

from cli import collect, diff_release, evaluate, privacy, provenance, run, validate, verify
from pipeline.errors import StageFailed, UserError
from pipeline.logs import setup_logging
from pipeline.secrets import redact

COMMAND_MODULES = (run, provenance, verify, collect, privacy, diff_release, evaluate, validate)


def build_parser() -> argparse.ArgumentParser:
    from cli.stages import STAGES

    parser = argparse.ArgumentParser(
        prog="alignx",
        description="Build, inspect and trace the AlignX personalized-preference dataset.",
        epilog="Stages run in order: " + ", ".join(s.name for s in STAGES) + ". See README.md.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    try:
        return args.func(args)
    except UserError as exc:
        print(f"alignx: error: {redact(str(exc))}", file=sys.stderr)
        return 2
    except StageFailed as exc:
        print(f"alignx: failed: {redact(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("alignx: interrupted; finished shards are kept, rerun to resume", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `alignx status | head`: the reader left; say nothing more
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 141


if __name__ == "__main__":
    raise SystemExit(main())
