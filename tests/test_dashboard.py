"""TensorBoard's charrnn tab: finding runs, checking requests, and the routes through a WSGI client."""

import io
import json
import shlex
import shutil
import subprocess
import sys

import pytest
from werkzeug.test import Client

from charrnn.core.config import ModelConfig, RunConfig, TrainConfig
from charrnn.dashboard import generation, runs
from charrnn.dashboard.generation import GenerationRequest, RequestError, parse_request
from charrnn.training.run_folder import SAVE_DIR_LINK, write_save_dir_link

from conftest import VERSE, clean_env

PREFIX = "/data/plugin/charrnn"


# ---- finding runs (no TensorFlow) ----

def test_runs_are_found_by_their_tensorboard_names_and_a_copied_pair_of_folders_still_works(tmp_path):
    write_save_dir_link(tmp_path / "logs" / "first", tmp_path / "save")
    write_save_dir_link(tmp_path / "logs" / "sweep" / "second", tmp_path / "runs" / "second")
    (tmp_path / "logs" / "not_charrnn").mkdir()
    (tmp_path / "logs" / "broken").mkdir()
    (tmp_path / "logs" / "broken" / SAVE_DIR_LINK).write_text("{not json")
    assert runs.find_runs(str(tmp_path / "logs")) == {"first": str(tmp_path / "save"),
                                                      "sweep/second": str(tmp_path / "runs" / "second")}
    assert json.loads((tmp_path / "logs" / "first" / SAVE_DIR_LINK).read_text()) == {"save_dir": "../../save"}

    shutil.copytree(tmp_path / "logs", tmp_path / "copy" / "logs")
    assert runs.find_runs(str(tmp_path / "copy" / "logs"))["first"] == str(tmp_path / "copy" / "save")


def test_the_run_index_walks_the_log_folder_again_only_when_its_walk_is_old(tmp_path):
    now = [0.0]
    index = runs.RunIndex(str(tmp_path), max_age=5.0, clock=lambda: now[0])
    assert index.runs() == {}
    write_save_dir_link(tmp_path / "new", tmp_path / "save")
    now[0] = 4.9
    assert index.runs() == {}
    now[0] = 5.0
    assert list(index.runs()) == ["new"]


# ---- requests (no TensorFlow) ----

KNOWN = {"tiny": "/save"}


@pytest.mark.parametrize("body, status, fragment", [
    ([1, 2], 400, "JSON object"),
    ({"run": "other"}, 404, "no charrnn run named 'other'"),
    ({"run": "../../etc"}, 404, "no charrnn run"),
    ({"run": "tiny", "length": -1}, 400, "length must be a whole number from 1 to 20,000, got -1"),
    ({"run": "tiny", "length": 10**9}, 400, "length must be a whole number from 1 to 20,000"),
    ({"run": "tiny", "length": "500"}, 400, "length must be a whole number"),
    ({"run": "tiny", "length": True}, 400, "length must be a whole number"),
    ({"run": "tiny", "temperature": 0}, 400, "temperature must be > 0 when sampling"),
    ({"run": "tiny", "temperature": float("nan")}, 400, "temperature must be a number"),
    ({"run": "tiny", "top_p": 0}, 400, "top_p"),
    ({"run": "tiny", "sample": 3}, 400, "sample must be a whole number from 0 to 2"),
    ({"run": "tiny", "num_samples": 9}, 400, "num_samples must be a whole number from 1 to 8"),
    ({"run": "tiny", "seed": -1}, 400, "seed"),
    ({"run": "tiny", "checkpoint": "ckpt-10"}, 400, "checkpoint must be latest or best"),
    ({"run": "tiny", "prime": "x" * 10_001}, 400, "at most 10,000"),
    ({"run": "tiny", "prime": 5}, 400, "prime must be a string"),
    ({"run": "tiny", "save_dir": "/etc"}, 400, "unknown field save_dir"),
])
def test_bad_requests_are_refused_with_a_status_and_a_line_saying_why(body, status, fragment):
    with pytest.raises(RequestError) as caught:
        parse_request(body, KNOWN)
    assert caught.value.status == status
    assert fragment in str(caught.value)
    assert "--" not in str(caught.value)  # the form's field names, not charrnn.sample's flags


def test_a_request_takes_the_defaults_and_argmax_needs_no_temperature():
    request = parse_request({"run": "tiny", "temperature": 0, "sample": 0, "seed": 7}, KNOWN)
    assert request == GenerationRequest(run="tiny", temperature=0.0, sample=0, seed=7)
    assert 0 <= parse_request({"run": "tiny", "num_samples": 8}, KNOWN).seed <= 2**31 - 9  # a random seed


