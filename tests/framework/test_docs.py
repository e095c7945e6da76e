"""The documentation stays true: measured figures come from bench/results/ through one generated
page, the README stays short and names the test command CI runs, and every relative link leads
to a file."""

from __future__ import annotations

import importlib.util
import re

from conftest import ROOT


def _make_figures():
    spec = importlib.util.spec_from_file_location("make_figures", ROOT / "scripts" / "make_figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_figures_page_is_what_bench_results_give():
    figures = _make_figures()
    assert figures.PAGE.read_text() == figures.render(), "docs/figures.md is out of date: run `make figures`"


def test_the_readme_is_short_and_names_the_test_command_ci_runs():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.encode()) < 20_000
    assert "make test " in readme and "make build-dataset " in readme
    assert (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1] == "make test"
    assert "\ntest: " in (ROOT / "Makefile").read_text() and "\ntest-fast: " in (ROOT / "Makefile").read_text()


LINK = re.compile(r"\]\(([^)#\s]+)(?:#([^)\s]*))?\)")


def _anchors(page) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation but hyphens dropped, spaces to hyphens."""
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
            for h in re.findall(r"^#+ (.+)$", page.read_text(), flags=re.M)}


def test_every_relative_link_in_the_docs_leads_to_a_file_and_heading():
    pages = [ROOT / "README.md", ROOT / "data" / "validation" / "README.md", *(ROOT / "docs").rglob("*.md")]
    broken = []
    for page in pages:
        for target, anchor in LINK.findall(page.read_text()):
            path = page.parent / target
            if "://" in target:
                continue
            if not path.exists() or (anchor and path.suffix == ".md" and anchor not in _anchors(path)):
                broken.append(f"{page.relative_to(ROOT)}: {target}#{anchor}")
    assert broken == []
