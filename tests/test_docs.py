"""The README and docs/ cannot drift from the code: flag tables match the flag definitions, and
every file, charrnn module, flag, make target and relative link they name exists."""

import ast
import glob
import os
import re

import pytest

from conftest import REPO_ROOT, load_script

flag_tables = load_script("flag_tables")

COMMANDS = ("charrnn.train", "charrnn.sample", "charrnn.evaluate", "charrnn.export", "charrnn.bench")
# Top-level entries of the repository: a path in the docs that starts with one must exist.
REPO_ENTRIES = ("charrnn/", "scripts/", "tests/", "docs/", "data/", ".ci/")
REPO_FILES = ("README.md", "Makefile", "pyproject.toml")
# Flags the docs name that belong to other programs: absl's own, TensorBoard's, pytest's.
OTHER_PROGRAMS_FLAGS = {"helpfull", "logdir", "durations", "bind_all", "host", "port"}  # absl, TensorBoard, pytest

FENCE = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)
INLINE_CODE = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
MODULE_NAME = re.compile(r"\bcharrnn(?:\.[A-Za-z_]\w*)+")
FLAG = re.compile(r"(?<![\w-])--([a-z][a-z0-9_]*)")


def _read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def doc_pages() -> dict:
    """{path relative to the repository: text} of README.md and docs/*.md."""
    paths = [os.path.join(REPO_ROOT, "README.md")] + sorted(glob.glob(os.path.join(REPO_ROOT, "docs", "*.md")))
    return {os.path.relpath(p, REPO_ROOT): _read(p) for p in paths}


PAGES = doc_pages()


def code_spans(text: str) -> list:
    """The inline code of `text` outside fenced blocks, and each line of its fenced blocks."""
    fenced = [line for block in FENCE.findall(text) for line in block.splitlines()[1:-1]]
    return INLINE_CODE.findall(FENCE.sub("", text)) + fenced


def named_paths(text: str) -> set:
    """Repository paths (charrnn/..., scripts/..., README.md, any *.py) named in code of `text`."""
    paths = set()
    for span in code_spans(text):
        for word in re.split(r"[\s\"'(),=:]+", span):
            word = word.rstrip(".,;")
            if any(c in word for c in "<>*{}$") or word.startswith(("http", "/")):
                continue  # a pattern or placeholder, a URL, an absolute path of the user's
            if word.startswith(REPO_ENTRIES) or word in REPO_FILES or word.endswith(".py"):
                paths.add(word)
    return paths


def path_exists(path: str) -> bool:
    """Whether `path` is in the repository. A module may be named relative to charrnn/ (data/feed.py,
    as the architecture's diagram does) or by its file name alone (as the layout's tree does)."""
    if os.path.exists(os.path.join(REPO_ROOT, path)) or os.path.exists(os.path.join(REPO_ROOT, "charrnn", path)):
        return True
    if path.endswith(".py") and "/" not in path:
        return any(glob.glob(os.path.join(REPO_ROOT, top, "**", path), recursive=True)
                   for top in ("charrnn", "scripts", "tests"))
    return False


def _top_level_names(tree) -> dict:
    """{name: node} of what a module defines or imports at its top level."""
    names = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names[node.name] = node
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                for name in ast.walk(target):
                    if isinstance(name, ast.Name):
                        names[name.id] = node
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                names[(alias.asname or alias.name).split(".")[0]] = node
    return names


def module_name_exists(dotted: str) -> bool:
    """Whether charrnn.a.b[.Name[.attribute]] names a module of the package and what it defines."""
    parts = dotted.split(".")
    path = REPO_ROOT
    for i, part in enumerate(parts):
        if os.path.isdir(os.path.join(path, part)):
            path = os.path.join(path, part)
            continue
        if os.path.isfile(os.path.join(path, part + ".py")):
            path, rest = os.path.join(path, part + ".py"), parts[i + 1:]
            break
        return False
    else:
        return os.path.isfile(os.path.join(path, "__init__.py"))
    if not rest:
        return True
    names = _top_level_names(ast.parse(_read(path)))
    node = names.get(rest[0])
    if node is None or len(rest) > 2:
        return False
    if len(rest) == 2:
        return isinstance(node, ast.ClassDef) and rest[1] in _top_level_names(node)
    return True


def known_flags() -> set:
    """Every flag of the commands (their key flags) and of the scripts (argparse), and a few of
    other programs'."""
    flags = set(OTHER_PROGRAMS_FLAGS)
    for command in COMMANDS:
        flags |= {flag["name"] for flag in flag_tables.read_flags(command)}
    for script in glob.glob(os.path.join(REPO_ROOT, "scripts", "*.py")):
        flags |= set(re.findall(r"add_argument\(\s*\"--(\w+)\"", _read(script)))
    return flags


