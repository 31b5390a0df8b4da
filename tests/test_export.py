"""Exported models run on their own: a SavedModel in a process that cannot import charrnn, and TFLite."""

import numpy as np
import pytest
import tensorflow as tf

from charrnn.core.config import ModelConfig
from charrnn.data.vocab import Vocab
from charrnn.inference import exported_model
from charrnn.model.network import CharRNN

from conftest import assert_one_line_error, run_module

# Loads the SavedModel with charrnn made unimportable, and prints one generated text.
STANDALONE = """
import sys
sys.modules["charrnn"] = None
import tensorflow as tf
model = tf.saved_model.load(sys.argv[1])
out = model.signatures["generate"](prime=tf.constant("First"), length=tf.constant(600),
                                   temperature=tf.constant(float(sys.argv[2])), seed=tf.constant(int(sys.argv[3])))
sys.stdout.write(out["text"].numpy().decode("utf-8"))
"""


@pytest.fixture(scope="module")
def saved_model(trained_run):
    root, _ = trained_run
    result = run_module("charrnn.export", "--save_dir", "save", "--out", "exported", cwd=root)
    assert result.returncode == 0, result.stderr
    assert "wrote exported (" in result.stdout
    return root


@pytest.mark.parametrize("temperature, seed, sample_flags", [(0.0, 1, ("--sample", 0)), (0.9, 5, ("--temperature", 0.9))])
def test_the_saved_model_generates_what_charrnn_sample_does_without_charrnn(saved_model, temperature, seed,
                                                                            sample_flags):
    root = saved_model
    (root / "standalone.py").write_text(STANDALONE)
    alone = run_module("standalone", root / "exported", temperature, seed, cwd=root)  # runs standalone.py
    assert alone.returncode == 0, alone.stderr
    sampled = run_module("charrnn.sample", "--prime", "First", "-n", 600, "--seed", seed, *sample_flags, cwd=root)
    assert sampled.returncode == 0, sampled.stderr
    assert "First" + alone.stdout + "\n" == sampled.stdout and len(alone.stdout) == 600  # three chunks of generation


def test_the_saved_model_has_a_one_step_signature(saved_model):
    model = tf.saved_model.load(str(saved_model / "exported"))
    step = model.signatures["step"]
    states = {name: tf.zeros(spec.shape.as_list()[1:])[tf.newaxis] for name, spec in
              step.structured_input_signature[1].items() if name.startswith("state_")}
    out = step(ids=tf.constant([3]), **states)
    assert out["logits"].shape == (1, int(model.vocabulary.shape[0])) and set(states) <= set(out)


def test_tflite_one_step_probabilities_match_the_keras_model():
    vocab = Vocab.from_text("abcdefgh \n")
    model = CharRNN(ModelConfig(vocab_size=len(vocab), rnn_size=16, num_layers=2), recurrence="keras")
    model.build_variables()
    interpreter = tf.lite.Interpreter(model_content=exported_model.tflite_bytes(model, vocab))
    runner = interpreter.get_signature_runner()
    text = "a bad cafe\nhead"
    ids = vocab.encode(text).astype(np.int32)
    keras_logits, _ = model(ids[np.newaxis], model.zero_state(1))
    expected = tf.nn.softmax(keras_logits[0]).numpy()
    states = {f"state_{i}": np.zeros((1, 16), np.float32) for i in range(4)}
    for t, char_id in enumerate(ids):
        out = runner(ids=np.array([char_id], np.int32), **states)
        states = {name: out[name] for name in states}
        np.testing.assert_allclose(tf.nn.softmax(out["logits"][0]).numpy(), expected[t], atol=1e-4)


def test_export_refuses_to_overwrite_and_needs_out(saved_model):
    root = saved_model
    assert_one_line_error(run_module("charrnn.export", "--out", "exported", cwd=root), "already exists")
    assert_one_line_error(run_module("charrnn.export", cwd=root), "--out is required")
