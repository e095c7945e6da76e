"""alignx validate-annotator: how far to trust each dimension of the configured annotator."""

from __future__ import annotations

import json
from pathlib import Path

from annotators.validity import PUBLISHED
from cli.common import add_common, load


def register(sub) -> None:
    p = sub.add_parser(
        "validate-annotator", help="agreement of the configured annotator with the hand-labelled reference set",
        description="Rate the reference set's test split (data/validation/) and the P-SOUPS student/PhD pairs "
        "with the configured annotate backend (ratings are cached), and report per dimension and per group: "
        "evidence precision and recall, sign accuracy, Cohen's kappa, pair direction accuracy, P-SOUPS pair "
        "accuracy (ties separately), and the two labellers' agreement. Writes JSON (default "
        "annotators/resources/validity.json, the published validity the dataset card cites).",
    )
    p.add_argument("--out", metavar="FILE", default=str(PUBLISHED), help="where the JSON report goes")
    p.add_argument("--validation", metavar="DIR", default=None, help="the reference set (default data/validation)")
    p.add_argument("--p-soups", metavar="FILE", default=None,
                   help="P-SOUPS pairs (default SHARED_DATA/benchmarks/p-soups_student_phd.json); 'none' skips them")
    add_common(p)
    p.set_defaults(func=cmd_validate)


def cmd_validate(args) -> int:
    from pipeline.errors import UserError
    from annotators.validity import P_SOUPS, VALIDATION, validate

    config, data_dir = load(args)
    validation = Path(args.validation) if args.validation else VALIDATION
    for name in ("items.jsonl", "pairs.jsonl", "labels_a.jsonl", "labels_b.jsonl", "double_ids.txt"):
        if not (validation / name).exists():
            raise UserError(f"validate-annotator: {validation / name} is missing; --validation names the "
                            f"reference set folder (see data/validation/README.md)")
    p_soups = None if args.p_soups == "none" else Path(args.p_soups) if args.p_soups else P_SOUPS
    if p_soups is not None and not p_soups.exists():
        raise UserError(f"validate-annotator: {p_soups} not found; pass --p-soups FILE or --p-soups none")
    try:
        report = validate(config.section("annotate"), data_dir, validation, p_soups)
    except RuntimeError as exc:
        raise UserError(f"validate-annotator: {exc}") from None
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(report, indent=1) + "\n")
    tmp.replace(out)
    ref = report["reference_test"]
    print(f"{report['annotator']}: {len(ref['dimensions_rated'])} dimensions rated on {ref['items']} test items")
    for name, g in ref["groups"].items():
        print(f"  {name:22s} precision {g['evidence_precision']}, recall {g['evidence_recall']}, "
              f"sign {g['sign_accuracy']}, kappa {g['kappa']}")
    agreement = report["labeller_agreement"]["groups"]
    print("labellers a/b kappa (three-class): " + ", ".join(f"{k} {v['kappa_three_class']}" for k, v in agreement.items()))
    if report["p_soups"]:
        for k in ("complexity", "concise_detailed", "age"):
            v = report["p_soups"][k]
            print(f"P-SOUPS {k}: pair accuracy {v['pair_accuracy']} (ties {v['ties']})")
    print(f"-> {out}")
    return 0
