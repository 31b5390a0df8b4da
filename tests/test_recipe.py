"""--recipe auto: the rule with fake speeds and a fake clock, and through charrnn.train a choice
that a continued run keeps."""

import json
from typing import Optional

import pytest

from charrnn.model import network
from charrnn.training import launch, recipe, speed
from charrnn.training.recipe import WIDTHS, choose

from conftest import assert_one_line_error, run_module, write_corpus

BATCH_CHARS = 50 * 50


class Timing:
    """Step times that grow as width^2 (`at_128` seconds at 128 units), or `measured` ones by width; each
    timing advances the fake clock by `cost` seconds. Records the widths asked for."""

    def __init__(self, at_128: float = 0.0, cost: float = 1.0, measured: Optional[dict] = None):
        self.at_128, self.cost, self.measured, self.now, self.asked = at_128, cost, measured, 0.0, []

    def clock(self) -> float:
        return self.now

    def step_seconds(self, width: int) -> float:
        self.asked.append(width)
        self.now += self.cost
        return self.measured[width] if self.measured else self.at_128 * (width / 128) ** 2


def test_the_widest_width_that_sees_enough_characters_is_chosen_and_wider_ones_are_not_timed():
    # 10 minutes at 50 ms per step of the 2x128 GRU, a second per timing: 192 units see 9.9M characters,
    # at least 8 per recurrent weight (3.5M); 256 see 5.6M, fewer than 8 per weight (6.3M).
    timing = Timing(at_128=0.05)
    choice = choose(10, 1_000_000, BATCH_CHARS, timing.step_seconds, bfloat16=False, clock=timing.clock)
    assert timing.asked == [128, 192, 256]  # 256 sees too few, so 384 and 512 are never timed
    assert choice.settings == {"model": "gru", "num_layers": 2, "rnn_size": 192, "layer_norm": True,
                               "dropout": 0.1, "weight_decay": 0.1, "learning_rate": 4e-3, "lr_schedule": "cosine",
                               "min_lr": 2e-4, "num_epochs": 40, "precision": "float32"}  # 9.9 passes: dropout 0.1
    assert choice.seconds == 3.0
    assert choice.line.startswith("recipe auto for 10 minutes: --model gru --num_layers 2 --layer_norm "
                                  "--rnn_size 192 --dropout 0.1 --weight_decay 0.1 --learning_rate 0.004 "
                                  "--lr_schedule cosine --min_lr 0.0002 --num_epochs 40 --precision float32 (")
    assert "(the widest that sees >= 8 characters per recurrent weight (3.5M), of at most 408 units for a text " \
           "this size: 9.9M characters, 9.9 passes over 1,000,000; timed 128: 50 ms, 192: 112 ms, 256: 200 ms " \
           "per step in 3.0 s)" in choice.line
    assert "\n" not in choice.line


def test_the_time_spent_timing_comes_out_of_the_budget():
    # two million characters: never seen 15 times here, so nothing is held back
    fast = choose(10, 2_000_000, BATCH_CHARS, Timing(at_128=0.008).step_seconds, False, clock=Timing(0).clock)
    slow_timing = Timing(at_128=0.008, cost=60.0)  # each timing takes a minute of the ten
    slow = choose(10, 2_000_000, BATCH_CHARS, slow_timing.step_seconds, False, clock=slow_timing.clock)
    assert fast.settings["rnn_size"] == 384 and slow.settings["rnn_size"] == 256
    assert slow.seconds == 240.0 and "per step in 240.0 s)" in slow.line


def test_a_text_too_small_for_the_budget_gets_a_wider_model_held_back_that_ends_after_40_passes():
    # 60 minutes at 8 ms per step of the 2x128 GRU: 384 units (the widest of at most 2 recurrent weights per
    # character) would see a million characters 94 times. Held back by weight drop and the weight average (at
    # most 4 weights per character: 577 units; at least 4 characters per weight: 12.6M for 512 units), 512
    # units would see it 53 times: the widest, ended after 40 passes, 46 of the 60 minutes (the 5 s of timing
    # out of the budget), with dropout 0.2. In 30 minutes the same model sees it 26 times: all the budget.
    timing = Timing(at_128=0.008)
    choice = choose(60, 1_000_000, BATCH_CHARS, timing.step_seconds, False, clock=timing.clock)
    assert timing.asked == [128, 192, 256, 384, 512]  # each width timed once
    assert choice.settings == {"model": "gru", "num_layers": 2, "rnn_size": 512, "layer_norm": True,
                               "dropout": 0.2, "weight_decay": 0.1, "weight_drop": 0.25, "ema_decay": 0.999,
                               "learning_rate": 2e-3, "lr_schedule": "cosine", "min_lr": 1e-4, "num_epochs": 40,
                               "precision": "float32"}
    assert ("--weight_drop 0.25 --ema_decay 0.999 --learning_rate 0.002" in choice.line
            and "(384 units would see the text 93.6 times, more than 15, so held back by weight drop and the "
                "weight average: the widest that sees >= 4 characters per recurrent weight (12.6M): 40.0M "
                "characters, 40.0 passes over "
                "1,000,000 (the most: the run ends there, after about 45.6 minutes); timed" in choice.line)
    timing = Timing(at_128=0.008)
    thirty = choose(30, 1_000_000, BATCH_CHARS, timing.step_seconds, False, clock=timing.clock)
    assert {name: thirty.settings[name] for name in ("rnn_size", "dropout", "weight_drop", "num_epochs")} == dict(
        rnn_size=512, dropout=0.2, weight_drop=0.25, num_epochs=40)
    assert "26.3 passes over 1,000,000; timed" in thirty.line  # not ended by the passes
    # a text the budget sees fewer than 15 times is not held back, however long the budget
    large = choose(30, 20_000_000, BATCH_CHARS, Timing(at_128=0.008).step_seconds, False, clock=Timing(0).clock)
    assert large.settings["rnn_size"] == 512 and "weight_drop" not in large.settings


