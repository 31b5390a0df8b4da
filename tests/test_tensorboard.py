"""TensorBoard for real: the server reads the run's event files and serves the curves over HTTP."""

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from conftest import free_ports


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture
def tensorboard_url(trained_run):
    root, _ = trained_run
    (port,) = free_ports(1)
    tensorboard = os.path.join(os.path.dirname(sys.executable), "tensorboard")
    server = subprocess.Popen([tensorboard, "--logdir", str(root / "logs"), "--host", "127.0.0.1",
                               "--port", str(port), "--reload_interval", "1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def wait_for_scalars(url: str, run: str, tag: str, deadline_seconds: float = 90):
    """The (step, value) points of one scalar curve, once the server has loaded them."""
    query = f"{url}/data/plugin/scalars/scalars?run={run}&tag={urllib.request.quote(tag, safe='')}"
    deadline = time.monotonic() + deadline_seconds
    while True:
        try:
            points = get_json(query)
            if len(points) >= 12:
                return [(step, value) for _, step, value in points]
        except (urllib.error.URLError, ConnectionError, json.JSONDecodeError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"TensorBoard never served {tag} of run {run}")
        time.sleep(0.5)


def test_tensorboard_serves_the_training_curves(tensorboard_url):
    losses = wait_for_scalars(tensorboard_url, "e2e", "train/loss")
    assert [step for step, _ in losses] == list(range(1, 13))
    assert all(0 < value < 10 for _, value in losses)
    times = wait_for_scalars(tensorboard_url, "e2e", "time_per_batch")
    assert all(0 < value < 60 for _, value in times)
    tags = get_json(f"{tensorboard_url}/data/plugin/scalars/tags")["e2e"]
    assert {"val/loss", "chars_per_second", "learning_rate", "grad_norm"} <= set(tags)
