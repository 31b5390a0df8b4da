"""Shared fixtures: a small structured corpus and helpers to run the entry points."""

import os
import subprocess
import sys

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Repetitive enough that a tiny model learns it in a few dozen steps.
VERSE = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\n"
         "All:\nSpeak, speak.\n\n"
         "First Citizen:\nYou are all resolved rather to die than to famish?\n\n")


@pytest.fixture
def corpus_dir(tmp_path):
    """A data folder with a 6,000-character input.txt."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "input.txt").write_text(VERSE * (6000 // len(VERSE) + 1), encoding="utf-8")
    return data_dir


def run_module(module, *args, cwd=None, timeout=240):
    """Runs `python -m module args` and returns the CompletedProcess (text mode)."""
    env = dict(os.environ, PYTHONPATH=REPO_ROOT)
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def assert_one_line_error(result, *fragments):
    """Non-zero exit, exactly one line on stderr naming `fragments`, and no traceback."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