def test_a_text_the_first_choice_would_see_more_than_15_times_is_held_back_though_its_passes_would_not_end_it():
    # 10 minutes of tiny-shakespeare at the step times of an AMD EPYC with AVX512-BF16 (docs/training.md), a
    # second per timing: 256 units would see the text 18.9 times (overfitting it), so held back: 384 units see
    # 10.6M characters, at least 4 per weight (7.1M); 512 units see 5.9M, fewer than 12.6M. In 5 minutes 256
    # units see it 8.5 times: not held back.
    measured = {128: 0.025, 192: 0.041, 256: 0.059, 384: 0.105, 512: 0.19}
    timing = Timing(measured=measured)
    ten = choose(10, 1_002_500, BATCH_CHARS, timing.step_seconds, True, clock=timing.clock)
    assert timing.asked == [128, 192, 256, 384, 512]
    assert {name: ten.settings.get(name) for name in ("rnn_size", "dropout", "weight_drop", "ema_decay",
                                                      "learning_rate")} == dict(
        rnn_size=384, dropout=0.1, weight_drop=0.25, ema_decay=0.999, learning_rate=4e-3)
    assert "(256 units would see the text 18.9 times, more than 15, so held back" in ten.line
    timing = Timing(measured=measured)
    five = choose(5, 1_002_500, BATCH_CHARS, timing.step_seconds, True, clock=timing.clock)
    assert five.settings["rnn_size"] == 256 and "weight_drop" not in five.settings


def test_a_run_the_passes_end_within_15_minutes_gets_the_short_runs_learning_rate_whatever_the_budget():
    # 100,000 characters at 8 ms per step: held back, 128 units (at most 182 for 4 weights per character) see
    # them 40 times in 18 seconds of the 30 minutes, so 4e-3 as in a 10-minute budget, not the long runs' 2e-3.
    for minutes in (10, 30):
        choice = choose(minutes, 100_000, BATCH_CHARS, Timing(at_128=0.008).step_seconds, False,
                        clock=Timing(0).clock)
        assert (choice.settings["rnn_size"], choice.settings["learning_rate"], choice.settings["weight_drop"]) \
            == (128, 4e-3, 0.25)
    assert "after about 0.3 minutes" in choice.line


def test_a_given_num_epochs_is_the_most_passes_planned():
    # 10 minutes at 8 ms per step, ended by the user at 5 passes: 256 units would see too few characters
    # (6.3M needed) in 5M, 192 units enough, but they would see the text more than 5 times in the budget: held
    # back, 4 characters per weight are enough (3.1M for 256 units, 7.1M for 384), so 256 units, with the
    # dropout of 5 passes.
    choice = choose(10, 1_000_000, BATCH_CHARS, Timing(at_128=0.008).step_seconds, False, given={"num_epochs": 5},
                    clock=Timing(0).clock)
    assert (choice.settings["rnn_size"], choice.settings["num_epochs"], choice.settings["dropout"],
            choice.settings["weight_drop"]) == (256, 5, 0.1, 0.25)
    assert ("5.0M characters, 5.0 passes over 1,000,000 (the most: the run ends there, after about 1.4 minutes); "
            "timed") in choice.line


@pytest.mark.parametrize("train_chars, at_128, minutes, expected", [
    # a small text caps the width (held back, at most 4 recurrent weights per character: 182 units for 100,000)
    (100_000, 0.001, 10, dict(rnn_size=128, dropout=0.2, weight_drop=0.25, num_epochs=40)),
    # on a slow machine even the narrowest sees too few characters: it is still the choice, with dropout
    (1_000_000, 1.0, 5, dict(rnn_size=128, dropout=0.1, weight_decay=0.1)),
    # weight decay from 5 minutes on: none in 2
    (1_000_000, 0.05, 2, dict(rnn_size=128, dropout=0.1, weight_decay=0.0)),
    # a long budget lowers the learning rate; less than one pass over a large text still gets dropout
    (20_000_000, 0.008, 30, dict(rnn_size=512, dropout=0.1, learning_rate=2e-3, min_lr=1e-4)),
])
def test_the_text_s_size_the_machine_s_speed_and_the_budget_decide(train_chars, at_128, minutes, expected):
    timing = Timing(at_128)
    settings = choose(minutes, train_chars, BATCH_CHARS, timing.step_seconds, False, clock=timing.clock).settings
    assert {name: settings[name] for name in expected} == expected
    assert set(timing.asked) <= set(WIDTHS)


