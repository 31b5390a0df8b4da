"""The Python API on a run folder that training wrote, and the README's example of it."""

import math
import re

import numpy as np
import pytest
import tensorflow as tf

import charrnn
from charrnn.core.errors import CharRNNError

from conftest import REPO_ROOT, VERSE, run_module


@pytest.fixture(scope="module")
def model(trained_run):
    root, _ = trained_run
    return charrnn.load(str(root / "save"))


def test_generate_returns_text_or_a_list_of_samples(model):
    text = model.generate(prime="First", length=40, temperature=0.8, top_k=5, seed=3)
    assert isinstance(text, str) and len(text) == 40 and set(text) <= set(model.vocab.chars)
    assert model.generate(prime="First", length=40, temperature=0.8, top_k=5, seed=3) == text
    samples = model.generate(prime="First", length=40, temperature=0.8, top_k=5, seed=3, num_samples=3)
    assert samples[0] == text and len(samples) == 3
    assert model.generate(length=10, sample=0) == model.generate(length=10, top_k=1, seed=9)


def test_score_is_the_mean_nats_per_char_of_the_text(model):
    text = VERSE[:120]
    ids = model.vocab.encode(text).astype(np.int32)
    logits, _ = model.model(ids[np.newaxis, :-1], model.model.zero_state(1))
    log_probs = tf.nn.log_softmax(logits[0]).numpy()
    expected = -np.mean(log_probs[np.arange(len(ids) - 1), ids[1:]])
    assert model.score(text) == pytest.approx(expected, rel=1e-5)
    assert model.score(text, batch_size=4) > 0
    with pytest.raises(CharRNNError, match="'☃'"):
        model.score("snow ☃")


def test_the_readme_example_runs(trained_run):
    root, _ = trained_run
    readme = open(f"{REPO_ROOT}/README.md", encoding="utf-8").read()
    example = re.search(r"## Python API\n.*?```python\n(.*?)```", readme, re.S)[1]
    (root / "readme_example.py").write_text(example)
    result = run_module("readme_example", cwd=root)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("First") and math.isfinite(float(lines[-1]))
