"""The core names no first-party plugin: no slug, distribution, package or class of ours appears in
``core/src`` outside docstrings, comments and the documented setting defaults (issue 13, item 4).

The names are read from the plugins themselves (their pyproject and what they register), so a new
first-party plugin is covered without editing this file. Slugs that are ordinary words (``process``,
``interval``…) are only matched where they are used as slugs: a whole string, quoted inside one, an
option (``--interval``), a block path (``process/dev``) or ``type: process``; other slugs, package and
class names wherever they appear in code.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from sluice.plugins import KINDS, PluginManager
from tests.public_modules import PLUGIN_FOLDERS, ROOT

CORE = ROOT / "core" / "src" / "sluice"

#: Slugs that are also ordinary words, matched only where they stand as slugs.
ORDINARY_WORDS = frozenset({"process", "interval", "sql", "local", "github"})

#: The documented defaults that may name a first-party slug: (file under core/src/sluice, setting).
SETTING_DEFAULTS = {("settings.py", "queue_backend"), ("settings.py", "default_infrastructure")}


@dataclass(frozen=True)
class FirstParty:
    """What names our plugins: distributions, import packages, slugs and class names."""

    distributions: frozenset[str]
    packages: frozenset[str]
    slugs: frozenset[str]
    classes: frozenset[str]


@cache
def first_party() -> FirstParty:
    """Read from the plugin folders and the registries (every kind)."""
    distributions, packages = set(), set()
    for folder in PLUGIN_FOLDERS:
        for pyproject in (ROOT / folder).glob("*/pyproject.toml"):
            distributions.add(tomllib.loads(pyproject.read_text())["project"]["name"])
            packages.update(path.name for path in (pyproject.parent / "src").iterdir() if path.is_dir())
    packages.discard("__pycache__")
    manager = PluginManager()
    slugs, classes = set(), set()
    for kind in KINDS:
        for entry in manager.registry(kind).entries():
            if entry.distribution in distributions:
                slugs.add(entry.slug)
                classes.add(entry.cls.__name__)
    return FirstParty(frozenset(distributions), frozenset(packages), frozenset(slugs), frozenset(classes))


def _word(name: str) -> str:
    return rf"(?<![\w.]){re.escape(name)}(?![\w-])"


def _slug_use(slug: str) -> str:
    """Where an ordinary-word slug stands as a slug inside a string."""
    name = re.escape(slug)
    uses = (rf"['\"`]{name}['\"`]", rf"--{name}\b", rf"(?<![\w.-]){name}/\w", rf"type: ?{name}\b", rf"-i {name}\b")
    return "|".join(uses)


@cache
def string_patterns() -> list[tuple[str, re.Pattern[str]]]:
    names = first_party()
    patterns = [(name, re.compile(_word(name))) for name in sorted(names.distributions | names.packages)]
    patterns += [(name, re.compile(rf"\b{re.escape(name)}\b")) for name in sorted(names.classes)]
    for slug in sorted(names.slugs):
        patterns.append((slug, re.compile(_slug_use(slug) if slug in ORDINARY_WORDS else _word(slug))))
    return patterns


def _docstring_lines(tree: ast.AST) -> set[int]:
    """The lines of string expressions standing alone: docstrings (and string comments)."""
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return lines


def _allowed_defaults(tree: ast.AST, relative: str) -> set[tuple[int, int]]:
    """Positions of the ``default=`` strings of the settings allowed to name a first-party slug."""
    allowed = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            if (relative, node.target.id) not in SETTING_DEFAULTS or not isinstance(node.value, ast.Call):
                continue
            for keyword in node.value.keywords:
                if keyword.arg == "default" and isinstance(keyword.value, ast.Constant):
                    allowed.add((keyword.value.lineno, keyword.value.col_offset))
    return allowed


def first_party_names_in(path: Path, relative: str) -> list[str]:
    """``file:line: name`` for each first-party name in the code of ``path`` (docstrings and comments aside)."""
    source = path.read_text()
    tree = ast.parse(source)
    docstrings = _docstring_lines(tree)
    allowed = _allowed_defaults(tree, relative)
    names = first_party()
    identifiers = names.classes | names.packages
    found = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        line = token.start[0]
        if token.type == tokenize.NAME and token.string in identifiers:
            found.append(f"{relative}:{line}: {token.string}")
        elif token.type == tokenize.STRING and line not in docstrings and token.start not in allowed:
            found += [
                f"{relative}:{line}: {name}" for name, pattern in string_patterns() if pattern.search(token.string)
            ]
    return found


def core_files() -> list[Path]:
    return sorted(CORE.rglob("*.py"))


def test_the_first_party_names_are_read_from_the_plugins() -> None:
    names = first_party()
    assert {"sluice-s3", "sluice-process", "sluice-cron", "sluice-ui"} <= names.distributions
    assert {"sluice_s3", "sluice_docker"} <= names.packages
    assert {"local-file-system", "process", "docker-registry", "cron", "interval", "rrule"} <= names.slugs
    assert {"LocalFileSystem", "S3", "DockerContainer", "KubernetesJob", "CronSchedule"} <= names.classes


@pytest.mark.parametrize("path", core_files(), ids=lambda path: path.relative_to(CORE).as_posix())
def test_core_code_names_no_first_party_plugin(path: Path) -> None:
    assert first_party_names_in(path, path.relative_to(CORE).as_posix()) == []


def test_the_check_finds_names_in_code_and_leaves_docstrings_and_comments(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        '"""A docstring may say process, cron and sluice-s3."""\n'
        "# so may a comment: -i process\n"
        'DEFAULT = "process"\n'
        'HINT = f"pip install sluice-docker for {kind}"\n'
        'WORDS = "in this process, at an interval"\n'
        'OPTIONS = "give --cron or --interval"\n'
        "from sluice_s3 import S3\n"
        'PATH = "local-file-system/dev"\n'
    )
    assert first_party_names_in(sample, "sample.py") == [
        "sample.py:3: process",
        "sample.py:4: sluice-docker",
        "sample.py:6: cron",
        "sample.py:6: interval",
        "sample.py:7: sluice_s3",
        "sample.py:7: S3",
        "sample.py:8: local-file-system",
    ]
