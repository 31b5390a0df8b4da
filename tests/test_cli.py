import subprocess
import sys

import pytest

from charrnn import cli


def test_fail_prints_one_line_and_exits(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.fail("something is wrong", code=3)
    assert exit_info.value.code == 3
    assert capsys.readouterr().err.strip().endswith("error: something is wrong")


def test_tensorflow_imports_without_start_up_chatter():
    code = "from charrnn import cli; cli.import_tensorflow_quietly(); import tensorflow as tf; tf.ones([1])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stderr == ""


def test_library_errors_become_one_line(tmp_path):
    script = tmp_path / "tool.py"
    script.write_text("from charrnn import cli\nfrom charrnn.errors import CharRNNError\n"
                      "def main(argv):\n    raise CharRNNError('bad thing')\ncli.run(main)\n")
    result = subprocess.run([sys.executable, str(script), "--unknown_flag=1"], capture_output=True, text=True)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    assert result.returncode == 1 and result.stderr == "tool.py: error: bad thing\n"


def test_positional_arguments_are_refused(tmp_path):
    script = tmp_path / "tool.py"
    script.write_text("from charrnn import cli\ncli.run(lambda argv: None)\n")
    result = subprocess.run([sys.executable, str(script), "stray"], capture_output=True, text=True)
    assert result.returncode == 1 and result.stderr == "tool.py: error: unexpected arguments ['stray']; " \
                                                       "flags are written --name value\n"