def test_the_reproducing_command_quotes_the_prime_and_gives_each_sample_its_seed():
    request = GenerationRequest(run="tiny", prime="ROMEO's\nline", length=80, temperature=0.8, top_k=20, seed=5,
                                num_samples=2)
    words = shlex.split(generation.reproducing_command(request, "/runs/my save", "/runs/my save/ckpt-10", 1))
    assert words == ["python", "-m", "charrnn.sample", "--save_dir", "/runs/my save", "--checkpoint",
                     "/runs/my save/ckpt-10", "-n", "80", "--prime", "ROMEO's\nline", "--temperature", "0.8",
                     "--top_k", "20", "--seed", "6"]


# ---- the routes, over a run trained here ----

TEXT = (VERSE * 10)[:1200]


def train_tiny_run(root, steps=10):
    """A 2x16 LSTM trained `steps` steps by the trainer, saved in root/save, logged in root/logs/tiny."""
    from charrnn.data.batches import make_splits
    from charrnn.data.vocab import Vocab
    from charrnn.training.trainer import Trainer

    vocab = Vocab.from_text(TEXT)
    model = ModelConfig(vocab_size=len(vocab), rnn_size=16, num_layers=2)
    run = RunConfig(model=model, train=TrainConfig(batch_size=4, seq_length=10, val_frac=0.1, learning_rate=0.01,
                                                   seed=1, eval_every=5, save_every=5, max_steps=steps),
                    run_name="tiny")
    train, splits = make_splits(vocab.encode(TEXT), 4, 10, 0.1)
    trainer = Trainer(run, vocab, train, splits.val, str(root / "save"), str(root / "logs"), out=io.StringIO())
    trainer.train()
    return trainer


@pytest.fixture(scope="module")
def tiny_log(tmp_path_factory):
    root = tmp_path_factory.mktemp("dashboard")
    trainer = train_tiny_run(root)
    return root, trainer


def make_client(logdir):
    from tensorboard.backend.application import TensorBoardWSGI
    from tensorboard.plugins import base_plugin

    from charrnn.dashboard.plugin import CharRNNPlugin

    plugin = CharRNNPlugin(base_plugin.TBContext(logdir=str(logdir)))
    return Client(TensorBoardWSGI([plugin])), plugin


def post(client, body, content_type="application/json"):
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post(f"{PREFIX}/generate", data=data, content_type=content_type)


def lines(response) -> list:
    return [json.loads(line) for line in response.get_data(as_text=True).splitlines()]


def generated(response) -> list:
    """The text of each sample in a streamed answer, and the number of chunks it came in."""
    messages = lines(response)
    assert messages[-1].get("done"), messages[-1]
    chunks = [m["chunk"] for m in messages if "chunk" in m]
    return ["".join(parts) for parts in zip(*chunks)], len(chunks)


def test_the_tab_is_listed_and_its_page_is_served(tiny_log):
    client, plugin = make_client(tiny_log[0] / "logs")
    listing = client.get("/data/plugins_listing").get_json()["charrnn"]
    assert listing["enabled"] and listing["loading_mechanism"]["type"] == "IFRAME"
    for route, content_type in [("/index.js", "text/javascript"), ("/static/panel.html", "text/html"),
                                ("/static/style.css", "text/css")]:
        response = client.get(PREFIX + route)
        assert response.status_code == 200 and response.mimetype == content_type
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "export async function render" in client.get(f"{PREFIX}/index.js").get_data(as_text=True)
    empty_client, empty_plugin = make_client(tiny_log[0] / "data_only")
    assert not empty_plugin.is_active()


def test_runs_lists_each_run_with_its_newest_and_best_checkpoint(tiny_log):
    root, trainer = tiny_log
    answer = make_client(root / "logs")[0].get(f"{PREFIX}/runs").get_json()
    (run,) = answer["runs"]
    assert run["name"] == "tiny" and run["save_dir"] == str(root / "save")
    assert run["latest"]["step"] == 10 and run["latest"]["path"] == str(root / "save" / "ckpt-10")
    assert run["best"]["best_val_loss"] == pytest.approx(trainer.best_val_loss.numpy())
    assert run["best"]["saved_at"] > 1.7e9
    assert answer["limits"] == {"prime_chars": 10_000, "length": 20_000, "num_samples": 8}


def test_generation_streams_the_text_charrnn_sample_prints_for_the_same_settings(tiny_log):
    root, _ = tiny_log
    client, _ = make_client(root / "logs")
    body = {"run": "tiny", "prime": "First", "length": 600, "temperature": 0.8, "top_k": 5, "seed": 11,
            "num_samples": 2}
    response = post(client, body)
    assert response.status_code == 200 and response.mimetype == "application/x-ndjson"
    head = lines(response)[0]
    texts, chunks = generated(response)
    assert chunks == 3  # 600 characters in chunks of 256: sent as they were made
    assert [len(text) for text in texts] == [600, 600] and texts[0] != texts[1]
    assert head["checkpoint"] == str(root / "save" / "ckpt-10") and head["seed"] == 11

    command = shlex.split(head["commands"][1])
    assert command[:3] == ["python", "-m", "charrnn.sample"] and "--seed" in command
    printed = subprocess.run([sys.executable, *command[1:]], env=clean_env(), capture_output=True, text=True,
                             timeout=120, stdin=subprocess.DEVNULL)
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == "First" + texts[1] + "\n"


