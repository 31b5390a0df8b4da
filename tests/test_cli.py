import re
import subprocess
import sys

import pytest

from charrnn import cli

from conftest import clean_env


def test_fail_prints_one_line_and_exits(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.fail("something is wrong", code=3)
    assert exit_info.value.code == 3
    assert capsys.readouterr().err.strip().endswith("error: something is wrong")


def test_tensorflow_imports_without_start_up_chatter_or_matplotlib():
    """Keras imports matplotlib.pyplot when it can (a second of start-up here); the commands draw nothing."""
    code = ("import sys; from charrnn import cli; cli.import_tensorflow_quietly(); import tensorflow as tf; "
            "tf.ones([1]); print(sorted(name for name in sys.modules if name.startswith('matplotlib')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env=clean_env())
    assert result.returncode == 0 and result.stderr == "" and result.stdout == "['matplotlib']\n", result.stdout


def test_library_errors_become_one_line(tmp_path):
    script = tmp_path / "tool.py"
    script.write_text("from charrnn import cli\nfrom charrnn.core.errors import CharRNNError\n"
                      "def main(argv):\n    raise CharRNNError('bad thing')\ncli.run(main)\n")
    result = subprocess.run([sys.executable, str(script), "--unknown_flag=1"], capture_output=True, text=True,
                            env=clean_env())
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            env=clean_env())
    assert result.returncode == 1 and result.stderr == "tool.py: error: bad thing\n"


def test_positional_arguments_are_refused(tmp_path):
    script = tmp_path / "tool.py"
    script.write_text("from charrnn import cli\ncli.run(lambda argv: None)\n")
    result = subprocess.run([sys.executable, str(script), "stray"], capture_output=True, text=True,
                            env=clean_env())
    assert result.returncode == 1 and result.stderr == "tool.py: error: unexpected arguments ['stray']; " \
                                                       "flags are written --name value\n"


ENTRY_POINTS = ["charrnn.train", "charrnn.sample", "charrnn.evaluate", "charrnn.export", "charrnn.bench"]


@pytest.mark.parametrize("module", ["charrnn", "charrnn.training.launch", *ENTRY_POINTS])
def test_entry_points_import_without_tensorflow(module):
    code = f"import sys, {module}; sys.exit('tensorflow' in sys.modules or 'keras' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], env=clean_env(), timeout=60).returncode == 0


@pytest.mark.parametrize("module, flags, message", [
    ("charrnn.train", ["--data_dir", "nowhere"], "nowhere does not exist"),
    ("charrnn.sample", ["--temperature", "0"], "--temperature must be > 0"),
    ("charrnn.evaluate", ["--save_dir", "nowhere"], "nowhere does not exist"),
    ("charrnn.export", [], "--out is required"),
    ("charrnn.bench", ["--rows", "lstm:2"], "lstm:2"),
])
def test_bad_flags_are_refused_before_tensorflow_loads(tmp_path, module, flags, message):
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", module, *flags], cwd=tmp_path, env=clean_env(),
                            capture_output=True, text=True, timeout=60)
    errors = [line for line in result.stderr.splitlines() if not line.startswith("import time:")]
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert result.returncode != 0 and len(errors) == 1 and message in errors[0], result.stderr[-500:]
    assert "charrnn.cli" in imported and not {"tensorflow", "keras"} & imported


@pytest.mark.parametrize("module, shared", [
    ("charrnn.train", ["--save_dir", "--precision", "--recurrence", "--intra_op_threads"]),
    ("charrnn.sample", ["--save_dir", "--checkpoint"]),
    ("charrnn.evaluate", ["--save_dir", "--checkpoint"]),
    ("charrnn.export", ["--save_dir", "--checkpoint"]),
    ("charrnn.bench", ["--precision", "--inter_op_threads"]),
])
def test_help_lists_the_shared_flags_with_the_command_s_own(tmp_path, module, shared):
    result = subprocess.run([sys.executable, "-m", module, "--help"], cwd=tmp_path, env=clean_env(),
                            capture_output=True, text=True, timeout=60)
    listed = set(re.findall(r"^  --(?:\[no\])?(\w+)", result.stdout, re.M))
    assert {flag.lstrip("-") for flag in shared} <= listed, result.stdout
