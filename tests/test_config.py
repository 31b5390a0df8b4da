import dataclasses
import json

import pytest

from charrnn.core.config import ModelConfig, RunConfig, TrainConfig, resume_config
from charrnn.core.errors import CharRNNError


def make_run(**train):
    return RunConfig(model=ModelConfig(vocab_size=65, model="gru", rnn_size=64, num_layers=3, dropout=0.1),
                     train=TrainConfig(max_steps=7, seed=3, **train), run_name="r1")


def test_tied_embeddings_need_an_embedding_as_wide_as_the_top_layer():
    with pytest.raises(CharRNNError, match="--tie_embeddings .* --embedding_size 16 differs from --rnn_size 32"):
        ModelConfig(vocab_size=10, rnn_size=32, embedding_size=16, tie_embeddings=True)
    assert ModelConfig(vocab_size=10, rnn_size=32, embedding_size=32, tie_embeddings=True).tie_embeddings


def test_json_round_trip_keeps_every_field():
    run = make_run(batch_size=8)
    assert RunConfig.from_json(run.to_json()) == run


@pytest.mark.parametrize("field, value, flag", [
    ("rnn_size", 0, "--rnn_size"), ("num_layers", -1, "--num_layers"), ("dropout", 1.0, "--dropout"),
    ("model", "transformer", "--model"), ("vocab_size", 0, "--vocab_size"), ("rnn_size", 2.5, "--rnn_size"),
    ("embedding_dropout", -0.1, "--embedding_dropout"), ("tie_embeddings", 1, "--tie_embeddings"),
    ("weight_drop", 1.0, "--weight_drop"), ("locked_dropout", "yes", "--locked_dropout"),
])
def test_model_config_rejects_out_of_range(field, value, flag):
    with pytest.raises(CharRNNError, match=flag):
        ModelConfig(**{"vocab_size": 10, field: value})


@pytest.mark.parametrize("field, value", [
    ("batch_size", 0), ("seq_length", -5), ("val_frac", 0.0), ("val_frac", 1.0), ("val_frac", float("nan")),
    ("learning_rate", 0.0), ("decay_rate", 1.5), ("grad_clip", -1.0), ("num_epochs", 0), ("max_steps", 0),
    ("print_every", 0), ("eval_every", 0), ("save_every", 0), ("seed", -1), ("keep_checkpoints", 0),
    ("ema_decay", 1.0), ("ema_decay", -0.5), ("adam_beta2", 1.0), ("adam_beta2", 0.0), ("recipe", "magic"), ("recipe", "auto"),  # auto needs --max_minutes
])
def test_train_config_rejects_out_of_range(field, value):
    with pytest.raises(CharRNNError, match=f"--{field}"):
        TrainConfig(**{field: value})


@pytest.mark.parametrize("text, message", [
    ("{not json", "not valid JSON"),
    ('{"format": 99}', "not a charrnn config of format 1"),
    ('[1, 2]', "expected a JSON object"),
])
def test_from_json_rejects_corrupt_files(text, message):
    with pytest.raises(CharRNNError, match=message):
        RunConfig.from_json(text)


def test_from_json_rejects_unknown_and_missing_keys():
    data = make_run().to_json()
    with pytest.raises(CharRNNError, match="unknown keys"):
        RunConfig.from_json(data.replace('"rnn_size"', '"rnn_width"'))
    without_vocab_size = json.loads(data)
    del without_vocab_size["model"]["vocab_size"]
    with pytest.raises(CharRNNError, match="vocab_size"):
        RunConfig.from_json(json.dumps(without_vocab_size))


def test_resume_keeps_saved_config_and_applies_allowed_overrides():
    saved = make_run()
    regularisers = {"dropout": 0.3, "embedding_dropout": 0.1, "weight_drop": 0.2, "locked_dropout": True}
    resumed = resume_config(saved, regularisers, {"num_epochs": 9, "learning_rate": 1e-3, "batch_size": 50})
    assert resumed.model == dataclasses.replace(saved.model, **regularisers)
    assert resumed.train.num_epochs == 9 and resumed.train.learning_rate == 1e-3
    assert resumed.train.batch_size == saved.train.batch_size
    assert resumed.run_name == saved.run_name
    assert resume_config(saved, {}, {"precision": "bfloat16"}).train.precision == "bfloat16"


@pytest.mark.parametrize("model_overrides, train_overrides, flag", [
    ({"rnn_size": 128}, {}, "--rnn_size"), ({"model": "lstm"}, {}, "--model"),
    ({"tie_embeddings": True}, {}, "--tie_embeddings"),
    ({}, {"batch_size": 10}, "--batch_size"), ({}, {"seq_length": 10}, "--seq_length"),
    ({}, {"test_frac": 0.1}, "--test_frac"), ({}, {"precision": "float16"}, "--precision float16"),
])
def test_resume_refuses_a_different_architecture_or_batching(model_overrides, train_overrides, flag):
    with pytest.raises(CharRNNError, match=flag):
        resume_config(make_run(), model_overrides, train_overrides)
