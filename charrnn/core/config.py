"""Frozen, validated configs with a JSON round-trip.

Field names are the command-line flag names, so a validation message can name the flag.
Library code takes these objects; only the entry points read flags.
"""

import dataclasses
import json
import math
from typing import Any, Optional

from charrnn.core.errors import CharRNNError
from charrnn.core.files import parse_versioned_json

CELL_TYPES = ("lstm", "gru", "rnn")
PRECISIONS = ("float32", "bfloat16", "float16")
LR_SCHEDULES = ("exponential", "cosine", "constant")  # see training/learning_rate.py
RECIPES = ("none", "auto")  # see training/recipe.py
RECURRENCE_CHOICES = ("auto", "keras", "cpu")  # recurrent layers' code paths: see network.CharRNN
ARGMAX, SAMPLE, SAMPLE_AFTER_SPACE = 0, 1, 2  # sampling modes: see inference/sampler.py
SAMPLE_MODES = (ARGMAX, SAMPLE, SAMPLE_AFTER_SPACE)
CONFIG_FORMAT = 1
# The model settings a continued or fine-tuned run may change: they shape no variable.
DROPOUT_RATES = ("dropout", "embedding_dropout", "weight_drop", "locked_dropout")


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise CharRNNError(message)


def _positive_int(config, name: str) -> None:
    value = getattr(config, name)
    _check(isinstance(value, int) and not isinstance(value, bool) and value >= 1,
           f"--{name} must be a positive integer, got {value!r}")


def _number_in(config, name: str, low: float, high: float, *, low_open: bool, high_open: bool) -> None:
    value = getattr(config, name)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    _check(ok, f"--{name} must be in {interval}, got {value!r}")


