"""scripts/plot_val_loss.py on tiny log folders written the way the trainer writes them."""

import pytest

from charrnn.training.summaries import Summaries

from conftest import load_script


@pytest.fixture(scope="module")
def script():
    return load_script("plot_val_loss")


def write_run(folder, points, with_minutes=True):
    """`points` [(step, minutes, val_loss)] as the trainer logs them at each validation."""
    summaries = Summaries(str(folder))
    for step, minutes, loss in points:
        values = {"val/loss": loss, "train/loss": loss + 0.1}
        if with_minutes:
            values["minutes"] = minutes
        summaries.scalars(step, values)
    summaries.close()


def test_plots_two_runs_to_a_png(tmp_path, script, capsys):
    write_run(tmp_path / "a", [(100, 0.5, 2.1), (200, 1.0, 1.9), (300, 1.5, 1.8)])
    write_run(tmp_path / "b", [(50, 0.7, 2.0), (100, 1.4, 1.7)])
    assert script.main(["--out", str(tmp_path / "plot.png"), f"defaults={tmp_path / 'a'}",
                        f"recipe={tmp_path / 'b'}"]) == 0
    assert capsys.readouterr().err == ""
    png = (tmp_path / "plot.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000


def test_reads_each_validation_with_its_minutes(tmp_path, script):
    write_run(tmp_path / "a", [(200, 1.0, 1.9), (100, 0.5, 2.1)])
    minutes, loss = script.read_curve(str(tmp_path / "a"))
    assert minutes.tolist() == [0.5, 1.0] and loss.tolist() == pytest.approx([2.1, 1.9])


@pytest.mark.parametrize("case", ["no minutes", "no folder", "no label"])
def test_bad_input_is_one_line(tmp_path, script, capsys, case):
    write_run(tmp_path / "old", [(100, 0.5, 2.1)], with_minutes=False)
    run = {"no minutes": f"old={tmp_path / 'old'}", "no folder": f"x={tmp_path / 'missing'}",
           "no label": str(tmp_path / "old")}[case]
    assert script.main(["--out", str(tmp_path / "plot.png"), run]) != 0
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert not (tmp_path / "plot.png").exists()
