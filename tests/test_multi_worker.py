"""MultiWorkerMirroredStrategy with two worker processes on 127.0.0.1 (free ports, every wait
bounded, every process ended by the test)."""

import contextlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np

from charrnn.inference.sampler import Sampler, SamplingConfig
from charrnn.training import checkpoints
from charrnn.training.launch import RunRequest, prepare_run
from charrnn.training.trainer import Trainer

from conftest import REPO_ROOT, assert_one_line_error, clean_env, free_ports, run_module, write_corpus

WAIT = 120  # seconds any one wait may take before the test fails


def tf_configs(workers: int) -> list:
    """TF_CONFIG of each worker of a cluster on free loopback ports."""
    addresses = [f"127.0.0.1:{port}" for port in free_ports(workers)]
    return [json.dumps({"cluster": {"worker": addresses}, "task": {"type": "worker", "index": i}})
            for i in range(workers)]


@contextlib.contextmanager
def started(commands):
    """Starts each (args, env) as a process; kills whatever still runs on the way out."""
    processes = []
    try:
        for args, env in commands:
            processes.append(subprocess.Popen(args, env=dict(clean_env(), **env), text=True, stdin=subprocess.DEVNULL,
                                              stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        yield processes
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.communicate(timeout=WAIT)


def finish(process, timeout=WAIT):
    """(return code, stdout, stderr) once `process` ends, within `timeout` seconds."""
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def train_workers(tmp_path, *args, collective_timeout=30):
    """The charrnn.train command of each of two workers, and its environment."""
    command = [sys.executable, "-m", "charrnn.train", "--strategy", "multi_worker",
               "--collective_timeout", collective_timeout,
               "--data_dir", tmp_path / "data", "--save_dir", tmp_path / "save", "--log_dir", tmp_path / "logs",
               "--rnn_size", 16, "--batch_size", 4, "--seq_length", 10, "--seed", 2, "--save_every", 10,
               "--eval_every", 10, "--print_every", 50, *args]
    return [([str(a) for a in command], {"TF_CONFIG": config}) for config in tf_configs(2)]


def newest_step(save_dir) -> int:
    try:
        with open(os.path.join(save_dir, "checkpoint")) as f:
            return int(re.search(r'model_checkpoint_path: "ckpt-(\d+)"', f.read())[1])
    except (OSError, TypeError):
        return 0


def wait_for_checkpoint(save_dir, after: int):
    deadline = time.monotonic() + WAIT
    while newest_step(save_dir) <= after:
        assert time.monotonic() < deadline, "no checkpoint in time"
        time.sleep(0.2)
    return newest_step(save_dir)


def helper_workers(tmp_path, save_dirs, *args_of_worker) -> list:
    """multi_worker_helper.py's command for each of two workers (worker i saves into save_dirs[i]
    and writes tmp_path / weights_i.npz; args_of_worker[i] follow), and its environment."""
    text = write_corpus(tmp_path / "data") / "input.txt"
    helper = os.path.join(REPO_ROOT, "tests", "multi_worker_helper.py")
    return [([sys.executable, helper, str(text), str(save_dirs[i]), str(tmp_path / f"weights_{i}.npz"),
              *map(str, args_of_worker[i])], {"TF_CONFIG": config}) for i, config in enumerate(tf_configs(2))]


def assert_the_same_final_state(tmp_path) -> tuple:
    """Both workers' weights, Adam's state and carried state are equal bit for bit; returns their
    step and worker 0's arrays."""
    weights = [np.load(tmp_path / f"weights_{i}.npz") for i in range(2)]
    assert len(weights[0].files) > 10
    for name in weights[0].files:  # the same all-reduced updates: the same weights, bit for bit
        np.testing.assert_array_equal(weights[0][name], weights[1][name])
    steps = [int(weights[0][name]) for name in weights[0].files
             if weights[0][name].ndim == 0 and weights[0][name].dtype.kind == "i"]
    assert len(set(steps)) == 1, steps  # the step counter and Adam's are one number
    return steps[0], weights[0]


def test_two_workers_train_alike_and_the_chief_s_checkpoint_continues_on_one_device(tmp_path):
    save = str(tmp_path / "save")
    with started(helper_workers(tmp_path, [save, save], [20], [20])) as (chief, worker):
        for process in (chief, worker):
            code, out, err = finish(process)
            assert code == 0, err
            assert process is chief or out == ""  # only the chief prints
    step, weights = assert_the_same_final_state(tmp_path)
    assert step == 20
    assert len(os.listdir(tmp_path / "save_logs")) == 1 and newest_step(save) == 20

    request = RunRequest(settings={"max_steps": 25}, given=frozenset({"max_steps"}), save_dir=save,
                         log_dir=str(tmp_path / "save_logs"), init_from=save)
    continued = Trainer.start(prepare_run(request), out=io.StringIO())  # on one device, in this process
    assert continued.step == 20
    carried = [weights[name] for name in weights.files[-len(continued.rnn_state):]]  # saved last
    for variable, state in zip(continued.rnn_state, carried):
        np.testing.assert_array_equal(variable.numpy(), state)
    assert continued.train().step == 25 and newest_step(save) == 25
    model, vocab, _ = checkpoints.load_model(save)
    assert len(Sampler(model, vocab).generate("All:", 30, SamplingConfig(seed=1))[0]) == 30


def test_a_lost_worker_stops_the_other_and_the_same_commands_continue(tmp_path):
    write_corpus(tmp_path / "data")
    save = tmp_path / "save"
    # --init_from the save folder starts the run while that holds no checkpoint: one command for both.
    commands = train_workers(tmp_path, "--max_steps", 100_000, "--init_from", save)
    with started(commands) as (chief, worker):
        reached = wait_for_checkpoint(save, after=10)
        worker.send_signal(signal.SIGKILL)
        lost_at = time.monotonic()
        code, out, err = finish(chief, timeout=60)
        assert time.monotonic() - lost_at < 15  # noticed at once (its connections close), not after --collective_timeout
    result = subprocess.CompletedProcess(chief.args, code, out, err)
    assert_one_line_error(result, "lost worker 1 of the multi-worker run", f"--init_from {save}")
    assert "training steps 0 to " in out
    last = newest_step(save)
    assert last >= reached

    # The same commands again continue from the chief's last checkpoint. SIGTERM to the chief then
    # saves and stops both.
    with started(commands) as (chief, worker):
        wait_for_checkpoint(save, after=last + 10)
        chief.send_signal(signal.SIGTERM)
        chief_code, chief_out, chief_err = finish(chief)
        worker_code, worker_out, worker_err = finish(worker)
    assert f"training steps {last} to " in chief_out
    assert chief_code == 128 + signal.SIGTERM and "interrupted by SIGTERM" in chief_out, chief_err
    stopped_at = int(re.search(r"at step (\d+); saved", chief_out)[1])
    assert newest_step(save) == stopped_at
    assert worker_code == 0 and worker_out == "" and worker_err == ""


def test_the_chief_alone_decides_when_a_time_budget_ends_and_alone_writes(tmp_path):
    """Worker 1's clock runs 1,000 times faster: on its own, its budget of 12 s would end after the
    first step. The workers take the chief's schedule; each has its own save and log folders, and
    worker 1 writes and prints nothing. (A loaded CI machine made 12 steps in a 6 s budget, the
    first one's tracing included: the check asks for steps past the first save, not for a speed.)"""
    folders = [tmp_path / "save_0", tmp_path / "save_1"]
    with started(helper_workers(tmp_path, folders, [100_000, 0.2, 1], [100_000, 0.2, 1000])) as (chief, worker):
        chief_code, chief_out, chief_err = finish(chief)
        worker_code, worker_out, worker_err = finish(worker)
    assert chief_code == 0, chief_err
    assert worker_code == 0 and worker_out == "" and worker_err == ""
    step, _ = assert_the_same_final_state(tmp_path)
    assert step > 10 and newest_step(folders[0]) == step  # trained to the chief's budget, and saved there
    for path in (folders[1], f"{folders[1]}_logs"):
        assert not os.path.exists(path) or os.listdir(path) == [], os.listdir(path)


def test_sigint_to_a_worker_stops_every_worker_after_the_same_step_and_the_chief_saves_it(tmp_path):
    save = tmp_path / "save"
    with started(helper_workers(tmp_path, [save, save], [100_000], [100_000])) as (chief, worker):
        wait_for_checkpoint(save, after=10)
        worker.send_signal(signal.SIGINT)
        chief_code, chief_out, chief_err = finish(chief)
        worker_code, worker_out, worker_err = finish(worker)
    assert chief_code == 0 and worker_code == 0, chief_err + worker_err
    step, _ = assert_the_same_final_state(tmp_path)
    assert step > 10 and newest_step(save) == step


def test_multi_worker_needs_a_sound_tf_config(tmp_path):
    write_corpus(tmp_path / "data")
    for env, message in (({}, "needs the TF_CONFIG environment variable"),
                         ({"TF_CONFIG": "{oops"}, "TF_CONFIG is not valid JSON"),
                         ({"TF_CONFIG": '{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 1}}'},
                          "task.index 1 is not in [0, 1)")):
        result = run_module("charrnn.train", "--strategy", "multi_worker", "--data_dir", tmp_path / "data",
                            "--save_dir", tmp_path / "save", cwd=tmp_path, env=env, timeout=60)
        assert_one_line_error(result, message)


def test_a_hung_worker_stops_the_other_within_the_heartbeat_timeout(tmp_path):
    """SIGSTOP: the worker's connections stay open, its heartbeats stop. With no collective timeout
    in the ops themselves, the coordination service's heartbeats must catch it (about 10 s)."""
    write_corpus(tmp_path / "data")
    commands = train_workers(tmp_path, "--max_steps", 100_000, collective_timeout=600)
    with started(commands) as (chief, worker):
        wait_for_checkpoint(tmp_path / "save", after=10)
        worker.send_signal(signal.SIGSTOP)
        stopped_at = time.monotonic()
        code, out, err = finish(chief, timeout=90)
        assert time.monotonic() - stopped_at < 40
    assert_one_line_error(subprocess.CompletedProcess(chief.args, code, out, err),
                          "lost worker 1 of the multi-worker run", "heartbeats")