def _from_dict(cls, data: Any, what: str):
    """Builds dataclass `cls` from a JSON object, refusing unknown or missing keys."""
    _check(isinstance(data, dict), f"{what}: expected a JSON object")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    _check(not unknown, f"{what}: unknown keys {unknown}")
    try:
        return cls(**data)
    except TypeError as e:  # a required key is missing
        raise CharRNNError(f"{what}: {e}") from None


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Everything that shapes the network's variables (plus dropout)."""

    vocab_size: int
    model: str = "lstm"
    rnn_size: int = 128
    num_layers: int = 2
    dropout: float = 0.0
    embedding_size: Optional[int] = None  # None: rnn_size, as char-rnn
    layer_norm: bool = False  # normalise each recurrent layer's output
    residual: bool = False  # add each recurrent layer's input to its output, from the second layer on
    embedding_dropout: float = 0.0  # dropout on the embedded characters
    tie_embeddings: bool = False  # the output layer's weights are the embedding's (needs equal widths)
    weight_drop: float = 0.0  # DropConnect on each recurrent kernel in training: one mask per batch
    locked_dropout: bool = False  # dropout and embedding_dropout draw one mask per stream for every timestep

    def __post_init__(self):
        _positive_int(self, "vocab_size")
        _check(self.model in CELL_TYPES, f"--model must be one of {', '.join(CELL_TYPES)}, got {self.model!r}")
        _positive_int(self, "rnn_size")
        _positive_int(self, "num_layers")
        _number_in(self, "dropout", 0.0, 1.0, low_open=False, high_open=True)
        if self.embedding_size is not None:
            _positive_int(self, "embedding_size")
        _number_in(self, "embedding_dropout", 0.0, 1.0, low_open=False, high_open=True)
        _number_in(self, "weight_drop", 0.0, 1.0, low_open=False, high_open=True)
        for name in ("layer_norm", "residual", "tie_embeddings", "locked_dropout"):
            _check(isinstance(getattr(self, name), bool), f"--{name} must be true or false")
        _check(not self.tie_embeddings or self.embedding_width == self.rnn_size,
               f"--tie_embeddings needs the embedding as wide as the top layer: --embedding_size "
               f"{self.embedding_size} differs from --rnn_size {self.rnn_size}")

    @property
    def embedding_width(self) -> int:
        return self.embedding_size or self.rnn_size


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Batching, optimisation and bookkeeping of one training run."""

    batch_size: int = 50
    seq_length: int = 50
    val_frac: float = 0.05
    test_frac: float = 0.0
    learning_rate: float = 2e-3
    decay_rate: float = 0.97  # per epoch, for lr_schedule "exponential"
    lr_schedule: str = "exponential"
    warmup_steps: int = 0
    min_lr: float = 0.0
    weight_decay: float = 0.0  # decoupled (AdamW) when above 0
    adam_beta2: float = 0.999  # Adam's decay of its squared-gradient average (Keras' beta_2)
    grad_clip: float = 5.0
    # Each batch's streams run in this many groups, one after another, their gradients averaged: the
    # same step in about 1/grad_accum_steps of the activation memory.
    grad_accum_steps: int = 1
    num_epochs: int = 50
    max_steps: Optional[int] = None
    max_minutes: Optional[float] = None  # wall time of the whole run, continuations included
    # Periodic validations score the first this many characters of the split (None: all of it).
    # 500,000 keeps them under a tenth of the training time at the defaults on a large corpus
    # (80,000 chars/s of scoring against 84 ms per step here); tiny-shakespeare's whole split is 55,770.
    eval_chars: Optional[int] = 500_000
    seed: int = 0
    print_every: int = 1
    eval_every: int = 1000
    save_every: int = 1000
    keep_checkpoints: int = 5
    precision: str = "float32"
    # Above 0: validation, the best checkpoint's choice, sampling and export use an exponential
    # moving average of the weights with this decay per step (training/weight_average.py).
    ema_decay: float = 0.0
    # "auto": the model and schedule were chosen for max_minutes by training/recipe.py when the run began.
    recipe: str = "none"

    # Changing these between a run and its continuation would change what a step or the
    # carried RNN state means, so a resumed run must keep them.
    DATA_SHAPING = ("batch_size", "seq_length", "val_frac", "test_frac")

    def __post_init__(self):
        for name in ("batch_size", "seq_length", "num_epochs", "print_every", "eval_every",
                     "save_every", "keep_checkpoints", "grad_accum_steps"):
            _positive_int(self, name)
        _check(self.batch_size % self.grad_accum_steps == 0, f"--batch_size {self.batch_size} does not divide "
               f"into --grad_accum_steps {self.grad_accum_steps} groups of streams")
        if self.max_steps is not None:
            _positive_int(self, "max_steps")
        _check(isinstance(self.seed, int) and not isinstance(self.seed, bool) and 0 <= self.seed < 2**31,
               f"--seed must be an integer in [0, 2^31), got {self.seed!r}")
        _number_in(self, "val_frac", 0.0, 1.0, low_open=True, high_open=True)
        _number_in(self, "test_frac", 0.0, 1.0, low_open=False, high_open=True)
        _check(self.val_frac + self.test_frac < 1, f"--val_frac {self.val_frac} and --test_frac {self.test_frac} "
               f"leave nothing to train on; their sum must be below 1")
        _number_in(self, "learning_rate", 0.0, math.inf, low_open=True, high_open=True)
        _number_in(self, "decay_rate", 0.0, 1.0, low_open=True, high_open=False)
        _check(self.lr_schedule in LR_SCHEDULES,
               f"--lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got {self.lr_schedule!r}")
        _check(type(self.warmup_steps) is int and self.warmup_steps >= 0,
               f"--warmup_steps must be an integer >= 0, got {self.warmup_steps!r}")
        _number_in(self, "min_lr", 0.0, self.learning_rate, low_open=False, high_open=False)
        _number_in(self, "weight_decay", 0.0, math.inf, low_open=False, high_open=True)
        _number_in(self, "adam_beta2", 0.0, 1.0, low_open=True, high_open=True)
        if self.max_minutes is not None:
            _number_in(self, "max_minutes", 0.0, math.inf, low_open=True, high_open=True)
        if self.eval_chars is not None:
            _positive_int(self, "eval_chars")
        _number_in(self, "grad_clip", 0.0, math.inf, low_open=True, high_open=True)
        _number_in(self, "ema_decay", 0.0, 1.0, low_open=False, high_open=True)
        _check(self.precision in PRECISIONS,
               f"--precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        _check(self.recipe in RECIPES, f"--recipe must be one of {', '.join(RECIPES)}, got {self.recipe!r}")
        _check(self.recipe == "none" or self.max_minutes is not None,
               "--recipe auto sizes the model for a time budget: give --max_minutes too")


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the training text came from, as given on the command line, and the hash of its content."""

    data_dir: Optional[str] = None
    input_file: Optional[str] = None
    encoding: str = "utf-8"
    sha256: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """What `config.json` in a save folder holds."""

    model: ModelConfig
    train: TrainConfig
    run_name: str
    data: DataConfig = DataConfig()

    def to_json(self) -> str:
        data = {"format": CONFIG_FORMAT, "model": dataclasses.asdict(self.model),
                "train": dataclasses.asdict(self.train), "run_name": self.run_name,
                "data": dataclasses.asdict(self.data)}
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, source: str = "config.json") -> "RunConfig":
        data = parse_versioned_json(text, source, "config", CONFIG_FORMAT)
        run_name = data.get("run_name")
        _check(isinstance(run_name, str) and run_name != "", f"{source}: run_name must be a non-empty string")
        return cls(model=_from_dict(ModelConfig, data.get("model"), f"{source} model"),
                   train=_from_dict(TrainConfig, data.get("train"), f"{source} train"),
                   run_name=run_name, data=_from_dict(DataConfig, data.get("data", {}), f"{source} data"))


