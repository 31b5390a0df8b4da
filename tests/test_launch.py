"""charrnn.train's set-up, in-process: a new run, a continued one, what may change, which text it reads."""

import dataclasses
import os
import re

import pytest

from charrnn.core.config import ModelConfig, TrainConfig
from charrnn.core.errors import CharRNNError
from charrnn.data.vocab import Vocab
from charrnn.training.launch import RunRequest, prepare_run
from charrnn.training.run_folder import CHECKPOINT_INDEX, write_run_files

from conftest import VERSE, write_corpus

TINY = dict(rnn_size=16, num_layers=1, batch_size=4, seq_length=16, seed=1)


def request(root, init_from=None, run_name=None, **settings) -> RunRequest:
    """A request giving `settings` (and so naming them all as given), with folders under `root`."""
    return RunRequest(settings=settings, given=frozenset(settings), save_dir=str(root / "save"),
                      log_dir=str(root / "logs"), init_from=init_from, run_name=run_name)


def new_run(root, run_name=None, **settings):
    return prepare_run(request(root, run_name=run_name, **{"data_dir": str(root / "data"), **TINY, **settings}))


def save_run(root, prepared):
    """What training leaves in root/save that continuing reads: config.json, vocab.json, an index."""
    write_run_files(str(root / "save"), prepared.run, prepared.vocab)
    (root / "save" / CHECKPOINT_INDEX).write_text('model_checkpoint_path: "ckpt-1"\n')
    return str(root / "save")


def test_a_new_run_takes_its_settings_and_its_vocabulary_from_the_text(tmp_path):
    write_corpus(tmp_path / "data", length=6000)
    prepared = new_run(tmp_path, dropout=0.25, val_frac=0.1)
    run = prepared.run
    assert run.model == ModelConfig(vocab_size=len(Vocab.from_text(VERSE)), rnn_size=16, num_layers=1, dropout=0.25)
    assert run.train == TrainConfig(batch_size=4, seq_length=16, seed=1, val_frac=0.1)
    assert run.data.data_dir == str(tmp_path / "data") and run.data.input_file is None
    assert re.fullmatch(r"[0-9a-f]{64}", run.data.sha256)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d", run.run_name)
    assert prepared.vocab == Vocab.from_text(VERSE) and prepared.num_chars == 6000 and not prepared.from_cache
    assert len(prepared.splits.val) == 600 and len(prepared.train_batches) == (5400 - 1) // 64
    assert new_run(tmp_path).from_cache  # the second run reads the cache


def test_a_seed_left_out_is_drawn_and_recorded(tmp_path):
    write_corpus(tmp_path / "data")
    settings = {**TINY, "seed": None}
    seeds = {prepare_run(request(tmp_path, data_dir=str(tmp_path / "data"), **settings)).run.train.seed
             for _ in range(3)}
    assert len(seeds) > 1 and all(isinstance(seed, int) for seed in seeds)


@pytest.mark.parametrize("settings, message", [
    (dict(rnn_size=0), "--rnn_size must be a positive integer"),
    (dict(val_frac=1.5), "--val_frac must be in (0, 1)"),
    (dict(val_frac=0.5, test_frac=0.5), "their sum must be below 1"),
    (dict(dropout=1.0), "--dropout"),
    (dict(learning_rate=-1), "--learning_rate"),
    (dict(batch_size=50, seq_length=500), "lower --batch_size or --seq_length"),
    (dict(encoding="nope"), "--encoding nope"),
    (dict(input_file="data/input.txt"), "not both"),
])
def test_bad_settings_are_named(tmp_path, settings, message):
    write_corpus(tmp_path / "data")
    with pytest.raises(CharRNNError, match=re.escape(message)):
        new_run(tmp_path, **settings)


@pytest.mark.parametrize("folder", ["data_dir", "save_dir", "log_dir"])
def test_a_file_where_a_folder_belongs_is_named(tmp_path, folder):
    write_corpus(tmp_path / "data")
    (tmp_path / "a_file").write_text("x")
    folders = {"save_dir": str(tmp_path / "save"), "log_dir": str(tmp_path / "logs"), folder: str(tmp_path / "a_file")}
    settings = {**TINY, "data_dir": folders.pop("data_dir", str(tmp_path / "data"))}
    with pytest.raises(CharRNNError, match=f"--{folder} .*a_file is a file"):
        prepare_run(RunRequest(settings=settings, given=frozenset(settings), **folders))


