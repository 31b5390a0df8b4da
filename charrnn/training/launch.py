"""Everything `charrnn.train` settles before TensorFlow loads: a new or a continued run, and its text.

A new run takes its settings from the request (so does `init_from` naming the save folder
while that holds no checkpoint yet). A continued run (`init_from`) keeps the config
and vocabulary saved in its folder; of the settings the user gave, those that keep the variables
and the batches as they were (epochs, steps, optimiser, dropout, ...) replace the saved ones and
the others must equal them (see config.resume_config). It reads the text it was trained on
unless a data setting is given. A fine-tuned run (`finetune_from`) is a new run, from step 0,
with the architecture and the weights of another run: its vocabulary is the other run's plus
any characters of the new text it lacked. Every check here fails fast, with one line, before
the import.
"""

import dataclasses
import datetime
import os
import secrets
import signal
from typing import Any, Mapping, Optional

from charrnn.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig, keep_architecture, resume_config
from charrnn.core.errors import CharRNNError
from charrnn.data.batches import Batches, Splits, make_splits
from charrnn.data.corpus import ids_for_vocab, read_text
from charrnn.data.vocab import Vocab
from charrnn.training.run_folder import holds_checkpoints, read_run_files


@dataclasses.dataclass(frozen=True)
class RunRequest:
    """A charrnn.train command as plain values.

    `settings` maps setting names (the flags: ModelConfig and TrainConfig fields, data_dir,
    input_file, encoding) to values, and `given` names the settings the user gave: only those
    change a continued run. A setting left out takes its config default (seed: a random one).
    """

    settings: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    given: frozenset = frozenset()
    save_dir: str = "save"
    log_dir: str = "logs"
    init_from: Optional[str] = None
    finetune_from: Optional[str] = None
    run_name: Optional[str] = None  # TensorBoard subfolder; default: the start time, or the continued run's

    def values_of(self, config_class, given_only: bool = False) -> dict:
        """The settings that are fields of `config_class` (all, or only the given ones)."""
        names = {field.name for field in dataclasses.fields(config_class)}
        return {name: value for name, value in self.settings.items()
                if name in names and (name in self.given or not given_only)}


@dataclasses.dataclass(frozen=True)
class PreparedRun:
    """A run ready to build its trainer: its config (vocab_size and the text's sha256 filled in),
    vocabulary, and the text's training batches and held-out splits."""

    request: RunRequest
    run: RunConfig
    vocab: Vocab
    num_chars: int
    from_cache: bool  # the text's ids came from its cache (else it was encoded now)
    train_batches: Batches
    splits: Splits
    source_vocab: Optional[Vocab] = None  # of the run fine-tuned from
    continues: bool = False  # a run saved in request.init_from, to restore


def prepare_run(request: RunRequest, warn=None) -> PreparedRun:
    """Checks the folders, settles the config, reads the text and cuts it into batches.

    warn(message) hears what does not stop the run (a cache that cannot be written).
    """
    _check_folders(request)
    source_vocab, continues = None, _continues(request)
    if continues:
        saved, vocab = read_run_files(request.init_from)
        run = resume_config(saved, request.values_of(ModelConfig, True), request.values_of(TrainConfig, True))
        run = dataclasses.replace(run, run_name=request.run_name or run.run_name)
    elif request.finetune_from:
        if request.settings.get("recipe") == "auto":
            raise CharRNNError("--recipe auto sizes a new model; a fine-tuned run keeps the architecture of "
                               f"{request.finetune_from}: drop --recipe")
        source, source_vocab = read_run_files(request.finetune_from)
        run, vocab = _fine_tuned_run(request, source), None
    else:
        run, vocab = _new_run(request), None
    data = _data_config(request, run.data)
    ids, corpus = read_text(data, vocab, warn)  # characters a saved vocabulary lacks stop here, named
    vocab = vocab or corpus.vocab
    if source_vocab is not None:
        vocab = Vocab(sorted(set(source_vocab.chars) | set(corpus.vocab.chars)))
        ids = ids_for_vocab(corpus, vocab)
    run = dataclasses.replace(run, model=dataclasses.replace(run.model, vocab_size=len(vocab)),
                              data=dataclasses.replace(data, sha256=corpus.sha256))
    train_batches, splits = make_splits(ids, run.train.batch_size, run.train.seq_length, run.train.val_frac,
                                        run.train.test_frac)
    return PreparedRun(request, run, vocab, len(ids), corpus.from_cache, train_batches, splits, source_vocab,
                       continues)


