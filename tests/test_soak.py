"""scripts/soak.py: a multi-worker run of a few hundred steps holds its threads, memory and open
files flat (before the fix, a per-op collective timeout added about 22 threads per step), and the
script's judgement of growth."""

import json
import os
import random
import socket
import sys

import pytest

from conftest import REPO_ROOT, load_script, run_process_group, write_corpus

SCRIPT = os.path.join(REPO_ROOT, "scripts", "soak.py")


@pytest.fixture(scope="module")
def soak():
    return load_script("soak")


def run_soak(tmp_path, *args):
    """The script and the training processes it starts, all ended by the time this returns."""
    return run_process_group([sys.executable, SCRIPT, *args], timeout=240, cwd=tmp_path)


def test_a_multi_worker_run_holds_its_threads_memory_and_files_flat(tmp_path):
    write_corpus(tmp_path / "data", length=20_000)
    report_file = tmp_path / "soak.json"
    result = run_soak(tmp_path, "--strategy", "multi_worker", "--steps", 400, "--every", 0.5, "--baseline_step", 100,
                      "--work_dir", tmp_path / "run", "--out", report_file, "--",
                      "--data_dir", tmp_path / "data", "--rnn_size", 16, "--batch_size", 8, "--seq_length", 16,
                      "--eval_every", 100, "--print_every", 10, "--seed", 1)
    report = json.loads(report_file.read_text())
    verdict = report["verdict"]
    assert report["processes"] == 2 and report["exit_codes"] == [0, 0], result.stderr
    assert report["steps_reached"] == 400
    threads = verdict["threads"]
    # Early enough that the old per-step growth (2,300 threads at step 100, 8,900 at 400) shows.
    assert threads["baseline_step"] <= 250 and threads["end_step"] >= 350, threads
    assert threads["flat"] and max(threads["end"]) < 400, threads
    assert verdict["fds"]["flat"] and verdict["rss_mib"]["flat"], verdict
    assert result.returncode == 0, result.stdout + result.stderr
    assert "threads: " in result.stdout and "flat" in result.stdout


def sample(step, threads, rss=800.0, fds=10, validated=True):
    return {"step": step, "first_validation_done": validated,
            "processes": [{"threads": threads, "rss_mib": rss, "fds": fds}]}


def test_judge_finds_what_grew_from_the_baseline(soak):
    flat = soak.judge([sample(100, 20, validated=False), sample(200, 20), sample(300, 21), sample(400, 22)], 200)
    assert all(flat[name]["flat"] for name in ("threads", "rss_mib", "fds"))
    assert flat["threads"]["baseline_step"] == 200 and flat["threads"]["end"] == [22]

    grown = soak.judge([sample(200, 100, rss=800, fds=10), sample(300, 151, rss=900, fds=15)], 200)
    assert not grown["threads"]["flat"] and not grown["rss_mib"]["flat"] and not grown["fds"]["flat"]
    # Memory counts from the first sample after the first validation.
    later = soak.judge([sample(200, 20, rss=500, validated=False), sample(300, 20, rss=800), sample(400, 20, rss=850)],
                       200)
    assert later["rss_mib"]["baseline"] == [800] and later["rss_mib"]["flat"]


def test_judge_refuses_a_run_too_short_to_tell(soak):
    assert "error" in soak.judge([sample(100, 20), sample(150, 20)], 200)
    ended = {"step": 300, "first_validation_done": True, "processes": [None]}
    assert "error" in soak.judge([sample(250, 20), ended], 200)


def test_soak_needs_a_length(tmp_path):
    result = run_soak(tmp_path, "--strategy", "one_device")
    assert result.returncode == 2 and "--steps" in result.stderr and "Traceback" not in result.stderr


def test_free_ports_are_distinct_bindable_and_below_the_ephemeral_range(soak):
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        ephemeral_low = int(f.read().split()[0])
    ports = soak.free_ports(3, rng=random.Random(0))
    assert len(set(ports)) == 3 and all(10_000 <= port < ephemeral_low for port in ports)
    with socket.socket() as taken:  # a port in use is passed over
        taken.bind(("127.0.0.1", ports[0]))
        assert ports[0] not in soak.free_ports(3, rng=random.Random(0))