def make_targets() -> set:
    return set(re.findall(r"^([\w-]+):", _read(os.path.join(REPO_ROOT, "Makefile")), re.MULTILINE))


def named_make_targets(text: str) -> set:
    return {m.group(1) for span in code_spans(text) for m in re.finditer(r"^\s*make ([\w-]+)", span)}


def heading_anchors(text: str) -> set:
    """GitHub's anchors of the headings of a markdown page (outside fenced blocks)."""
    anchors, seen = set(), {}
    for heading in re.findall(r"^#{1,6} (.+)$", FENCE.sub("", text), re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
        seen[slug] = seen.get(slug, 0) + 1
    return anchors


def broken_links(page: str, text: str) -> list:
    broken = []
    for target in LINK.findall(FENCE.sub("", text)):
        if re.match(r"[a-z]+:", target):
            continue  # http:, https:, mailto:
        path, _, anchor = target.partition("#")
        resolved = os.path.normpath(os.path.join(REPO_ROOT, os.path.dirname(page), path)) if path \
            else os.path.join(REPO_ROOT, page)
        if not os.path.exists(resolved):
            broken.append(target)
        elif anchor and resolved.endswith(".md") and anchor not in heading_anchors(_read(resolved)):
            broken.append(target)
    return broken


def test_the_readme_is_short_and_reaches_your_own_text_early():
    lines = PAGES["README.md"].splitlines()
    assert len(lines) <= 250
    assert "## Your own text" in lines[:100]
    assert "make train" in PAGES["README.md"] and "make test" in PAGES["README.md"]


def test_every_command_has_a_flag_table_and_every_table_is_up_to_date():
    texts = {page: text for page, text in PAGES.items() if page.startswith("docs")}
    tables = flag_tables.tables_for(texts.values())
    assert set(tables) == set(COMMANDS)
    stale = [page for page, text in texts.items() if flag_tables.updated_page(text, tables) != text]
    assert not stale, f"flag tables out of date in {stale}: run python scripts/flag_tables.py (make docs)"


def test_a_table_that_differs_from_the_flag_definitions_is_found():
    text = "<!-- flags: charrnn.export -->\n| old table |\n<!-- end flags -->\n"
    tables = flag_tables.tables_for([text])
    assert flag_tables.updated_page(text, tables) != text
    assert "`--format`" in flag_tables.updated_page(text, tables)


@pytest.mark.parametrize("page", sorted(PAGES))
def test_every_named_path_exists(page):
    missing = sorted(p for p in named_paths(PAGES[page]) if not path_exists(p))
    assert not missing, f"{page} names paths that do not exist: {missing}"


@pytest.mark.parametrize("page", sorted(PAGES))
def test_every_named_charrnn_module_and_name_exists(page):
    missing = sorted({m for m in MODULE_NAME.findall(PAGES[page]) if not module_name_exists(m)})
    assert not missing, f"{page} names what charrnn does not have: {missing}"


def test_every_named_flag_exists():
    known = known_flags()
    missing = {page: sorted(set(FLAG.findall(text)) - known) for page, text in PAGES.items()}
    assert not {page: flags for page, flags in missing.items() if flags}


@pytest.mark.parametrize("page", sorted(PAGES))
def test_every_named_make_target_exists(page):
    assert not named_make_targets(PAGES[page]) - make_targets()


@pytest.mark.parametrize("page", sorted(PAGES))
def test_every_relative_link_and_anchor_resolves(page):
    assert not broken_links(page, PAGES[page])


def test_the_checks_see_what_is_missing():
    """Each check finds a name that does not exist (so an empty result above means something)."""
    text = ("Run `scripts/no_such.py` or `make no_such`, see charrnn.training.trainer.no_such and "
            "[a page](docs/no_such.md), [a heading](docs/training.md#no-such), with --no_such_flag.")
    assert named_paths(text) == {"scripts/no_such.py"} and not path_exists("scripts/no_such.py")
    assert not path_exists("no_such.py") and path_exists("feed.py") and path_exists("data/feed.py")
    assert named_make_targets(text) == {"no_such"}
    assert not module_name_exists("charrnn.training.trainer.no_such")
    assert module_name_exists("charrnn.training.trainer.Trainer.train")
    assert not module_name_exists("charrnn.training.no_such")
    assert broken_links("README.md", text) == ["docs/no_such.md", "docs/training.md#no-such"]
    assert "no_such_flag" not in known_flags() and FLAG.findall(text) == ["no_such_flag"]
