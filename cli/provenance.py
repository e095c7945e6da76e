"""alignx provenance: where a record came from."""

from __future__ import annotations


from cli.common import add_common, load, stages
from pipeline.errors import UserError


def register(sub) -> None:
    p = sub.add_parser("provenance", help="trace a record or example id to its sources",
                       description="Find EXAMPLE_ID in the stages' outputs and print its source records, "
                       "annotator and the manifests of every stage that touched it.")
    p.add_argument("example_id", metavar="EXAMPLE_ID")
    add_common(p)
    p.set_defaults(func=cmd_provenance)


def cmd_provenance(args) -> int:
    STAGES = stages()
    from pipeline.provenance import find_record, format_hits

    _, data_dir = load(args)
    hits = find_record(STAGES, data_dir, args.example_id)
    if not hits:
        raise UserError(f"{args.example_id}: no record with this id in any stage output under {data_dir}/work")
    print(format_hits(hits, STAGES, data_dir))
    return 0
