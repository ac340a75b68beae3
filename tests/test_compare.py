"""optkern compare: optimizer names, the training runner, bit-identical backends, the report files
and the command line (including its one-line errors)."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import optkern
import pytest
from optkern import cli, compare
from optkern.compare import report, runner
from optkern.compare.progress import Progress

pytest.importorskip("sklearn")  # the digits data set

# The lecture's names (sgd, momentum, nesterov, adagrad, rmsprop, adam) mean the optkern.textbook
# classes (written out: the lecture's list); the others, every other name of the records, the
# torch-style classes.
LECTURE = "sgd,momentum,nesterov,adagrad,rmsprop,adam"
TORCH_STYLE = ",".join(n for n in compare.KNOWN_NAMES if n not in LECTURE.split(","))


@pytest.fixture(scope="module")
def digits() -> compare.Dataset:
    return compare.load_dataset("digits", None, "float32")


def train(
    data: compare.Dataset, names: str, iterations: int, experiment: str = "optimizers", **options
) -> list[compare.Outcome]:
    settings = compare.Settings.create(
        experiment, compare.parse_choices(names), iterations, **options
    )
    return compare.run(settings, data)


# --------------------------------------------------------------------------- optimizer names


def test_parse_names_and_lr_override() -> None:
    choices = compare.parse_choices(" Adam:lr=1e-2 , sgd,lion:lr=3e-5")
    assert [c.label for c in choices] == ["adam:lr=0.01", "sgd", "lion:lr=3e-05"]
    assert choices[0].lr == 0.01
    assert choices[1].lr is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("bogus", "unknown optimizer 'bogus'; known: sgd, momentum"),
        ("adam:lr=abc", "not a number"),
        ("adam:lr=0", "must be finite and > 0"),
        ("adam:lr=nan", "must be finite and > 0"),
        ("adam:beta1=0.5", "only lr=<number>"),
        ("adam:lr", "only lr=<number>"),
        ("adam,sgd,adam", "listed twice: adam"),
        (" , ", "no optimizer given"),
    ],
)
def test_bad_names(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        compare.parse_choices(text)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", TORCH_STYLE.split(","))
def test_torch_style_names_build_torch_classes(name: str) -> None:
    choice = compare.parse_choice(name)
    optimizer = choice.build("optkern")
    assert isinstance(optimizer, optkern.Optimizer)
    assert type(optimizer).__module__.startswith("optkern.")
    assert optimizer.backend == "fused"
    assert choice.build("reference").backend == "reference"
    assert compare.parse_choice(f"{name}:lr=0.5").build("optkern").defaults["lr"] == 0.5


@pytest.mark.parametrize("name", LECTURE.split(","))
def test_lecture_names_are_the_textbook_classes(name: str) -> None:
    choice = compare.parse_choice(name)
    optimizer = choice.build("optkern")
    assert type(optimizer).__module__ == "optkern.textbook"
    assert choice.build("reference").backend == "reference"
    assert choice.describe() == f"optkern.textbook.{type(optimizer).__name__}()"
    assert compare.parse_choice(f"{name}:lr=0.5").describe().endswith("(lr=0.5)")


# --------------------------------------------------------------------------- runner


@pytest.mark.parametrize("names", ["adam,momentum", "adamw,nag"])
def test_optimizers_learn_digits(digits: compare.Dataset, names: str) -> None:
    # "adam,momentum": the lecture's names (the textbook classes); "adamw,nag": their
    # torch-style relatives, which do not depend on optkern.textbook.
    outcomes = train(digits, names, 300)
    assert [o.variant.label for o in outcomes] == names.split(",")
    for outcome in outcomes:
        result = outcome.main
        assert result.test_accuracy[-1] >= 0.90, outcome.variant.label
        assert result.losses.shape == (300,)
        assert np.all(np.isfinite(result.losses))
        assert result.eval_iterations[0] == 0
        assert result.eval_iterations[-1] == 300
        assert 0 < result.update_s < result.time_s


def test_same_start_and_batches_for_every_optimizer(digits: compare.Dataset) -> None:
    # The first loss is computed before any update: the same weights and the same first batch
    # give the same value for every optimizer.
    outcomes = train(digits, "sgd,adam,lion", 5)
    first = {o.main.losses[0] for o in outcomes}
    assert len(first) == 1
    assert outcomes[0].main.train_accuracy[0] == outcomes[1].main.train_accuracy[0]


@pytest.mark.parametrize(
    ("experiment", "names"),
    [
        ("optimizers", f"{LECTURE},{TORCH_STYLE}"),
        ("batchnorm", "momentum"),  # batch-norm parameters and running statistics
        ("regularization", "adam"),  # weight decay and dropout masks
    ],
)
def test_reference_backend_gives_bit_identical_curves(
    digits: compare.Dataset, experiment: str, names: str
) -> None:
    fused = train(digits, names, 40, experiment, backend="optkern", eval_every=10)
    slow = train(digits, names, 40, experiment, backend="reference", eval_every=10)
    for a, b in zip(fused, slow, strict=True):
        assert a.main.backend == "optkern"
        assert b.main.backend == "reference"
        # float32 losses stored as float64 (exactly): equality is bit-identity; a diverged run
        # (batchnorm std=1 without batch norm) has NaN in both.
        assert np.array_equal(a.main.losses, b.main.losses, equal_nan=True), a.variant.label
        assert a.main.train_accuracy == b.main.train_accuracy
        assert a.main.test_accuracy == b.main.test_accuracy


def test_backend_both_checks_identity_and_reports_speedup(digits: compare.Dataset) -> None:
    (outcome,) = train(digits, "adam", 30, backend="both")
    assert list(outcome.runs) == ["optkern", "reference"]
    assert outcome.identical is True
    assert outcome.speedup is not None
    assert outcome.speedup > 0


def test_eval_iterations() -> None:
    assert runner.eval_iterations(10, 4) == [0, 4, 8, 10]
    assert runner.eval_iterations(8, 4) == [0, 4, 8]
    assert runner.eval_iterations(3, 100) == [0, 3]


def test_smooth_is_a_trailing_mean() -> None:
    losses = np.arange(1.0, 8.0)
    expected = [np.mean(losses[max(0, i - 2) : i + 1]) for i in range(len(losses))]
    np.testing.assert_allclose(report.smooth(losses, 3), expected)
    np.testing.assert_array_equal(report.smooth(losses, 1), losses)


def test_progress_redraws_on_a_terminal_and_prints_lines_elsewhere() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal, log = Terminal(), io.StringIO()
    for stream in (terminal, log):
        progress = Progress(1, stream)
        progress.start("adam")
        progress.update(10, 10)
        progress.finish("done")
    assert "\r[1/1] adam" in terminal.getvalue()
    assert "|" + "#" * 24 + "|" in terminal.getvalue()
    assert log.getvalue() == "[1/1] adam: done\n"


# --------------------------------------------------------------------------- command line


def test_cli_progress_in_a_log_is_one_line_per_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --quiet and off a terminal (pytest's capture), stderr gets one full line per
    finished run and no carriage returns."""
    argv = ["compare", "--out", str(tmp_path), "--no-plots", "--iters", "3"]
    assert cli.main([*argv, "--optimizers", "sgd,adam", "--backend", "both"]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err
    runs = ["[1/4] sgd [optkern]", "[2/4] sgd [reference]", "[3/4] adam [optkern]"]
    runs += ["[4/4] adam [reference]"]
    assert [line.split(":")[0] for line in err.splitlines()] == runs


def run_cli(
    args: list[str], out_dir: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    """``optkern compare --quiet --out out_dir *args``: (exit status, stdout, stderr)."""
    status = cli.main(["compare", "--quiet", "--out", str(out_dir), *args])
    out, err = capsys.readouterr()
    return status, out, err


def test_cli_writes_results_consistent_with_the_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run_cli(
        ["--optimizers", "sgd,adam:lr=0.002", "--iters", "60"], tmp_path, capsys
    )
    assert status == 0
    for name in ("results.csv", "results.json", "loss.png", "accuracy.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert (tmp_path / "loss.png").read_bytes().startswith(b"\x89PNG")

    document = json.loads((tmp_path / "results.json").read_text())
    config, results = document["config"], document["results"]
    assert config["experiment"] == "optimizers"
    assert config["iterations"] == 60
    assert config["dataset"] == "digits"
    assert config["optimizers"] == ["sgd", "adam:lr=0.002"]
    with (tmp_path / "results.csv").open(newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [r["variant"] for r in rows] == [r["variant"] for r in results] == config["optimizers"]

    lines = out.splitlines()
    for row, result in zip(rows, results, strict=True):
        assert len(result["curves"]["loss"]) == 60
        smoothed = result["curves"]["smoothed_loss"][-1]
        assert result["final_loss"] == pytest.approx(smoothed, rel=1e-12)
        # The table shows the same numbers, rounded.
        (line,) = [line for line in lines if line.split()[:1] == [result["variant"]]]
        cells = line.split()[1:]
        assert cells == [
            f"{result['final_loss']:.4f}",
            f"{result['train_accuracy']:.4f}",
            f"{result['test_accuracy']:.4f}",
            f"{result['time_s']:.2f}",
            f"{result['update_s']:.3f}",
        ]
        for key in ("final_loss", "train_accuracy", "test_accuracy", "time_s", "update_s"):
            assert float(row[key]) == result[key], key
        assert result["train_accuracy"] == result["curves"]["train_accuracy"][-1]
        assert row["backend"] == "optkern"


def test_cli_backend_both_adds_speedup_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run_cli(
        ["--backend", "both", "--optimizers", "momentum", "--iters", "20", "--no-plots"],
        tmp_path,
        capsys,
    )
    assert status == 0
    assert "speed-up" in out
    assert not (tmp_path / "loss.png").exists()
    (result,) = json.loads((tmp_path / "results.json").read_text())["results"]
    assert result["identical"] is True
    assert set(result["runs"]) == {"optkern", "reference"}
    assert result["speedup"] == pytest.approx(
        result["runs"]["reference"]["update_s"] / result["runs"]["optkern"]["update_s"]
    )


def test_cli_fails_when_backends_differ(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner.Outcome, "identical", property(lambda self: False))
    status, _, err = run_cli(
        ["--backend", "both", "--optimizers", "sgd", "--iters", "3", "--no-plots"],
        tmp_path,
        capsys,
    )
    assert status == 1
    assert "curves differ for sgd" in err


def test_cli_diverging_run_is_reported_not_raised(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # lr=1000 overflows within a few steps; with filterwarnings=error any unsilenced NumPy
    # warning would fail this test.
    status, out, _ = run_cli(
        ["--optimizers", "sgd:lr=1000", "--iters", "30", "--no-plots"], tmp_path, capsys
    )
    assert status == 0
    assert "nan" in out
    (result,) = json.loads((tmp_path / "results.json").read_text())["results"]
    assert result["final_loss"] is None
    assert None in result["curves"]["loss"]


@pytest.mark.parametrize(
    ("experiment", "variants"), [("init", 3), ("batchnorm", 8), ("regularization", 3)]
)
def test_cli_other_experiments(
    experiment: str, variants: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run_cli(
        ["--experiment", experiment, "--iters", "15", "--train-size", "200"],
        tmp_path,
        capsys,
    )
    assert status == 0
    for name in ("results.csv", "results.json", "loss.png", "accuracy.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    document = json.loads((tmp_path / "results.json").read_text())
    assert len(document["results"]) == variants
    assert document["config"]["train_samples"] == 200
    assert document["config"]["optimizers"] == ["sgd"]
    assert len(out.splitlines()) == 3 + variants + 1  # title, header, rule, rows, "wrote"


def test_cli_several_optimizers_cross_the_settings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, _ = run_cli(
        ["--experiment", "init", "--optimizers", "sgd,adam", "--iters", "5", "--no-plots"],
        tmp_path,
        capsys,
    )
    assert status == 0
    results = json.loads((tmp_path / "results.json").read_text())["results"]
    labels = [r["variant"] for r in results]
    assert labels == [f"{o} {i}" for i in ("std=0.01", "xavier", "he") for o in ("sgd", "adam")]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--optimizers", "bogus"], "unknown optimizer 'bogus'"),
        (["--optimizers", "adam:lr=-1"], "must be finite and > 0"),
        (["--experiment", "bogus"], "invalid choice: 'bogus'"),
        (["--dataset", "mnist"], "needs --data-dir"),
        (["--dataset", "mnist", "--data-dir", "{tmp}/missing"], "does not exist"),
        (["--dataset", "mnist", "--data-dir", "{tmp}"], "is missing train-images-idx3-ubyte"),
        (["--data-dir", "{tmp}"], "only used with --dataset mnist"),
        (["--iters", "0"], "--iters: must be > 0"),
        (["--iters", "-3"], "--iters: must be > 0"),
        (["--iters", "1.5"], "--iters: not an integer"),
        (["--batch-size", "0"], "--batch-size: must be > 0"),
        (["--batch-size", "100000"], "exceeds the 1347 training samples"),
        (["--train-size", "99999"], "exceeds the 1347 training samples"),
        (["--dtype", "float8"], "invalid choice: 'float8'"),
        (["--experiment", "precision", "--dtype", "float64"], "sets the dtype per variant"),
        (["--backend", "cuda"], "invalid choice: 'cuda'"),
        (["--seed", "-1"], "--seed: must be >= 0"),
        (["--bogus-flag"], "unrecognized arguments: --bogus-flag"),
        (["--distributed", "ring"], "invalid choice: 'ring'"),
        (["--distributed", "dp", "--backend", "both"], "--backend both is not supported"),
        (["--distributed", "zero", "--accumulate", "2"], "--accumulate is not supported"),
        (
            ["--distributed", "zero", "--experiment", "precision"],
            "'bf16 stochastic' rounds stochastically, which ZeroOptimizer does not support",
        ),
    ],
)
def test_cli_bad_arguments_exit_2_with_one_line(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in args]
    with pytest.raises(SystemExit) as info:
        cli.main(["compare", "--quiet", "--out", str(tmp_path / "out"), *args])
    assert info.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.splitlines()) == 1, err
    assert "error: " in err
    assert message in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()  # nothing ran


def test_python_m_optkern_compare_bad_optimizer_has_no_traceback(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "optkern", "compare", "--optimizers", "bogus"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 2
    assert "Traceback" not in completed.stderr
    assert completed.stderr.startswith("optkern compare: error: argument --optimizers: unknown")
    assert completed.stdout == ""


def test_cli_help_lists_compare(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0
    assert "compare" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["compare", "--help"])
    help_text = capsys.readouterr().out
    for name in (*compare.KNOWN_NAMES, *compare.EXPERIMENTS):
        assert name in help_text


# --------------------------------------------------------------------------- 16-bit storage


def capture_networks(monkeypatch: pytest.MonkeyPatch) -> list[optkern.nn.MultiLayerNet]:
    """Records every network the runner builds, to look at its parameters after training."""
    built: list[optkern.nn.MultiLayerNet] = []
    original = compare.NetworkSpec.build

    def build(self: compare.NetworkSpec, *args: object, **kwargs: object) -> object:
        net = original(self, *args, **kwargs)  # type: ignore[arg-type]
        built.append(net)
        return net

    monkeypatch.setattr(compare.NetworkSpec, "build", build)
    return built


def test_dtype_float16_trains_float16_parameters(
    digits: compare.Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = capture_networks(monkeypatch)
    (outcome,) = train(digits, "momentum", 100, dtype="float16")
    (net,) = built
    initial = compare.NetworkSpec((100,) * 4).build(64, 10, "float32", 0, param_dtype="float16")
    for key, value in net.params.items():
        assert value.dtype == np.float16, key
        assert not np.array_equal(value, initial.params[key]), key  # updated in place
    assert outcome.main.test_accuracy[-1] >= 0.9
    assert np.all(np.isfinite(outcome.main.losses))


def precision_outcomes(
    data: compare.Dataset, iterations: int, **options: object
) -> dict[str, compare.Outcome]:
    outcomes = train(data, "sgd", iterations, experiment="precision", **options)
    return {outcome.variant.label: outcome for outcome in outcomes}


def test_precision_variants_store_what_they_say(
    digits: compare.Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("ml_dtypes")
    built = capture_networks(monkeypatch)
    outcomes = precision_outcomes(digits, 40)
    assert list(outcomes) == [
        "float32",
        "bf16 master weights",
        "bf16 stochastic",
        "bf16 nearest",
        "fp16 nearest",
    ]
    dtypes = [str(net.params["W1"].dtype) for net in built]
    assert dtypes == ["float32", "bfloat16", "bfloat16", "bfloat16", "float16"]
    losses = {label: outcome.main.losses for label, outcome in outcomes.items()}
    bf16 = ["bf16 master weights", "bf16 stochastic", "bf16 nearest"]
    # The same rounded initial weights and first batch: the same first loss ...
    assert len({losses[label][0] for label in bf16}) == 1
    # ... and then the storage options make a difference (they are not ignored).
    for a, b in [(bf16[0], bf16[2]), (bf16[1], bf16[2]), (bf16[0], bf16[1])]:
        assert not np.array_equal(losses[a], losses[b]), (a, b)
    assert outcomes["bf16 master weights"].variant.describe() == (
        "optkern.textbook.SGD(master_weights=True)"
    )
    assert outcomes["bf16 stochastic"].variant.describe() == (
        "optkern.textbook.SGD(rounding='stochastic', seed=0)"
    )


def test_precision_experiment_rejects_another_dtype() -> None:
    with pytest.raises(ValueError, match="sets the dtype per variant"):
        compare.Settings.create("precision", dtype="float64")


def test_precision_experiment_backends_agree(digits: compare.Dataset) -> None:
    pytest.importorskip("ml_dtypes")
    outcomes = precision_outcomes(digits, 5, backend="both")
    assert all(outcome.identical for outcome in outcomes.values())


def test_cli_precision_experiment(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("ml_dtypes")
    status, out, _ = run_cli(
        ["--experiment", "precision", "--iters", "20", "--train-size", "200"], tmp_path, capsys
    )
    assert status == 0
    assert "dtype per variant" in out.splitlines()[0]
    assert (tmp_path / "loss.png").read_bytes().startswith(b"\x89PNG")
    results = json.loads((tmp_path / "results.json").read_text())["results"]
    assert [r["storage"]["dtype"] for r in results] == [
        "float32",
        "bfloat16",
        "bfloat16",
        "bfloat16",
        "float16",
    ]
    assert [r["storage"]["master_weights"] for r in results] == [False, True, False, False, False]
    assert [r["storage"]["stochastic"] for r in results] == [False, False, True, False, False]
    assert len(out.splitlines()) == 3 + 5 + 1  # title, header, rule, rows, "wrote"


def test_cli_bfloat16_without_ml_dtypes_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ml_dtypes", None)  # makes `import ml_dtypes` fail
    for args, source in [
        (["--dtype", "bfloat16"], "--dtype bfloat16"),
        (["--experiment", "precision"], "--experiment precision"),
    ]:
        with pytest.raises(SystemExit) as info:
            cli.main(["compare", "--quiet", "--out", str(tmp_path / "out"), *args])
        assert info.value.code == 2
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1, err
        assert f"error: {source}: bfloat16 needs the ml_dtypes package" in err
        assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- training options


def with_training(data: compare.Dataset, names: str, iterations: int, **options: object):
    """``train`` with ``compare.Training(**options)`` (the schedule given as its spec)."""
    if "schedule" in options:
        options["schedule"] = compare.parse_schedule(str(options["schedule"]))
    extra = {k: options.pop(k) for k in ("backend", "dtype", "batch_size") if k in options}
    return train(data, names, iterations, training=compare.Training(**options), **extra)


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("constant", "constant"),
        (" Cosine ", "cosine"),
        ("onecycle", "onecycle"),
        ("step", "step"),
        ("step:30", "step:30:0.1"),
        ("step:30:0.5", "step:30:0.5"),
        ("warmup-cosine:100", "warmup-cosine:100"),
    ],
)
def test_parse_schedule(text: str, label: str) -> None:
    schedule = compare.parse_schedule(text)
    assert schedule.label == label
    assert compare.parse_schedule(label) == schedule


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("linear", "unknown schedule 'linear'; known: constant, step[:STEP_SIZE[:GAMMA]]"),
        ("cosine:10", "takes no arguments"),
        ("step:0", "bad step size in 'step:0': must be >= 1"),
        ("step:x", "not an integer"),
        ("step:10:-1", "must be finite and > 0"),
        ("step:10:0.1:3", "write step[:STEP_SIZE[:GAMMA]]"),
        ("warmup-cosine", "write warmup-cosine:WARMUP"),
        ("warmup-cosine:0", "must be >= 1"),
    ],
)
def test_bad_schedules(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        compare.parse_schedule(text)


def test_schedules_set_the_lr_of_every_step(digits: compare.Dataset) -> None:
    # 12 steps of the lecture's SGD (lr 0.01); lrs[i] is the lr of step i + 1. No warning may
    # come from the schedulers (filterwarnings=error).
    lrs = {}
    losses = {}
    for spec in ("constant", "step:4:0.5", "step", "cosine", "onecycle", "warmup-cosine:4"):
        (outcome,) = with_training(digits, "sgd", 12, schedule=spec)
        lrs[spec] = outcome.main.lrs
        losses[spec] = outcome.main.losses
    np.testing.assert_array_equal(lrs["constant"], np.full(12, 0.01))
    np.testing.assert_allclose(lrs["step:4:0.5"], np.repeat([0.01, 0.005, 0.0025], 4))
    np.testing.assert_allclose(lrs["step"], np.repeat([0.01, 0.001, 0.0001], 4))  # thirds
    assert lrs["cosine"][0] == 0.01
    assert np.all(np.diff(lrs["cosine"]) < 0)
    assert lrs["onecycle"][0] == pytest.approx(0.01 / 25)
    # up over 30 % of the steps (the peak at step 0.3 * 11 falls between two), then down
    assert 0.0099 < lrs["onecycle"].max() <= 0.01
    assert np.argmax(lrs["onecycle"]) in (3, 4)
    assert lrs["onecycle"][-1] < 0.01 / 25
    np.testing.assert_allclose(lrs["warmup-cosine:4"][:5], [0, 0.0025, 0.005, 0.0075, 0.01])
    assert np.all(np.diff(lrs["warmup-cosine:4"][4:]) < 0)
    for spec, curve in losses.items():
        assert curve[0] == losses["constant"][0]  # the first step's loss is before any update
        if spec != "constant":
            assert not np.array_equal(curve, losses["constant"]), spec


def test_clip_changes_training_only_when_it_clips(digits: compare.Dataset) -> None:
    (plain,) = with_training(digits, "momentum", 15)
    (tiny,) = with_training(digits, "momentum", 15, clip=1e-3)
    (huge,) = with_training(digits, "momentum", 15, clip=1e9)
    assert plain.main.grad_norms is None
    assert tiny.main.grad_norms is not None
    assert np.all(tiny.main.grad_norms > 1e-3)
    assert not np.array_equal(tiny.main.losses, plain.main.losses)
    # A clip coefficient that rounds to 1 multiplies nothing: the very same training.
    np.testing.assert_array_equal(huge.main.losses, plain.main.losses)
    # The first step's norm is that of the first gradients, the same with any threshold.
    assert tiny.main.grad_norms[0] == huge.main.grad_norms[0]
    rows = compare.report.summary_rows([tiny], "optimizers", compare.Training(clip=1e-3))
    assert rows[0]["clipped_fraction"] == 1.0
    assert rows[0]["grad_norm_last"] == tiny.main.grad_norms[-1]


def test_ema_changes_the_evaluation_not_the_training(digits: compare.Dataset) -> None:
    (plain,) = with_training(digits, "momentum", 20)
    (averaged,) = with_training(digits, "momentum", 20, ema=0.9)
    np.testing.assert_array_equal(averaged.main.losses, plain.main.losses)
    # Before the first step the average is a copy of the weights.
    assert averaged.main.test_accuracy[0] == plain.main.test_accuracy[0]
    assert averaged.main.test_accuracy[1:] != plain.main.test_accuracy[1:]


def test_accumulate_two_micro_batches_is_one_step_on_the_doubled_batch() -> None:
    # 200 samples: 10 batches of 20 or 5 of 40 per epoch, so two consecutive micro-batches of 20
    # are exactly one batch of 40 (random_batches takes consecutive slices of a permutation). In
    # float64 the mean of their gradients equals the big batch's to rounding.
    data = compare.load_dataset("digits", None, "float64", 200)
    (micro,) = with_training(data, "adam", 12, dtype="float64", batch_size=20, accumulate=2)
    (big,) = with_training(data, "adam", 12, dtype="float64", batch_size=40)
    np.testing.assert_allclose(micro.main.losses, big.main.losses, rtol=1e-9)
    assert micro.main.test_accuracy == big.main.test_accuracy
    assert micro.main.optimizer_steps == big.main.optimizer_steps == 12


def test_training_options_keep_the_backends_bit_identical(digits: compare.Dataset) -> None:
    options = {"schedule": "onecycle", "clip": 0.5, "ema": 0.9, "accumulate": 2}
    outcomes = with_training(digits, "momentum,adam", 12, backend="both", **options)
    for outcome in outcomes:
        assert outcome.identical is True, outcome.variant.label
        assert outcome.main.optimizer_steps == 12


def test_schedules_experiment_rejects_another_schedule() -> None:
    with pytest.raises(ValueError, match="sets the schedule per variant"):
        compare.Settings.create(
            "schedules", training=compare.Training(compare.parse_schedule("cosine"))
        )


def test_cli_schedules_experiment(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run_cli(
        ["--experiment", "schedules", "--iters", "12", "--train-size", "200", "--clip", "5"],
        tmp_path,
        capsys,
    )
    assert status == 0
    title = out.splitlines()[0]
    assert "schedule per variant, clip 5" in title
    assert (tmp_path / "lr.png").read_bytes().startswith(b"\x89PNG")
    document = json.loads((tmp_path / "results.json").read_text())
    results = document["results"]
    assert [r["variant"] for r in results] == ["constant", "step", "cosine", "one-cycle"]
    assert [r["schedule"] for r in results] == ["constant", "step", "cosine", "onecycle"]
    assert document["config"]["optimizers"] == ["sgd:lr=0.1"]
    assert document["config"]["clip"] == 5.0
    assert results[0]["curves"]["lr"] == [0.1] * 12
    assert len(results[0]["curves"]["grad_norm"]) == 12
    assert "clipped" in out.splitlines()[1]
    assert len(out.splitlines()) == 3 + 4 + 1  # title, header, rule, rows, "wrote"


def test_cli_training_options_in_the_title_and_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--optimizers", "sgd", "--iters", "6", "--no-plots", "--schedule", "warmup-cosine:2"]
    args += ["--ema", "0.9", "--accumulate", "3"]
    status, out, _ = run_cli(args, tmp_path, capsys)
    assert status == 0
    assert out.splitlines()[0].endswith(
        "schedule warmup-cosine:2, EMA 0.9 (accuracy of the averaged weights), 3 micro-batches "
        "per step)"
    )
    config = json.loads((tmp_path / "results.json").read_text())["config"]
    assert (config["schedule"], config["clip"], config["ema"]) == ("warmup-cosine:2", None, 0.9)
    assert config["accumulate"] == 3
    (result,) = json.loads((tmp_path / "results.json").read_text())["results"]
    assert result["optimizer_steps"] == 6
    assert len(result["curves"]["loss"]) == 6


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--schedule", "linear"], "argument --schedule: unknown schedule 'linear'"),
        (["--schedule", "step:0"], "must be >= 1"),
        (["--schedule", "warmup-cosine:50", "--iters", "50"], "must be shorter than the run"),
        (["--experiment", "schedules", "--schedule", "constant"], "sets the schedule per variant"),
        (["--clip", "0"], "argument --clip: must be finite and > 0"),
        (["--clip", "inf"], "must be finite and > 0"),
        (["--ema", "1"], "argument --ema: the decay must be in (0, 1)"),
        (["--ema", "x"], "not a number"),
        (["--accumulate", "0"], "argument --accumulate: must be > 0"),
    ],
)
def test_cli_bad_training_options_exit_2_with_one_line(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["compare", "--quiet", "--out", str(tmp_path / "out"), *args])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, err
    assert message in err
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------- the one-process twin of --distributed


def test_shared_batches_is_the_whole_batch_run_for_one_share_only(
    digits: compare.Dataset,
) -> None:
    """The computation that ``--distributed`` is checked against (the rank-order mean of the
    shares' gradients, each share on its own copy of the network) is the plain run for one
    share, and for two shares is not: the check would notice a distributed run that silently
    stepped on whole-batch gradients (tests/test_distributed.py runs the MPI side)."""
    from optkern.compare import parallel

    def runs(experiment: str, ranks: int) -> tuple[runner.RunResult, runner.RunResult]:
        settings = compare.Settings.create(
            experiment, compare.parse_choices("adam"), 15, batch_size=64
        )
        variant = settings.variants()[0]

        def plan(v: Any, s: Any, b: str, net: Any) -> parallel.SharedBatches:
            return parallel.SharedBatches(v, s, b, net, ranks=ranks, data=digits)

        shared = runner.train(variant, digits, settings, "optkern", plan=plan)
        return shared, runner.train(variant, digits, settings, "optkern")

    assert runner._same_curves(*runs("batchnorm", 1))
    shared, whole = runs("optimizers", 2)
    assert not np.array_equal(shared.losses, whole.losses)
    # the same training up to rounding (a mean of two share means is not the batch mean's bits)
    assert np.allclose(shared.losses, whole.losses, rtol=1e-4)
    shared, whole = runs("batchnorm", 2)  # here each share normalises with its own statistics
    assert not np.allclose(shared.losses, whole.losses, rtol=1e-2)


def test_rank_order_mean_sums_left_to_right() -> None:
    from optkern.compare.parallel import rank_order_mean, shares

    values = [np.float32(1e8), np.float32(1.0), np.float32(-1e8)]
    # (1e8 + 1) rounds to 1e8 in float32, so left to right gives 0, not 1/3
    assert rank_order_mean([np.array(v) for v in values]) == np.float32(0.0)
    assert shares(96, 3) == [(0, 32), (32, 64), (64, 96)]