def test_a_folder_of_text_files_in_another_encoding(tmp_path):
    books = tmp_path / "books"
    books.mkdir()
    for name, line in (("1.txt", "Жили-были дед да баба.\n"), ("2.txt", "Была у них курочка Ряба.\n")):
        (books / name).write_bytes((line * 60).encode("cp1251"))
    prepared = prepare_run(request(tmp_path, data_dir=str(books), encoding="cp1251", **TINY))
    assert "Ж" in prepared.vocab and "Р" in prepared.vocab and prepared.run.data.encoding == "cp1251"
    assert (books / ".charrnn_cache" / "all-txt" / "ids.npy").exists()


def test_a_save_folder_holding_a_run_is_not_overwritten_but_continues_in_place(tmp_path):
    write_corpus(tmp_path / "data")
    save = save_run(tmp_path, new_run(tmp_path))
    with pytest.raises(CharRNNError, match="already holds a run; continue it with --init_from"):
        new_run(tmp_path)
    assert prepare_run(request(tmp_path, init_from=save)).run.train.seed == 1


def test_init_from_the_save_folder_starts_the_run_while_it_holds_no_checkpoint(tmp_path):
    write_corpus(tmp_path / "data")
    save = str(tmp_path / "save")
    command = dict(TINY, data_dir=str(tmp_path / "data"), seed=7)
    first = prepare_run(request(tmp_path, init_from=save, **command))  # the same command starts it...
    assert first.run.train.seed == 7
    save_run(tmp_path, first)
    with pytest.raises(CharRNNError, match="--rnn_size 32 does not match"):  # ...and then continues it
        prepare_run(request(tmp_path, init_from=save, **dict(command, rnn_size=32)))
    assert prepare_run(request(tmp_path, init_from=save, **command)).run == first.run
    with pytest.raises(CharRNNError, match="does not exist"):  # another folder must hold a run
        prepare_run(RunRequest(settings=command, save_dir=str(tmp_path / "new"), init_from=str(tmp_path / "none")))


def test_a_continued_run_keeps_its_config_name_and_text_and_takes_what_may_change(tmp_path):
    write_corpus(tmp_path / "data")
    first = new_run(tmp_path, run_name="first")
    save_run(tmp_path, first)
    os.rename(tmp_path / "save", tmp_path / "moved")  # a run folder may be moved or copied
    continued = prepare_run(request(tmp_path, init_from=str(tmp_path / "moved"), num_epochs=3, learning_rate=1e-3,
                                    dropout=0.5))
    assert continued.run.model == dataclasses.replace(first.run.model, dropout=0.5)
    assert continued.run.train == dataclasses.replace(first.run.train, num_epochs=3, learning_rate=1e-3)
    assert continued.run.run_name == first.run.run_name and continued.run.data == first.run.data
    renamed = prepare_run(request(tmp_path, init_from=str(tmp_path / "moved"), run_name="second"))
    assert renamed.run.run_name == "second"


@pytest.mark.parametrize("settings, message", [
    (dict(rnn_size=32), "--rnn_size 32 does not match the checkpoint's rnn_size 16"),
    (dict(batch_size=8), "--batch_size 8 does not match the checkpoint's batch_size 4"),
    (dict(precision="float16"), "cannot continue a run trained with --precision float32"),
    (dict(recipe="auto", max_minutes=5), "--recipe auto does not match the checkpoint's recipe none"),
])
def test_a_continued_run_refuses_what_would_not_fit_its_checkpoint(tmp_path, settings, message):
    write_corpus(tmp_path / "data")
    save = save_run(tmp_path, new_run(tmp_path))
    with pytest.raises(CharRNNError, match=re.escape(message)):
        prepare_run(request(tmp_path, init_from=save, **settings))