def keep_architecture(saved: ModelConfig, overrides: dict, mismatch) -> ModelConfig:
    """`saved` with the model settings the user gave: every one but the dropout rates must equal
    the saved value (the variables would not fit otherwise); mismatch(name, value, saved_value)
    words the one-line error for one that does not."""
    for name, value in overrides.items():
        _check(name in DROPOUT_RATES or value == getattr(saved, name), mismatch(name, value, getattr(saved, name)))
    return dataclasses.replace(saved, **{k: v for k, v in overrides.items() if k in DROPOUT_RATES})


def resume_config(saved: RunConfig, model_overrides: dict, train_overrides: dict) -> RunConfig:
    """The config of a run continued from `saved`.

    Overrides are the flags the user gave explicitly. The architecture and the batching must
    stay as saved (anything else would not fit the checkpoint), and so must the recipe (an automatic
    one was chosen when the run began); the rest may change, for example more epochs or a lower
    learning rate.
    """
    def mismatch(name, value, saved_value):
        return (f"--{name} {value} does not match the checkpoint's {name} {saved_value}; "
                f"drop the flag to continue the run, or train into a new --save_dir")

    precision = train_overrides.get("precision", saved.train.precision)
    # float16 training keeps a loss scale in the checkpoint that the other precisions lack.
    _check(precision == saved.train.precision or "float16" not in (precision, saved.train.precision),
           f"--precision {precision} cannot continue a run trained with --precision {saved.train.precision}; "
           f"only float32 and bfloat16 may be switched")
    model = keep_architecture(saved.model, model_overrides, mismatch)
    for name, value in train_overrides.items():
        _check(name not in (*TrainConfig.DATA_SHAPING, "recipe") or value == getattr(saved.train, name),
               mismatch(name, value, getattr(saved.train, name)))
    return dataclasses.replace(
        saved, model=model,
        train=dataclasses.replace(saved.train, **{k: v for k, v in train_overrides.items()
                                                  if k not in TrainConfig.DATA_SHAPING}))


@dataclasses.dataclass(frozen=True)
class SamplingConfig:
    """How the sampler chooses the next character; field names are charrnn.sample's flags."""

    temperature: float = 1.0
    top_k: int = 0  # 0: no limit
    top_p: float = 1.0
    sample: int = SAMPLE
    seed: int = 0

    def __post_init__(self):
        _check(self.sample in SAMPLE_MODES,
               f"--sample must be one of {', '.join(map(str, SAMPLE_MODES))}, got {self.sample!r}")
        _check(self.sample == ARGMAX or (isinstance(self.temperature, (int, float)) and 0 < self.temperature < math.inf),
               f"--temperature must be > 0 when sampling (--sample 0 takes the argmax), got {self.temperature!r}")
        _check(isinstance(self.top_k, int) and not isinstance(self.top_k, bool) and self.top_k >= 0,
               f"--top_k must be >= 1 (or 0 for no limit), got {self.top_k!r}")
        _number_in(self, "top_p", 0.0, 1.0, low_open=True, high_open=False)
        _check(isinstance(self.seed, int) and not isinstance(self.seed, bool) and 0 <= self.seed < 2**31,
               f"--seed must be an integer in [0, 2^31), got {self.seed!r}")
