"""--recipe auto: the model and schedule for a time budget, sized from the text and this machine.

The rule (docs/training.md#the-automatic-recipe), from the hand-made recipes' timed runs:
a two-layer GRU with layer norm and a cosine decay that ends with the budget, or after MAX_PASSES
passes over the text, where the run then ends; as wide as still sees
CHARS_PER_WEIGHT characters of training per recurrent weight at the step time measured here (wider
ones see too few; narrower ones learn less from each character), but with at most PARAMS_PER_CHAR
recurrent weights per training character (wider overfits a small text however long it trains);
dropout rising with the passes over the text that width makes; decoupled weight decay (AdamW) of
WEIGHT_DECAY from WEIGHT_DECAY_MINUTES on; a lower learning rate for runs planned longer than
LONG_MINUTES, where 4e-3 made wide models' losses jump. A text too small for the budget (the choice
would see it more than HELD_BACK_PASSES times, and overfit it) gets a wider model held back by
weight drop and the weight average (HELD_BACK), chosen again under HELD_BACK's looser caps; only
such a run can reach MAX_PASSES. bfloat16 when training runs on a CPU with bfloat16 arithmetic
(with a GPU the CPU's units do not compute the step: float32 unless --precision says otherwise).

`choose` is the rule, pure: it takes the step time of a width as a function and a clock, so tests
give it fake ones. `choose_for_run` times the real training step of each candidate and fills in
the settings of a new run the user did not give.
"""

import dataclasses
import math
import tempfile
import time
from typing import Callable, Mapping, Optional

from charrnn.core.config import RunConfig
from charrnn.core.machine import has_bfloat16

CELL = {"model": "gru", "num_layers": 2, "layer_norm": True}  # the candidates' cell; WIDTHS their widths
WIDTHS = (128, 192, 256, 384, 512)
# Characters of training per recurrent weight that a width must see in the budget, as planned here. On an
# Intel Xeon with AMX (docs/training.md) 4 chose 2x384 for 10 minutes of a 20 MB text, which saw 4.1 per
# weight and ended 0.038 behind 2x192 seeing 33; widths planned at 9.5 to 13 per weight won or tied at 2 and
# 5 minutes of tiny-shakespeare.
CHARS_PER_WEIGHT = 8.0
# Passes over the text after which the run ends (its --num_epochs), the cosine decay with it. Only a held-back
# run gets there (any other sees the text at most HELD_BACK_PASSES times). Held back, a 2x512 GRU on
# tiny-shakespeare was still improving at 38 passes in 60 minutes (AMD EPYC, docs/training.md: 1.375, against
# 1.393 at 19 passes in 30); without weight drop and the weight average a 2x384 had been lowest at 18 to 21
# passes and rose after, so this was 20 until 2026-12-07. A --num_epochs given beside the recipe takes its
# place, in the plan (width, passes, dropout) as in the run.
MAX_PASSES = 40
PARAMS_PER_CHAR = 2.0  # recurrent weights (2 GRU layers: 12 x width^2) per training character, at most
LONG_MINUTES = 15.0  # runs planned longer than this (the budget, or less where MAX_PASSES ends them) get 2e-3
# The share of the budget left after the timing that is counted as training steps at the timed
# speed; validations, saves and the trainer's own work per step take the rest. In 5-minute runs of
# tiny-shakespeare on a 2-core AMD EPYC it came out at 0.87 (3,508 steps of 67.7 ms where 74 ms
# were timed) and, with other work on the machine, 0.75 (2,736 steps of 84 ms where 73 ms were).
TRAINING_SHARE = 0.75
# Dropout by passes over the training text: 0.1 below 14, then 0.2. Never none: on a 20 MB text, seen 0.8
# times in 10 minutes, 2x256 ended at 1.239 without dropout and 1.220 with 0.1 (AMD EPYC, docs/training.md),
# the held-out text being other files than the training text. No more than 0.2: only held-back runs see the text
# more than HELD_BACK_PASSES times, and with weight drop less dropout paid (tiny-shakespeare, a 2x512 at 30
# minutes: 1.402 with 0.25, 1.413 with 0.35, 1.392 with 0.2; Python's docs, a 2x192 ended at 20 passes: 1.517
# and 1.504 with 0.2, 1.537 and 1.533 with 0.3). Until 2026-12-07 runs ending at 20 passes got 0.3.
DROPOUT_BY_PASSES = ((14, 0.1), (math.inf, 0.2))
# Decoupled weight decay (AdamW, --weight_decay) for budgets of WEIGHT_DECAY_MINUTES and more: at 10 minutes on
# tiny-shakespeare (Intel Xeon with AMX, docs/training.md) 0.1 took the recipe's 2x256 from 1.452 to 1.421 (at 5
# minutes from 1.448 to 1.427), and a 2x384 from 1.442 to 1.411; at 2 minutes the 2x192 went from 1.498 to 1.511.
WEIGHT_DECAY, WEIGHT_DECAY_MINUTES = 0.1, 5.0
# On a text the budget would see more than HELD_BACK_PASSES times, the regularisers and caps of a held-back model.
# On tiny-shakespeare at 30 minutes (Intel Xeon with AMX, docs/training.md) the recipe's 2x384 ended at
# 20 passes after 21 minutes at 1.422, while a 2x512 (3.1 recurrent weights per training character) with weight
# drop 0.25 and the weight average 0.999 trained all 30 minutes and reached 1.402 (1.434 without the two);
# it saw 5.8 characters per weight, about 5 as planned here, and 4 leaves room for the timing's noise. Chosen by
# this rule there (2x512, dropout 0.2), it reached 1.392, against the rule before's 1.419 side by side.
HELD_BACK = {"weight_drop": 0.25, "ema_decay": 0.999}
# The passes in the budget from which a text counts as small for it and the model is held back (a given
# num_epochs below this: from that many). At 10 minutes of tiny-shakespeare on an AMD EPYC with AVX512-BF16
# (docs/training.md) the first choice, 2x256, would have seen the text 19 times and ended at 1.428 with its
# training loss 0.2 below; held back, 2x384 ended at 1.420.
HELD_BACK_PASSES = 15
HELD_BACK_PARAMS_PER_CHAR, HELD_BACK_CHARS_PER_WEIGHT = 4.0, 4.0
TIMED_STEPS, WARMUP_STEPS = 3, 2


