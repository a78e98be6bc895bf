"""The README and docs point at things that exist: relative links (and their anchors),
modules, scripts and config files named in commands; the README stays one page."""

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PAGES = [REPO / "README.md", REPO / "CHANGELOG.md", *sorted((REPO / "docs").glob("*.md"))]
PACKAGE = REPO / "workflow/ensemble_distill"


def slug(heading):
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def anchors(page):
    return {slug(h) for h in re.findall(r"^#+ (.+)$", page.read_text(), flags=re.M)}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_relative_links_resolve(page):
    for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
        if re.match(r"[a-z]+://", target):
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.exists(), f"{page.name}: link to missing {target}"
        if anchor and linked.suffix == ".md":
            assert anchor in anchors(linked), f"{page.name}: no heading '#{anchor}' in {path}"


def named_paths(text):
    """Modules, scripts and configs that commands and code spans name."""
    modules = set(re.findall(r"python -m ensemble_distill\.([\w.]+)", text))
    files = set(
        re.findall(
            r"(?<![\w/.-])((?:bench|configs|tests|docs|profiles|envs|\.ci)/[\w./-]+\.(?:py|yaml|md|sh))",
            text,
        )
    )  # noqa: E501
    return modules, files


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_commands_name_existing_modules_and_files(page):
    modules, files = named_paths(page.read_text())
    for module in modules:
        base = PACKAGE.joinpath(*module.split("."))
        assert base.with_suffix(".py").is_file() or (base / "__main__.py").is_file(), (
            f"{page.name}: python -m ensemble_distill.{module}: no such module"
        )
    for name in files:
        if "*" not in name:
            assert (REPO / name).exists(), f"{page.name}: {name} does not exist"


def test_readme_is_one_page_without_history():
    readme = (REPO / "README.md").read_text()
    assert len(readme.encode()) <= 15 * 1024
    assert "this machine" not in readme
    assert len(re.findall(r"`[0-9a-f]{7,40}`", readme)) <= 2  # one provenance line per table
