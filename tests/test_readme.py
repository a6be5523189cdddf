"""The README and docs/ say only what is true of the repository.

* the README's test command is the command ``.ci/run`` runs;
* every relative link of README.md and docs/*.md (pages, figures, anchors) points to something that exists;
* every ``ase-relaxed <command>`` they name is a real subcommand, and every ``--flag`` shown after it in code
  is an option of that subcommand;
* the README's layout names every module of the package, and its layer order is import-linter's.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from ase_relaxed.cli import build_parser

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
INLINE_CODE = re.compile(r"`([^`]+)`")
COMMAND = re.compile(r"(?<![\w-])ase-relaxed\s+([a-z][a-z0-9-]*)")
FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")


def relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def code_segments(text: str) -> list[str]:
    """Shell-like pieces of a page: each line of a fenced block, and each inline code span outside them."""
    segments = [line for block in FENCE.findall(text) for line in block.splitlines()]
    prose = FENCE.sub("", text)
    segments += [" ".join(span.split()) for span in INLINE_CODE.findall(prose)]
    return segments


def subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert len(actions) == 1, "the ase-relaxed parser should have one set of subcommands"
    return dict(actions[0].choices)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text())
    return {slug(m) for m in re.findall(r"^#+\s+(.*)$", text, re.M)}


def test_readme_test_command_is_what_ci_runs() -> None:
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
          if line.strip().startswith("python3 -m venv")]
    assert len(ci) == 1, f".ci/run should run one python3 -m venv ... line, found {ci}"
    readme = [line.strip() for block in FENCE.findall(README.read_text()) for line in block.splitlines()
              if line.strip().startswith("python3 -m venv") and "pytest" in line]
    assert readme == ci, f"README's test command {readme} differs from .ci/run's {ci}"


@pytest.mark.parametrize("page", PAGES, ids=relative)
def test_links_point_to_files_that_exist(page: Path) -> None:
    text = FENCE.sub("", page.read_text())
    missing = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            missing.append(target)
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            missing.append(target)
    assert not missing, f"{relative(page)} links to what does not exist: {missing}"


def test_docs_figures_links_from_readme_and_pages() -> None:
    """README links figures as docs/figures/..., the docs pages as figures/...; the figures it shows exist."""
    readme = LINK.findall(README.read_text())
    assert any(t.startswith("docs/figures/") for t in readme)
    for page in PAGES[1:]:
        for target in LINK.findall(page.read_text()):
            assert not target.startswith("docs/"), f"{relative(page)}: link {target!r} relative to docs/, not the root"


@pytest.mark.parametrize("page", PAGES, ids=relative)
def test_named_commands_and_flags_exist(page: Path) -> None:
    commands = subparsers()
    text = page.read_text()
    named = set(COMMAND.findall(text))
    unknown = sorted(named - set(commands))
    assert not unknown, f"{relative(page)} names ase-relaxed subcommands that do not exist: {unknown}"

    wrong = []
    for segment in code_segments(text):
        segment = re.split(r"\s#", segment)[0]  # drop shell comments
        for command in re.split(r"&&|;|\|\|", segment):
            match = COMMAND.search(command)
            if not match:
                continue
            parser, rest, name = commands[match.group(1)], command[match.end():], match.group(1)
            nested = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
            step = re.match(r"\s+([a-z][a-z0-9-]*)", rest)
            if nested and step and step.group(1) in nested[0].choices:  # e.g. ase-relaxed rg train --layers
                parser, rest, name = nested[0].choices[step.group(1)], rest[step.end():], f"{name} {step.group(1)}"
            options = {s for action in parser._actions for s in action.option_strings}
            wrong += [f"ase-relaxed {name} {flag}" for flag in FLAG.findall(rest) if flag not in options]
    assert not wrong, f"{relative(page)} shows options that do not exist: {wrong}"


def test_readme_names_every_subcommand() -> None:
    named, real = set(COMMAND.findall(README.read_text())), set(subparsers())
    assert named == real, f"README's quick start should show every subcommand; missing {sorted(real - named)}"


def readme_block(first_line: str) -> list[str]:
    """The lines of the README's fenced block that starts with ``first_line``."""
    blocks = [b.splitlines() for b in FENCE.findall(README.read_text()) if b.splitlines()[:1] == [first_line]]
    assert len(blocks) == 1, f"README should have one code block starting with {first_line!r}"
    return blocks[0]


def test_layout_names_every_module_of_the_package() -> None:
    package = ROOT / "ase_relaxed"
    actual = {p.name + "/" for p in package.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    actual |= {p.name for p in package.glob("*.py") if p.name not in ("__init__.py", "__main__.py")}
    listed = {m.group(1) for line in readme_block("ase_relaxed/")[1:] if (m := re.match(r"^  (\S+)", line))}
    assert listed == actual, (f"README's layout misses {sorted(actual - listed)} "
                              f"and lists {sorted(listed - actual)}, which do not exist")


def test_layer_order_is_the_import_linter_contract() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (contract,) = [c for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers"]
    expected = [" | ".join(name.strip().removeprefix("ase_relaxed.") for name in layer.split("|"))
                for layer in contract["layers"]]
    assert readme_block("cli") == expected, "README's layer order differs from [tool.importlinter] in pyproject.toml"
