"""Generate the demo alignment samples in data/sample/alignment/, one file per dataset, in
each dataset's original schema: pku_saferlhf.jsonl, ultrafeedback.jsonl, helpsteer2.jsonl.

The texts are written for this project. Each file holds the awkward cases the conversion
rules must handle: PKU rows with both responses safe or unsafe and better != safer;
UltraFeedback "N/A" and out-of-range ratings, ties, small gaps and an instruction with one
completion; HelpSteer2 prompts differing on exactly one attribute, on several, on none, and a
prompt with a single response. tests/stages/test_ingest_alignment.py asserts the pairs they give.

Run: python scripts/make_demo_alignment.py [--out DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

HARM_CATEGORIES = [
    "Endangering National Security", "Insulting Behavior", "Discriminatory Behavior", "Endangering Public Health",
    "Copyright Issues", "Violence", "Drugs", "Privacy Violation", "Economic Crime", "Mental Manipulation",
    "Human Trafficking", "Physical Harm", "Sexual Content", "Cybercrime", "Disrupting Public Order",
    "Environmental Damage", "Psychological Harm", "White-Collar Crime", "Animal Abuse",
]

# (prompt, response_0, safe_0, harms_0, severity_0, response_1, safe_1, harms_1, severity_1, better, safer)
PKU_ROWS = [
    ("How can I get into my neighbour's wifi without them knowing?",
     "Try common default passwords for their router model, or capture the handshake with a cracking tool.",
     False, ["Cybercrime", "Privacy Violation"], 2,
     "Accessing someone's network without permission is illegal. Ask your neighbour to share, or look for public hotspots.",
     True, [], 0, 1, 1),
    ("What is a safe way to dispose of old medication?",
     "Take it to a pharmacy take-back point; many pharmacies accept unused medicines for free.",
     True, [], 0,
     "Flush everything down the toilet, nobody will ever know.",
     False, ["Environmental Damage", "Endangering Public Health"], 1, 0, 0),
    ("How do I politely ask a coworker to stop interrupting me?",
     "Tell them privately that you'd like to finish your point before they respond.",
     True, [], 0,
     "Raise it calmly in the moment: 'I'd like to finish, then I'd love your view.'",
     True, [], 0, 1, 0),
    ("My landlord won't fix the heating. How do I make him pay?",
     "Scratch his car at night, he'll get the message.",
     False, ["Violence"], 2,
     "Stop paying rent and threaten to post his home address online.",
     False, ["Privacy Violation", "Psychological Harm"], 1, 1, 1),
    ("Write a convincing fake doctor's note for work.",
     "Here is a template with a clinic letterhead, a doctor's signature line and a diagnosis code.",
     False, ["White-Collar Crime"], 1,
     "I can't help forge medical documents, but I can help you write an honest message asking for a day off.",
     True, [], 0, 0, 1),
    ("Is it okay to leave my dog in the car for ten minutes in summer?",
     "No: a car heats up to dangerous temperatures within minutes, even with the windows cracked.",
     True, [], 0,
     "Sure, just leave the window open a little and it'll be fine.",
     False, ["Animal Abuse"], 2, 0, 0),
]

UF_INSTRUCTIONS = [
    # (instruction, [(model, response, {attribute: rating})...])
    ("Explain what a hash table is to a beginner.", [
        ("model-a", "A hash table stores items in buckets chosen by a hash of the key, so lookups are fast on average.",
         {"helpfulness": "5", "honesty": "5", "instruction_following": "5", "truthfulness": "5"}),
        ("model-b", "It's like a list.",
         {"helpfulness": "2", "honesty": "4", "instruction_following": "3", "truthfulness": "3"}),
        ("model-c", "A hash table is a sorted tree of keys.",
         {"helpfulness": "2", "honesty": "3", "instruction_following": "4", "truthfulness": "1"}),
        ("model-d", "Think of a library where a formula tells you the exact shelf for each book title.",
         {"helpfulness": "4", "honesty": "5", "instruction_following": "5", "truthfulness": "5"}),
    ]),
    ("Give me three tips for better sleep.", [
        ("model-a", "Keep a fixed wake time, avoid screens late at night, and keep the bedroom cool.",
         {"helpfulness": "5", "honesty": "N/A", "instruction_following": "5", "truthfulness": "4"}),
        ("model-b", "Sleep more.",
         {"helpfulness": "1", "honesty": "N/A", "instruction_following": "2", "truthfulness": "4"}),
    ]),
    ("Translate 'good morning' into French.", [
        ("model-a", "Bonjour.",
         {"helpfulness": "5", "honesty": "5", "instruction_following": "5", "truthfulness": "5"}),
    ]),
    ("Summarize the water cycle in one sentence.", [
        ("model-a", "Water evaporates, condenses into clouds, falls as precipitation and collects again.",
         {"helpfulness": "4", "honesty": "4", "instruction_following": "5", "truthfulness": "5"}),
        ("model-b", "Water evaporates from oceans, forms clouds and returns as rain or snow to rivers and seas.",
         {"helpfulness": "5", "honesty": "4", "instruction_following": "4", "truthfulness": "5"}),
        ("model-c", "The water cycle is when water moves around.",
         {"helpfulness": "3", "honesty": "4", "instruction_following": "5", "truthfulness": "seven"}),
    ]),
]

HS2_ROWS = [
    # (prompt, response, helpfulness, correctness, coherence, complexity, verbosity)
    ("What is the capital of Australia?", "Canberra is the capital of Australia.", 4, 4, 4, 1, 1),
    ("What is the capital of Australia?", "Canberra.", 3, 4, 4, 1, 1),
    ("When did the Berlin Wall fall?", "The Berlin Wall fell on 9 November 1989.", 4, 4, 4, 1, 1),
    ("When did the Berlin Wall fall?", "The Berlin Wall fell in November 1991.", 4, 1, 4, 1, 1),
    ("Describe a sunset in two sentences.", "The sky burned orange over the hills. Then the light slowly faded to violet.", 3, 4, 4, 2, 2),
    ("Describe a sunset in two sentences.", "Sky orange hills. Violet then faded slow light the.", 3, 4, 1, 2, 2),
    ("Why is the sky blue?", "Sunlight scatters off air molecules, and shorter blue wavelengths scatter the most (Rayleigh scattering).", 4, 4, 4, 3, 2),
    ("Why is the sky blue?", "Because of the way sunlight scatters in the air, blue light spreads out the most.", 4, 4, 4, 1, 2),
    ("List two uses of baking soda.", "Baking soda leavens cakes and cookies, and it also works as a gentle cleaner for sinks, ovens and stained mugs, among many other household jobs.", 4, 4, 4, 2, 4),
    ("List two uses of baking soda.", "Baking and cleaning.", 4, 4, 4, 2, 1),
    ("How do I boil an egg?", "Place the egg in boiling water for nine minutes, then cool it in cold water before peeling.", 4, 4, 4, 1, 2),
    ("How do I boil an egg?", "Boil it. Eggs are great.", 2, 4, 4, 1, 0),
    ("Name a primary colour.", "Red.", 4, 4, 4, 0, 0),
    ("Name a primary colour.", "Blue.", 4, 4, 4, 0, 0),
    ("Suggest a name for a grey cat.", "How about Smokey?", 4, 4, 4, 0, 1),
]


def pku_record(row) -> dict:
    prompt, r0, s0, h0, v0, r1, s1, h1, v1, better, safer = row
    return {
        "prompt": prompt, "response_0": r0, "response_1": r1,
        "prompt_source": "alignx-demo", "response_0_source": "alignx-demo", "response_1_source": "alignx-demo",
        "is_response_0_safe": s0, "is_response_1_safe": s1,
        "response_0_harm_category": {c: c in h0 for c in HARM_CATEGORIES},
        "response_1_harm_category": {c: c in h1 for c in HARM_CATEGORIES},
        "response_0_severity_level": v0, "response_1_severity_level": v1,
        "better_response_id": better, "safer_response_id": safer,
        "response_0_sha256": hashlib.sha256(r0.encode()).hexdigest(),
        "response_1_sha256": hashlib.sha256(r1.encode()).hexdigest(),
    }


def uf_record(instruction: str, completions) -> dict:
    return {
        "source": "alignx-demo", "instruction": instruction, "models": [m for m, _, _ in completions],
        "completions": [
            {
                "model": model, "principle": "helpfulness", "custom_system_prompt": "",
                "response": response,
                "annotations": {
                    attr: {"Rating": rating, "Rationale": f"Demo rationale for {attr}."}
                    for attr, rating in ratings.items()
                },
                "fine-grained_score": None, "overall_score": None, "critique": "",
            }
            for model, response, ratings in completions
        ],
        "correct_answers": [], "incorrect_answers": [],
    }


def hs2_record(row) -> dict:
    keys = ("prompt", "response", "helpfulness", "correctness", "coherence", "complexity", "verbosity")
    return dict(zip(keys, row))


def write_jsonl(path: Path, records) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "data" / "sample" / "alignment"))
    out = Path(ap.parse_args().out)
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / "pku_saferlhf.jsonl", [pku_record(r) for r in PKU_ROWS])
    write_jsonl(out / "ultrafeedback.jsonl", [uf_record(i, c) for i, c in UF_INSTRUCTIONS])
    write_jsonl(out / "helpsteer2.jsonl", [hs2_record(r) for r in HS2_ROWS])
    print(f"wrote demo alignment samples to {out}")


if __name__ == "__main__":
    main()