def test_bfloat16_where_the_cpu_has_it_and_given_settings_are_kept():
    timing = Timing(at_128=0.05)
    choice = choose(10, 1_000_000, BATCH_CHARS, timing.step_seconds, bfloat16=True,
                    given={"rnn_size": 256, "dropout": 0.05}, clock=timing.clock)
    assert timing.asked == [256]  # a given width is the only one timed
    assert choice.settings["rnn_size"] == 256 and choice.settings["dropout"] == 0.05
    assert choice.settings["precision"] == "bfloat16" and "as given: dropout, rnn_size" in choice.line
    assert "(the width given: 5.6M characters" in choice.line  # too few (6.3M), and kept all the same


@pytest.mark.parametrize("gpu, precision", [(False, "bfloat16"), (True, "float32")])
def test_the_cpu_s_bfloat16_decides_the_precision_only_where_the_cpu_trains(tmp_path, monkeypatch, gpu, precision):
    write_corpus(tmp_path / "data")
    settings = {"data_dir": str(tmp_path / "data"), "max_minutes": 2.0, "recipe": "auto"}
    prepared = launch.prepare_run(launch.RunRequest(settings=settings, given=frozenset(settings),
                                                    save_dir=str(tmp_path / "save"), log_dir=str(tmp_path / "logs")))
    timed = []
    monkeypatch.setattr(recipe, "has_bfloat16", lambda: True)
    monkeypatch.setattr(network, "gpu_available", lambda: gpu)
    monkeypatch.setattr(speed, "time_training_step",
                        lambda model, train, *args, **kwargs: timed.append(train.precision) or {"seconds_per_batch": 0.01})
    chosen, choice = recipe.choose_for_run(prepared)
    assert chosen.run.train.precision == precision and set(timed) == {precision}, choice.line


def test_a_run_with_the_automatic_recipe_keeps_its_choice_when_continued(tmp_path):
    write_corpus(tmp_path / "data")
    # A given width (small, to keep the test short) is the only one timed; the rest is chosen. The text is
    # small (40 passes in seconds): the choice is held back, weight drop and the weight average with it.
    first = run_module("charrnn.train", "--data_dir", "data", "--recipe", "auto", "--max_minutes", 5, "--rnn_size", 16,
                       "--batch_size", 4, "--seq_length", 16, "--max_steps", 2, "--seed", 1, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    line = first.stdout.splitlines()[0]
    assert line.startswith("recipe auto for 5 minutes: --model gru --num_layers 2 --layer_norm --rnn_size 16 "
                           "--dropout 0.2 --weight_decay 0.1 --weight_drop 0.25 --ema_decay 0.999 "
                           "--learning_rate 0.004"), line
    assert line.endswith("; as given: rnn_size)"), line
    config = json.loads((tmp_path / "save" / "config.json").read_text())
    assert (config["model"]["model"], config["model"]["rnn_size"], config["model"]["layer_norm"],
            config["model"]["dropout"], config["train"]["weight_decay"], config["train"]["lr_schedule"],
            config["train"]["num_epochs"], config["train"]["recipe"], config["model"]["weight_drop"],
            config["train"]["ema_decay"]) == ("gru", 16, True, 0.2, 0.1, "cosine", 40, "auto", 0.25, 0.999)

    again = run_module("charrnn.train", "--init_from", "save", "--recipe", "auto", "--max_minutes", 5,
                       "--max_steps", 3, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "recipe auto" not in again.stdout and "training steps 2 to 3" in again.stdout
    continued = json.loads((tmp_path / "save" / "config.json").read_text())
    assert continued["model"] == config["model"] and continued["train"]["recipe"] == "auto"
    assert (continued["train"]["num_epochs"], continued["train"]["weight_decay"], continued["train"]["ema_decay"]) \
        == (40, 0.1, 0.999)
    # The hint to try bfloat16 answers the run's precision, not the --precision flag's default: where
    # the CPU has bfloat16 units the recipe chose it, and neither run is told to try it. (Elsewhere
    # the recipe chose float32 and the CPU has nothing to hint at, so this holds either way.)
    if config["train"]["precision"] == "bfloat16":
        assert "note: this CPU has bfloat16" not in first.stdout + again.stdout


def test_the_automatic_recipe_refuses_several_workers(tmp_path):
    write_corpus(tmp_path / "data")
    result = run_module("charrnn.train", "--data_dir", "data", "--recipe", "auto", "--max_minutes", 1,
                        "--strategy", "multi_worker", cwd=tmp_path,
                        env={"TF_CONFIG": json.dumps({"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]},
                                                      "task": {"type": "worker", "index": 0}})})
    assert_one_line_error(result, "--recipe auto", "--strategy multi_worker")
