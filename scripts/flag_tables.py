"""Writes the flag tables of docs/ from the commands' absl flag definitions.

    python scripts/flag_tables.py           # rewrite the tables in docs/*.md (or: make docs)
    python scripts/flag_tables.py --check   # exit 1, naming the pages, if a table is out of date

A page asks for a command's table with a pair of markers; everything between them is this
script's to write:

    <!-- flags: charrnn.train -->
    <!-- end flags -->

Each command's flags are read in a process of its own, because the commands define flags of the
same names (--save_dir, --seed) on absl's one global FLAGS. The table lists the command's key
flags (those `--help` shows) in the order they are defined, with their defaults and help text.
"""

import argparse
import glob
import json
import os
import re
import subprocess
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS_DIR = os.path.join(REPO_ROOT, "docs")
TABLE = re.compile(r"(<!-- flags: (?P<module>[\w.]+) -->\n)(?P<table>.*?)(<!-- end flags -->)", re.DOTALL)

# Run in a child process: prints the key flags of one command module as JSON.
_READ_FLAGS = """
import importlib, json, sys
from absl import flags
module = importlib.import_module(sys.argv[1])
key_flags = flags.FLAGS.get_key_flags_for_module(module.__name__)
print(json.dumps([{"name": f.name, "short_name": f.short_name, "default": f.default_as_str, "help": f.help,
                   "boolean": f.boolean, "choices": getattr(f.parser, "enum_values", None)} for f in key_flags]))
"""


def read_flags(module: str) -> list:
    """The key flags of `module` (e.g. 'charrnn.train'), as dicts: name, short_name, default, help, boolean
    and choices (an enum's values, else None)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHARRNN_", "TF_", "PYTHON"))}
    result = subprocess.run([sys.executable, "-c", _READ_FLAGS, module], cwd=REPO_ROOT, env=env, text=True,
                            capture_output=True, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"cannot read the flags of {module}: {result.stderr.strip().splitlines()[-1:]}")
    return json.loads(result.stdout)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render_table(flag_list: list) -> str:
    """A markdown table of the flags: flag, default, meaning."""
    lines = ["| flag | default | meaning |", "| --- | --- | --- |"]
    for flag in flag_list:
        dashes = "-" if len(flag["name"]) == 1 else "--"  # -n, as char-rnn spells it
        name = f"`{dashes}{flag['name']}`" + (f" / `-{flag['short_name']}`" if flag["short_name"] else "")
        meaning = flag["help"]
        if flag["choices"]:  # absl starts an enum's help with "<a|b|c>: "
            meaning = meaning.split(": ", 1)[-1]
            meaning = f"{', '.join(f'`{c}`' for c in flag['choices'])}: {meaning}"
        value = None if flag["default"] is None else flag["default"].strip("'")  # absl quotes it: 'save'
        if flag["boolean"]:
            default = "on" if value == "true" else "off"
        elif value is None:
            default = "none"
        else:
            default = f"`{value}`" if value else "`''`"
        lines.append(f"| {name} | {default} | {_cell(meaning)} |")
    return "\n".join(lines) + "\n"


def updated_page(text: str, tables: dict) -> str:
    """`text` with every marked table replaced by tables[module]."""
    return TABLE.sub(lambda m: m.group(1) + tables[m.group("module")] + m.group(4), text)


def pages() -> dict:
    """{path: text} of every docs/*.md page."""
    result = {}
    for path in sorted(glob.glob(os.path.join(DOCS_DIR, "*.md"))):
        with open(path, encoding="utf-8") as f:
            result[path] = f.read()
    return result


def tables_for(texts) -> dict:
    """{module: table} for every module that a marker in `texts` names."""
    modules = sorted({m.group("module") for text in texts for m in TABLE.finditer(text)})
    return {module: render_table(read_flags(module)) for module in modules}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report pages whose tables are out of date")
    args = parser.parse_args()
    texts = pages()
    tables = tables_for(texts.values())
    stale = [path for path, text in texts.items() if updated_page(text, tables) != text]
    if args.check:
        for path in stale:
            print(f"{os.path.relpath(path, REPO_ROOT)}: flag table out of date; run python scripts/flag_tables.py",
                  file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        with open(path, "w", encoding="utf-8") as f:
            f.write(updated_page(texts[path], tables))
        print(f"wrote {os.path.relpath(path, REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