@pytest.mark.parametrize("body, content_type, status, fragment", [
    ({"run": "nope"}, "application/json", 404, "no charrnn run named 'nope'"),
    ({"run": "tiny", "prime": "Zebra€"}, "application/json", 400, "not in the model's vocabulary"),
    ({"run": "tiny", "length": -1}, "application/json", 400, "length must be a whole number"),
    ({"run": "tiny", "length": 10**9}, "application/json", 400, "length must be a whole number"),
    ({"run": "tiny", "temperature": 0}, "application/json", 400, "temperature must be > 0 when sampling"),
    ('{"run": "tiny", ', "application/json", 400, "not JSON"),
    (b"\xff\xfe", "application/json", 400, "not JSON"),
    ('{"run": "tiny"}', "text/plain", 415, "application/json"),
])
def test_bad_input_gets_a_4xx_json_answer_and_no_stack_trace(tiny_log, body, content_type, status, fragment):
    response = post(make_client(tiny_log[0] / "logs")[0], body, content_type)
    assert response.status_code == status
    answer = response.get_json()
    assert fragment in answer["error"] and "Traceback" not in answer["error"]


def test_generate_takes_only_posts(tiny_log):
    response = make_client(tiny_log[0] / "logs")[0].get(f"{PREFIX}/generate")
    assert response.status_code == 405 and "POST" in response.get_json()["error"]


def test_a_newer_checkpoint_is_loaded_for_the_next_request(tmp_path):
    trainer = train_tiny_run(tmp_path, steps=5)
    client, _ = make_client(tmp_path / "logs")
    body = {"run": "tiny", "length": 300, "seed": 3}
    before = post(client, body)
    assert lines(before)[0]["checkpoint"].endswith("ckpt-5")
    for weight in trainer.model.trainable_weights:
        weight.assign(weight * 0)  # every character equally likely: another text for the same seed
    trainer.store.save(99)
    after = post(client, body)
    assert lines(after)[0]["checkpoint"].endswith("ckpt-99")
    assert generated(after)[0] != generated(before)[0]


# ---- several requests at once ----

def loaded_tiny(root):
    cache = generation.ModelCache()
    return cache.get(str(root / "save"), "latest")


def test_requests_that_wait_together_share_a_batch_and_each_gets_its_own_text(tiny_log):
    loaded = loaded_tiny(tiny_log[0])
    generations = generation.Generations(max_running=1)
    waiting = [GenerationRequest(run="tiny", prime=prime, length=length, seed=seed, num_samples=count)
               for prime, length, seed, count in [("First", 300, 5, 2), ("All:", 700, 9, 1), ("", 40, 2, 3)]]
    generations._slots.acquire()  # every slot busy: the requests wait, and join one batch
    streams = [generations.submit(loaded, request) for request in waiting]
    generations._slots.release()
    results = [["".join(parts) for parts in zip(*stream)] for stream in streams]
    assert generations.batches_run == 1
    for request, texts in zip(waiting, results):
        alone = generation.Generations().submit(loaded, request)
        assert texts == ["".join(parts) for parts in zip(*alone)]
        assert [len(text) for text in texts] == [request.length] * request.num_samples


def test_the_server_never_compiles_xla_loops_whose_memory_tensorflow_keeps(tiny_log):
    loaded = loaded_tiny(tiny_log[0])
    long_enough = max(loaded.sampler.background_from, loaded.sampler.compile_from)  # where XLA would start
    stream = generation.Generations().submit(loaded, GenerationRequest(run="tiny", length=long_enough, seed=3))
    assert len("".join(text for (text,) in stream)) == long_enough
    assert not loaded.sampler._compiling and not loaded.sampler._compiled_loops


def test_requests_over_the_waiting_limit_are_told_to_come_back(tiny_log):
    loaded = loaded_tiny(tiny_log[0])
    generations = generation.Generations(max_running=1, max_waiting=2)
    generations._slots.acquire()
    streams = [generations.submit(loaded, GenerationRequest(run="tiny", length=50, temperature=t))
               for t in (1.0, 1.5)]  # other settings: each opens a batch of its own
    with pytest.raises(generation.Busy) as caught:
        generations.submit(loaded, GenerationRequest(run="tiny", temperature=0.5))
    assert caught.value.status == 503
    generations._slots.release()
    assert [len("".join(text for (text,) in stream)) for stream in streams] == [50, 50]
    assert generations.batches_run == 2