def test_a_continued_run_reads_the_text_it_was_trained_on_unless_told_otherwise(tmp_path):
    write_corpus(tmp_path / "corpus")
    os.rename(tmp_path / "corpus" / "input.txt", tmp_path / "corpus" / "verse.txt")
    first = prepare_run(request(tmp_path, input_file=str(tmp_path / "corpus" / "verse.txt"), **TINY))
    save = save_run(tmp_path, first)
    # data_dir at its flag default, not given: the run's own text is read, from its cache.
    default_data_dir = RunRequest(settings={"data_dir": "data/shakespeare"}, save_dir=save, init_from=save)
    continued = prepare_run(default_data_dir)
    assert continued.run.data == first.run.data and continued.from_cache
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "input.txt").write_text(VERSE[:len(VERSE) // 2] * 20)  # fewer characters: re-mapped
    elsewhere = prepare_run(request(tmp_path, init_from=save, data_dir=str(tmp_path / "other")))
    assert elsewhere.run.data.data_dir == str(tmp_path / "other") and elsewhere.vocab == first.vocab
    assert elsewhere.run.data.encoding == "utf-8" and elsewhere.run.data.input_file is None


def test_a_continued_run_refuses_text_with_characters_its_vocabulary_lacks(tmp_path):
    write_corpus(tmp_path / "data")
    save = save_run(tmp_path, new_run(tmp_path))
    with open(tmp_path / "data" / "input.txt", "a", encoding="utf-8") as f:
        f.write("Zwölf ☃\n")
    with pytest.raises(CharRNNError, match="lacks: .*'ö'.*'☃'"):
        prepare_run(request(tmp_path, init_from=save))


def test_a_continued_run_from_a_corrupt_config_is_refused(tmp_path):
    write_corpus(tmp_path / "data")
    save = save_run(tmp_path, new_run(tmp_path))
    (tmp_path / "save" / "config.json").write_text('{"format": 1, "model": ')
    with pytest.raises(CharRNNError, match="config.json is not valid JSON"):
        prepare_run(request(tmp_path, init_from=save))


def test_a_fine_tuned_run_is_new_keeps_the_architecture_and_adds_the_new_characters(tmp_path):
    write_corpus(tmp_path / "data")
    source = new_run(tmp_path, dropout=0.1)
    save_run(tmp_path, source)
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "input.txt").write_text("#42 speak, #17 all\n" * 60)
    settings = {"data_dir": str(tmp_path / "new"), "learning_rate": 1e-3, "seed": 3, "batch_size": 4}
    tuned = prepare_run(RunRequest(settings=settings, given=frozenset(settings), save_dir=str(tmp_path / "tuned"),
                                   finetune_from=str(tmp_path / "save"), run_name="tuned"))
    assert tuned.vocab.chars == tuple(sorted(set(VERSE) | set("#42 speak, #17 all\n")))
    assert tuned.source_vocab == source.vocab and tuned.run.run_name == "tuned"
    assert tuned.run.model == dataclasses.replace(source.run.model, vocab_size=len(tuned.vocab))
    assert tuned.run.train == TrainConfig(learning_rate=1e-3, seed=3, batch_size=4)
    assert tuned.run.data.data_dir == str(tmp_path / "new")


@pytest.mark.parametrize("settings, message", [
    (dict(rnn_size=32), "--rnn_size 32 does not match the rnn_size 16 of the run in"),
    (dict(init_from="save"), "give --init_from (continue a run) or --finetune_from"),
    (dict(recipe="auto", max_minutes=5), "--recipe auto sizes a new model"),
])
def test_fine_tuning_refuses_another_architecture_or_continuing_at_once(tmp_path, settings, message):
    write_corpus(tmp_path / "data")
    save_run(tmp_path, new_run(tmp_path))
    init_from = settings.pop("init_from", None)
    settings = {"data_dir": str(tmp_path / "data"), **settings}
    request = RunRequest(settings=settings, given=frozenset(settings), save_dir=str(tmp_path / "tuned"),
                         init_from=init_from and str(tmp_path / init_from), finetune_from=str(tmp_path / "save"))
    with pytest.raises(CharRNNError, match=re.escape(message)):
        prepare_run(request)
