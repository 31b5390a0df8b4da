"""Property-based: random flag values and random bytes as input never give a traceback or a hang.

Each entry point ends in success, with what it exists to print and nothing on stderr but
warnings, or in one line on stderr naming the command, with a non-zero exit. Examples are few and
kept small (every one is a fresh process), so the whole file stays within a minute.
"""

import re

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conftest import TINY_FLAGS, VERSE, run_module

SETTINGS = settings(max_examples=4, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
VALUES = st.one_of(st.integers(-3, 40), st.floats(-2.0, 2.0), st.sampled_from(["", "x", "-1", "1e9", "nan", "inf"]))
TEXTS = st.one_of(st.binary(max_size=2000), st.text(min_size=0, max_size=1500).map(lambda t: (t * 4).encode()))


def assert_clean_outcome(result, success: str):
    """`success`: a pattern the output of a run that exits 0 must hold."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    if result.returncode != 0:
        assert len(lines) == 1 and re.match(r"charrnn\.\w+: error: \S", lines[0]), result.stderr
    else:
        assert all(line.startswith("warning: ") for line in lines), result.stderr
        assert re.search(success, result.stdout), result.stdout


def flag_list(flags: dict) -> list:
    return [part for name, value in flags.items() for part in (f"--{name}", str(value))]


@SETTINGS
@given(data=TEXTS, flags=st.dictionaries(
    st.sampled_from(["rnn_size", "num_layers", "batch_size", "seq_length", "val_frac", "test_frac", "dropout",
                     "learning_rate", "model", "precision", "encoding", "max_steps", "embedding_size",
                     "embedding_dropout", "tie_embeddings", "grad_accum_steps", "strategy", "weight_drop",
                     "locked_dropout", "ema_decay"]), VALUES, max_size=3))
@example(data=(VERSE * 40).encode(), flags={})  # one that succeeds, whatever the drawn ones do
def test_train(tmp_path_factory, data, flags):
    root = tmp_path_factory.mktemp("fuzz_train")
    (root / "data").mkdir()
    (root / "data" / "input.txt").write_bytes(data)
    defaults = {"max_steps": 2, "eval_every": 1000}
    result = run_module("charrnn.train", "--data_dir", "data", *TINY_FLAGS, *flag_list({**defaults, **flags}),
                        cwd=root, timeout=120)
    assert_clean_outcome(result, r"\nsaved \S+ckpt-\d+\nsample with: python -m charrnn\.sample --save_dir save\n$")


@SETTINGS
@given(flags=st.dictionaries(st.sampled_from(["n", "temperature", "sample", "seed", "prime", "checkpoint"]),
                             st.one_of(VALUES, st.text(max_size=8)), max_size=3))
@example(flags={})
def test_sample(trained_run, flags):
    root, _ = trained_run
    result = run_module("charrnn.sample", "--save_dir", "save", *flag_list(flags), cwd=root, timeout=120)
    assert_clean_outcome(result, r"(?s)^.+\n$")  # the prime and the text, then a new line


@SETTINGS
@given(data=TEXTS, flags=st.dictionaries(st.sampled_from(["split", "batch_size", "skip_unknown", "encoding"]),
                                         VALUES, max_size=2))
@example(data=VERSE.encode(), flags={})
def test_evaluate(trained_run, tmp_path_factory, data, flags):
    root, _ = trained_run
    text_file = tmp_path_factory.mktemp("fuzz_evaluate") / "text.txt"
    text_file.write_bytes(data)
    result = run_module("charrnn.evaluate", "--save_dir", "save", "--text_file", text_file, *flag_list(flags),
                        cwd=root, timeout=120)
    assert_clean_outcome(result, r"^.+: [\d.]+ nats/char, [\d.]+ bits/char, perplexity [\d.]+ "
                                 r"\([\d,]+ characters scored\)\n$")
