"""Shared fixtures: a small structured corpus and helpers to run the entry points."""

import importlib.util
import os
import signal
import subprocess
import sys

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The local mirror of public corpora beside the checkout (tests never download).
SHARED_DATA = os.path.join(os.path.dirname(REPO_ROOT), "shared", "data")

# Repetitive enough that a tiny model learns it in a few dozen steps.
VERSE = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\n"
         "All:\nSpeak, speak.\n\n"
         "First Citizen:\nYou are all resolved rather to die than to famish?\n\n")


def clean_env() -> dict:
    """The environment child processes run in: the caller's without the variables that change what
    charrnn, TensorFlow or Keras do, so that no test depends on them, and with this checkout importable."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("CHARRNN_", "TF_", "KERAS_", "CUDA_", "PYTHON"))}
    return dict(env, PYTHONPATH=REPO_ROOT)


def pytest_configure(config):
    """Two logical CPU devices stand in for two GPUs in the tf.distribute tests. TensorFlow takes
    this only before it first runs an op, so it is set before any test; ops are placed on the
    first device unless a strategy spreads them."""
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
        return  # pytest-xdist's controller, which runs no test
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)


# The longest tests (30 to 80 s each, several processes), started first so that pytest-xdist's
# workers do not end on them one after the other.
SLOW_FIRST = ("test_reliability.py::test_kill_9", "test_multi_worker.py::", "test_distribution.py::")


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: not any(slow in item.nodeid for slow in SLOW_FIRST))


@pytest.fixture(autouse=True)
def no_data_mirror(monkeypatch):
    """In-process tests too run without the caller's data mirror; the tests that need one set it."""
    monkeypatch.delenv("CHARRNN_DATA_MIRROR", raising=False)


def run_module(module, *args, cwd=None, timeout=240, env=None):
    """Runs `python -m module args` (with the variables `env` added) and returns the CompletedProcess (text mode)."""
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=cwd,
                          env=dict(clean_env(), **(env or {})), capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def start_module(module, *args, cwd, env=None):
    """Starts `python -m module args` in the background: a Popen with text pipes for stdout and stderr."""
    return subprocess.Popen([sys.executable, "-m", module, *map(str, args)], cwd=cwd,
                            env=dict(clean_env(), **(env or {})), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)


def assert_one_line_error(result, *fragments):
    """Non-zero exit, exactly one line on stderr naming `fragments`, and no traceback."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def write_corpus(data_dir, length=6000):
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "input.txt").write_text((VERSE * (length // len(VERSE) + 1))[:length], encoding="utf-8")
    return data_dir


TINY_FLAGS = ("--rnn_size", 16, "--num_layers", 1, "--batch_size", 4, "--seq_length", 16, "--seed", 1)


def start_training(root, *flags):
    """`python -m charrnn.train` on root/data with TINY_FLAGS, in the background."""
    return start_module("charrnn.train", "--data_dir", "data", *TINY_FLAGS, *flags, cwd=root)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """A folder where `python -m charrnn.train` ran 12 steps: data/, save/, logs/e2e/ and its stdout."""
    root = tmp_path_factory.mktemp("trained")
    write_corpus(root / "data")
    result = run_module("charrnn.train", "--data_dir", "data", "--max_steps", 12, "--eval_every", 6, "--test_frac", 0.05,
                        "--run_name", "e2e", *TINY_FLAGS, cwd=root)
    assert result.returncode == 0, result.stderr
    return root, result.stdout


def load_script(name: str):
    """scripts/<name>.py imported as a module, for in-process tests of its functions."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO_ROOT, "scripts", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_ports(count: int) -> list:
    """Free loopback ports for the servers of a test (scripts/soak.py's free_ports)."""
    return load_script("soak").free_ports(count)


def run_process_group(args, timeout, cwd=None):
    """Runs `args` (text mode, clean environment) in a process group of its own: on a timeout, or
    any failure of the test, the group is killed with every process the command started."""
    process = subprocess.Popen([str(a) for a in args], env=clean_env(), cwd=cwd, text=True, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = process.communicate(timeout=timeout)
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.communicate()
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)