@dataclasses.dataclass(frozen=True)
class Choice:
    """What the rule chose: `settings` maps flag names to values; `line` says what and why;
    `seconds` is the time the timing took, which counts against the budget."""

    settings: Mapping[str, object]
    line: str
    seconds: float


def recurrent_params(width: int) -> int:
    """Weights of two GRU layers of `width` units with inputs as wide: 2 x 3 x (2 x width) x width."""
    return 12 * width * width


def chars_to_see(width: int, chars_per_weight: float = CHARS_PER_WEIGHT) -> float:
    """The characters of training a width must see in the budget to be chosen."""
    return chars_per_weight * recurrent_params(width)


def choose(minutes: float, train_chars: int, batch_chars: int, step_seconds: Callable[[int], float],
           bfloat16: bool, given: Optional[Mapping[str, object]] = None, clock=time.monotonic) -> Choice:
    """The recipe for `minutes` of wall time on `train_chars` characters of training text.

    step_seconds(width) is the time of one training step of `batch_chars` characters (batch_size x
    seq_length) for the two-layer GRU of that width; it is asked once per width, in increasing order,
    up to the first that sees too few characters (when held back, under the held-back caps).
    `given` holds the settings the user gave, which the recipe keeps (a given rnn_size is the only
    width timed; a given num_epochs is the most passes planned). `clock` gives seconds; the time the
    timing takes comes out of the budget.
    """
    start, given = clock(), given or {}
    max_passes = given.get("num_epochs", MAX_PASSES)
    timed = {}

    def chars_in_time(width: int) -> float:  # in the minutes left
        if width not in timed:
            timed[width] = step_seconds(width)
        return max(0.0, TRAINING_SHARE * (60.0 * minutes - (clock() - start))) / timed[width] * batch_chars

    def chars_seen(width: int) -> float:  # in the minutes left, and in at most max_passes
        return min(chars_in_time(width), max_passes * train_chars)

    def widest(params_per_char: float, chars_per_weight: float) -> tuple:
        """(width, its width cap): the widest under the cap that sees enough, else the narrowest."""
        width_cap = math.sqrt(params_per_char * train_chars / recurrent_params(1))
        if "rnn_size" in given:
            return given["rnn_size"], width_cap
        chosen = None
        for width in (w for w in WIDTHS if w == WIDTHS[0] or w <= width_cap):
            enough = chars_seen(width) >= chars_to_see(width, chars_per_weight)
            if enough or chosen is None:  # the narrowest is the choice when none sees enough
                chosen = width
            if not enough:
                break  # wider ones see fewer still
        return chosen, width_cap

    chars_per_weight = CHARS_PER_WEIGHT
    chosen, width_cap = widest(PARAMS_PER_CHAR, chars_per_weight)
    first_choice, first_passes = chosen, chars_in_time(chosen) / train_chars
    held_back_from = min(max_passes, HELD_BACK_PASSES)
    held_back = first_passes > held_back_from
    if held_back:  # the text is small for the budget: a wider model, held back, trains more of it
        chars_per_weight = HELD_BACK_CHARS_PER_WEIGHT
        chosen, width_cap = widest(HELD_BACK_PARAMS_PER_CHAR, chars_per_weight)
    seen = chars_seen(chosen)
    passes = seen / train_chars
    run_minutes = minutes * min(1.0, seen / max(chars_in_time(chosen), 1.0))  # as planned: less if the passes end it
    learning_rate = 4e-3 if run_minutes <= LONG_MINUTES else 2e-3
    dropout = next(rate for below, rate in DROPOUT_BY_PASSES if passes < below)
    weight_decay = WEIGHT_DECAY if minutes >= WEIGHT_DECAY_MINUTES else 0.0
    recipe = {**CELL, "rnn_size": chosen, "dropout": dropout, "weight_decay": weight_decay,
              **(HELD_BACK if held_back else {}), "learning_rate": learning_rate, "lr_schedule": "cosine",
              "min_lr": learning_rate / 20, "num_epochs": MAX_PASSES,
              "precision": "bfloat16" if bfloat16 else "float32"}
    settings = {name: given.get(name, value) for name, value in recipe.items()}
    if "rnn_size" in given:
        reason = "the width given"
    elif seen < chars_to_see(chosen, chars_per_weight):
        reason = f"the narrowest, as none sees {chars_per_weight:g} characters per recurrent weight"
    else:
        reason = (f"the widest that sees >= {chars_per_weight:g} characters per recurrent weight "
                  f"({chars_to_see(chosen, chars_per_weight) / 1e6:.1f}M)") + (
            f", of at most {width_cap:.0f} units for a text this size" if width_cap < WIDTHS[-1] else "")
    if held_back:
        reason = (f"{first_choice} units would see the text {first_passes:.1f} times, more than "
                  f"{held_back_from}, so held back by weight drop and the weight average: {reason}")
    seconds = clock() - start
    timings = ", ".join(f"{width}: {1000 * step:.0f} ms" for width, step in timed.items())
    kept = sorted(set(recipe) & set(given))
    ends = f" (the most: the run ends there, after about {run_minutes:.1f} minutes)" if passes >= max_passes else ""
    line = (f"recipe auto for {minutes:g} minutes: {_flags(settings)} ({reason}: {seen / 1e6:.1f}M characters, "
            f"{passes:.1f} passes over {train_chars:,}{ends}; timed {timings} per step in {seconds:.1f} s"
            + (f"; as given: {', '.join(kept)}" if kept else "") + ")")
    return Choice(settings, line, seconds)