def _check_folders(request: RunRequest) -> None:
    folders = {"data_dir": request.settings.get("data_dir"), "save_dir": request.save_dir,
               "log_dir": request.log_dir}
    for name, path in folders.items():
        if path and os.path.exists(path) and not os.path.isdir(path):
            raise CharRNNError(f"--{name} {path} is a file; it takes a folder")
    if request.init_from and request.finetune_from:
        raise CharRNNError("give --init_from (continue a run) or --finetune_from (a new run from its weights), "
                           "not both")
    if holds_checkpoints(request.save_dir) and not _in_place(request):
        raise CharRNNError(f"{request.save_dir} already holds a run; continue it with --init_from "
                           f"{request.save_dir}, or choose another --save_dir")


def _in_place(request: RunRequest) -> bool:
    """Whether --init_from names the --save_dir."""
    return bool(request.init_from) and os.path.realpath(request.init_from) == os.path.realpath(request.save_dir)


def _continues(request: RunRequest) -> bool:
    """Whether the request continues a run: --init_from names one, unless it names the --save_dir
    and that holds no checkpoint yet. Then the command starts the run, so that one command, run
    again after a crash (as a cluster's job manager does), continues it."""
    return bool(request.init_from) and (not _in_place(request) or holds_checkpoints(request.save_dir))


def _new_run(request: RunRequest) -> RunConfig:
    """The run the settings describe; validated now, its vocab_size filled in once the text is read."""
    train = request.values_of(TrainConfig)
    if train.get("seed") is None:
        train["seed"] = secrets.randbelow(2**31)
    run_name = request.run_name or datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    return RunConfig(model=ModelConfig(vocab_size=1, **request.values_of(ModelConfig)),
                     train=TrainConfig(**train), run_name=run_name)


def _fine_tuned_run(request: RunRequest, source: RunConfig) -> RunConfig:
    """A new run with the architecture of `source`; of the model settings only dropout may differ."""
    model = keep_architecture(source.model, request.values_of(ModelConfig, given_only=True),
                              lambda name, value, saved: f"--{name} {value} does not match the {name} {saved} of the "
                                                         f"run in {request.finetune_from}; fine-tuning keeps its "
                                                         f"architecture")
    return dataclasses.replace(_new_run(request), model=model)


def _data_config(request: RunRequest, saved: DataConfig) -> DataConfig:
    """The text the settings name; a continued run given no data settings keeps the text it was trained on."""
    settings, given = request.settings, request.given
    if "data_dir" in given and "input_file" in given:
        raise CharRNNError("give --data_dir or --input_file, not both")
    encoding = settings.get("encoding", DataConfig.encoding)
    if not {"data_dir", "input_file"} & given and (saved.data_dir or saved.input_file):
        encoding = encoding if "encoding" in given else saved.encoding
        return DataConfig(data_dir=saved.data_dir, input_file=saved.input_file, encoding=encoding)
    if settings.get("input_file"):
        return DataConfig(input_file=settings["input_file"], encoding=encoding)
    if not settings.get("data_dir"):
        raise CharRNNError("give the text to train on: --data_dir or --input_file")
    return DataConfig(data_dir=settings["data_dir"], encoding=encoding)


def stop_on_signals(trainer) -> list:
    """SIGINT and SIGTERM ask the trainer to stop after the current step (it saves); returns the
    list the signals received are appended to, for the exit code (128 + signal).

    The first signal only sets a flag: an exception raised inside a TensorFlow call can crash the
    process. A second one stops at once.
    """
    received = []

    def stop(signum, frame):
        received.append(signum)
        if len(received) > 1:
            raise KeyboardInterrupt
        trainer.stop_requested = True

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)
    return received