def _flags(settings: Mapping[str, object]) -> str:
    """The settings as charrnn.train's flags."""
    def flag(name, value):
        if isinstance(value, bool):
            return f"--{name}" if value else f"--no{name}"
        return f"--{name} {value:g}" if isinstance(value, float) else f"--{name} {value}"
    return " ".join(flag(name, value) for name, value in settings.items())


def choose_for_run(prepared, strategy=None, recurrence: str = "auto", clock=time.monotonic):
    """The launch.PreparedRun of a new run with the recipe's settings filled in where the user gave
    none, and the Choice. Each candidate's real training step is timed on random ids."""
    from charrnn.model.network import gpu_available
    from charrnn.training.speed import time_training_step

    request, run = prepared.request, prepared.run
    given = {name: request.settings[name] for name in request.given if name in request.settings}
    bfloat16 = has_bfloat16() and not gpu_available()

    def step_seconds(width: int) -> float:
        settings = {**CELL, "rnn_size": width, "precision": "bfloat16" if bfloat16 else "float32", **given}
        with tempfile.TemporaryDirectory() as work_dir:
            return time_training_step(*_configs(run, settings), TIMED_STEPS, WARMUP_STEPS, work_dir,
                                      recurrence=recurrence, strategy=strategy)["seconds_per_batch"]

    batches = prepared.train_batches
    choice = choose(run.train.max_minutes, len(batches) * batches.batch_size * batches.seq_length,
                    batches.batch_size * batches.seq_length, step_seconds, bfloat16, given, clock)
    model, train = _configs(run, choice.settings)
    return dataclasses.replace(prepared, run=dataclasses.replace(run, model=model, train=train)), choice


def _configs(run: RunConfig, settings: Mapping[str, object]) -> tuple:
    """(ModelConfig, TrainConfig) of `run` with the settings that are their fields replaced."""
    def fields_of(config) -> dict:
        names = {f.name for f in dataclasses.fields(config)}
        return {name: value for name, value in settings.items() if name in names}
    return (dataclasses.replace(run.model, **fields_of(run.model)),
            dataclasses.replace(run.train, **fields_of(run.train)))
