"""``optkern compare``: the arguments of the subcommand and what running it does.

``optkern.cli`` owns the top-level parser; it calls :func:`add_arguments` on the ``compare``
sub-parser and :func:`run` with the parsed arguments. Every mistake in the arguments (including
data that cannot be loaded) is reported through ``parser.error``: one line, exit status 2.
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
from pathlib import Path
from typing import Any

import numpy as np

from .. import _core, _runtime
from . import dataset, parallel, plots, report, runner
from .experiments import EXPERIMENTS, Experiment
from .progress import Progress
from .registry import KNOWN_NAMES, OptimizerChoice, parse_choices
from .storage import DTYPES, check_available
from .threads import limit_blas_threads
from .training import Schedule, Training, parse_schedule

DESCRIPTION = """\
Train the same network with several optimizers (or init schemes, batch norm, regularisation:
the lecture's experiments; or parameter storage, or learning-rate schedules) from the same
initial weights on the same mini-batches, then print a table (final smoothed loss, train/test
accuracy, total time, time in optimizer updates) and write results.csv, results.json (with full
curves and the config), loss.png and accuracy.png (and lr.png when a schedule is used). "time s"
is the training loop without the accuracy evaluations; "update s" is the part of it spent inside
the optimizer's step (opt.step(grads), what the textbook's opt.update(params, grads) calls). The
final loss is the mean of the last (up to) 50 mini-batch losses. --dtype float16 or bfloat16
stores the parameters in 16 bits (the optimizer updates them in place, rounding to nearest);
data, forward and backward passes stay float32. --experiment precision sets the storage per variant (float32, bfloat16
with float32 master weights, bfloat16 with stochastic rounding, bfloat16 nearest, float16
nearest).

--schedule, --clip, --ema and --accumulate apply to every variant alike. --schedule is one of
constant, step[:STEP_SIZE[:GAMMA]] (StepLR; default: the lr / 10 every third of the run),
cosine (CosineAnnealingLR over the run), onecycle (OneCycleLR with max_lr = the optimizer's lr,
momentum or beta1 cycled where there is one) or warmup-cosine:WARMUP (linear warm-up from 0 over
WARMUP steps, then cosine decay to 0; LambdaLR of warmup_cosine_decay_schedule); the scheduler
steps after every optimizer step. --clip C clips by the global gradient norm inside the step
(max_grad_norm=C; results.json gets the pre-clip norms). --ema D keeps optkern.EMA averages of
the weights (decay D, updated inside the step) and evaluates the accuracies with them (the loss
curve stays that of the trained weights). --accumulate K makes each iteration one optimizer step
on the mean gradient of K micro-batches of --batch-size samples (optkern.MultiSteps): the
iterations, the schedule and the curves count optimizer steps. --experiment schedules sets the
schedule per variant (constant, step, cosine, one-cycle).

--distributed dp|zero, launched as mpiexec -n N python -m mpi4py -m optkern compare ..., trains
every variant data-parallel: each rank computes the gradients of its B/N rows of every batch of
B (B a multiple of N) and DataParallel (dp) or ZeroOptimizer (zero) steps on their mean over the
ranks, summed in rank order. Rank 0 then trains the variant in one process on the rank-order mean
of the same N shares' gradients (the computation optkern.distributed promises to equal) and
checks that the curves are bit-identical (exit status 1 if not). That is not the whole-batch run
of optkern compare without --distributed: a mean of N share means rounds differently. Not with
--backend both or --accumulate.
"""


def _epilog() -> str:
    """Optimizer names and the experiments' defaults, generated so they cannot go stale."""
    lines = [
        f"optimizers: {', '.join(KNOWN_NAMES)}",
        "  sgd, momentum, nesterov, adagrad, rmsprop, adam: the lecture's textbook optimizers",
        "  (optkern.textbook) with the textbook defaults (lr 0.01; Adam lr 0.001); the others:",
        "  the torch-style optkern classes with torch.optim's defaults (nag: lr 0.01, momentum",
        "  0.9). NAME:lr=X sets the learning rate.",
        "experiments (default optimizers; iterations; training samples):",
    ]
    for name, spec in EXPERIMENTS.items():
        samples = "all" if spec.default_train_size is None else spec.default_train_size
        lines.append(f"  {name:<15} {spec.summary}")
        lines.append(
            f"  {'':<15} ({','.join(spec.default_optimizers)}; {spec.default_iterations}; {samples})"
        )
    lines += [
        "--backend both runs every network on both backends, checks that the curves are",
        "bit-identical (exit status 1 if not) and shows the speed-up of optkern's updates.",
    ]
    return "\n".join(lines)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _optimizer_list(text: str) -> tuple[OptimizerChoice, ...]:
    try:
        return parse_choices(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _schedule(text: str) -> Schedule:
    try:
        return parse_schedule(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be finite and > 0, got {text}")
    return value


def _decay(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"the decay must be in (0, 1), got {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = DESCRIPTION
    parser.epilog = _epilog()
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    add = parser.add_argument
    add(
        "--experiment", choices=list(EXPERIMENTS), default="optimizers", help="default: %(default)s"
    )
    add("--dataset", choices=dataset.DATASETS, default="digits", help="default: %(default)s")
    add("--data-dir", metavar="DIR", help="the directory of the MNIST IDX files (for mnist)")
    add(
        "--optimizers",
        type=_optimizer_list,
        metavar="LIST",
        help="comma-separated names, NAME or NAME:lr=X (default: the experiment's)",
    )
    add("--iters", type=_positive_int, metavar="N", help="iterations (default: the experiment's)")
    add("--batch-size", type=_positive_int, default=128, metavar="N", help="default: 128")
    add(
        "--train-size",
        type=_positive_int,
        metavar="N",
        help="train on the first N training samples (default: the experiment's)",
    )
    add(
        "--eval-every",
        type=_positive_int,
        metavar="K",
        help=f"accuracy every K iterations (default: iterations / {runner.EVAL_POINTS})",
    )
    add(
        "--dtype",
        choices=list(DTYPES),
        default="float32",
        help="the parameters' dtype; 16-bit ones compute in float32 (bfloat16 needs ml_dtypes; "
        "default: float32)",
    )
    add(
        "--schedule",
        type=_schedule,
        metavar="SPEC",
        help="the learning-rate schedule of every variant: constant (default), "
        "step[:STEP_SIZE[:GAMMA]], cosine, onecycle or warmup-cosine:WARMUP",
    )
    add(
        "--clip",
        type=_positive_float,
        metavar="C",
        help="clip the gradients to global L2 norm C inside the step (default: no clipping)",
    )
    add(
        "--ema",
        type=_decay,
        metavar="DECAY",
        help="keep an EMA of the weights and evaluate the accuracies with it (e.g. 0.99)",
    )
    add(
        "--accumulate",
        type=_positive_int,
        default=1,
        metavar="K",
        help="one optimizer step per K micro-batches of --batch-size (default: 1)",
    )
    add(
        "--backend",
        choices=list(runner.BACKEND_MODES),
        default="optkern",
        help="the optimizers' fused kernels, their pure-NumPy reference, or both (default: "
        "optkern)",
    )
    add(
        "--distributed",
        choices=list(parallel.MODES),
        help="train data-parallel over the MPI ranks of the launch (mpiexec -n N python -m mpi4py "
        "-m optkern compare ...): dp = DataParallel, zero = ZeroOptimizer; each rank trains on "
        "its 1/N of every batch, and rank 0 checks the curves against one process bit for bit "
        "(needs the mpi extra)",
    )
    add("--seed", type=_non_negative_int, default=0, metavar="N", help="weights and batches")
    add(
        "--blas-threads",
        type=_non_negative_int,
        default=1,
        metavar="N",
        help="limit NumPy's BLAS to N threads during the run, 0 = no limit (default: 1; needs "
        "threadpoolctl)",
    )
    add(
        "--out",
        type=Path,
        default=Path("optkern-compare"),
        metavar="DIR",
        help="default: ./%(default)s",
    )
    add("--no-plots", action="store_true", help="skip loss.png and accuracy.png")
    add("--quiet", action="store_true", help="no progress output on stderr")


def _config(
    args: argparse.Namespace, settings: runner.Settings, data: dataset.Dataset, blas: str
) -> dict[str, Any]:
    """The "config" of results.json: enough to rerun and to judge the timings."""
    return {
        **settings.as_dict(),
        "dataset": data.name,
        "data_dir": args.data_dir,
        "train_samples": len(data.x_train),
        "test_samples": len(data.x_test),
        "network_input": data.input_size,
        "network_output": data.num_classes,
        "implementations": {c.label: c.describe() for c in settings.optimizers},
        "blas_threads": blas,
        "optkern_threads": _runtime.get_num_threads(),
        "optkern_isa": _runtime.active_isa(),
        "versions": {
            "optkern": _core.version,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
    }


def _dtype_source(args: argparse.Namespace, experiment: Experiment) -> str:
    """The option that asked for a dtype, for error messages."""
    return f"--experiment {experiment.name}" if experiment.sets_dtype else f"--dtype {args.dtype}"


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Runs ``optkern compare`` with parsed ``args``; returns the exit status."""
    experiment = EXPERIMENTS[args.experiment]
    if experiment.sets_dtype and args.dtype != "float32":
        parser.error(
            f"--dtype {args.dtype}: --experiment {experiment.name} sets the dtype per variant "
            "(leave --dtype at float32)"
        )
    if experiment.sets_schedule and args.schedule is not None:
        parser.error(
            f"--schedule {args.schedule.label}: --experiment {experiment.name} sets the schedule "
            "per variant (leave --schedule out)"
        )
    training = Training(
        schedule=args.schedule or Schedule(),
        clip=args.clip,
        ema=args.ema,
        accumulate=args.accumulate,
    )
    try:
        settings = runner.Settings.create(
            args.experiment,
            optimizers=args.optimizers,
            iterations=args.iters,
            batch_size=args.batch_size,
            dtype=args.dtype,
            backend=args.backend,
            seed=args.seed,
            training=training,
            **({} if args.eval_every is None else {"eval_every": args.eval_every}),
        )
    except ValueError as error:  # a schedule that does not fit the run (warm-up too long)
        parser.error(f"--schedule: {error}")
    for variant in settings.variants():
        try:
            check_available(variant.storage.param_dtype(settings.dtype))
        except ValueError as error:
            parser.error(f"{_dtype_source(args, experiment)}: {error}")
    comm = None if args.distributed is None else _communicator(args, settings, parser)
    root = comm is None or comm.Get_rank() == 0
    if args.data_dir is not None and args.dataset != "mnist":
        parser.error("--data-dir is only used with --dataset mnist")
    if not args.no_plots and not plots.matplotlib_available():
        parser.error(plots.MATPLOTLIB_HINT)
    train_size = args.train_size or experiment.default_train_size
    try:
        data = dataset.load(args.dataset, args.data_dir, args.dtype, train_size)
    except (ValueError, FileNotFoundError, ImportError) as error:
        parser.error(str(error))
    if settings.batch_size > len(data.x_train):
        parser.error(
            f"--batch-size {settings.batch_size} exceeds the {len(data.x_train)} training samples"
        )
    out: Path = args.out
    problem = None
    if root:  # with --distributed rank 0 alone writes
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            problem = f"cannot create --out {str(out)!r}: {error.strerror or error}"
    if comm is not None:  # one verdict, so that no rank goes on into a collective alone
        problem = comm.bcast(problem, root=0)
    if problem is not None:
        parser.error(problem)

    dtype = "dtype per variant" if experiment.sets_dtype else settings.dtype
    options = training.describe()
    if experiment.sets_schedule:
        options = ", ".join(filter(None, ["schedule per variant", options]))
    if comm is not None:
        ranks = comm.Get_size()
        options = ", ".join(
            filter(
                None,
                [
                    f"{args.distributed} over {ranks} ranks of {settings.batch_size // ranks}",
                    options,
                ],
            )
        )
    title = (
        f"{experiment.title} on {data.name} ({len(data.x_train)} training samples, "
        f"{settings.iterations} iterations, batch {settings.batch_size}, {dtype}, "
        f"backend {settings.backend}{', ' if options else ''}{options})"
    )
    variants = settings.variants()
    runs = len(variants) * (2 if comm is not None else len(runner.BACKEND_MODES[settings.backend]))
    progress = Progress(runs, enabled=root and not args.quiet)
    try:
        with limit_blas_threads(args.blas_threads) as blas:
            if comm is None:
                outcomes = runner.run(settings, data, progress)
            else:
                outcomes = parallel.run(settings, data, args.distributed, comm, progress)
    except KeyboardInterrupt:
        print("\noptkern compare: interrupted", file=sys.stderr)
        return 130
    if not root:
        return 0

    rows = report.summary_rows(outcomes, experiment.name, training)
    print(report.format_table(rows, title))
    report.write_csv(out / "results.csv", rows)
    config = _config(args, settings, data, blas)
    if comm is not None:
        config["distributed"] = parallel.describe(args.distributed, comm.Get_size(), settings)
    document = report.results_document(outcomes, rows, config)
    report.write_json(out / "results.json", document)
    written = ["results.csv", "results.json"]
    if not args.no_plots:
        plots.plot_loss(out / "loss.png", outcomes, f"{experiment.title} ({data.name})")
        plots.plot_accuracy(out / "accuracy.png", outcomes, f"{experiment.title} ({data.name})")
        written += ["loss.png", "accuracy.png"]
        if any(settings.schedule_of(v).kind != "constant" for v in variants):
            plots.plot_lr(out / "lr.png", outcomes, f"{experiment.title} ({data.name})")
            written.append("lr.png")
    print(f"wrote {', '.join(written)} to {out}")

    differing = [outcome.variant.label for outcome in outcomes if outcome.identical is False]
    if comm is not None:
        print(parallel.verdict(args.distributed, comm.Get_size(), outcomes))
    if differing:
        what = "distributed and one-process" if comm is not None else "optkern and reference"
        print(
            f"optkern compare: error: {what} curves differ for " + ", ".join(differing),
            file=sys.stderr,
        )
        return 1
    return 0


def _communicator(
    args: argparse.Namespace, settings: runner.Settings, parser: argparse.ArgumentParser
) -> Any:
    """MPI's COMM_WORLD for --distributed, once the settings are known to fit it (the same
    checks on every rank, so every rank stops alike)."""
    option = f"--distributed {args.distributed}"
    try:  # before mpi4py is imported, so that these errors need no MPI
        parallel.check(settings, args.distributed, 1)
    except ValueError as error:
        parser.error(str(error))
    try:
        from ..distributed import _mpi

        comm = _mpi.mpi().COMM_WORLD
    except ImportError as error:
        parser.error(f"{option}: {error}")
    try:
        parallel.check(settings, args.distributed, comm.Get_size())
    except ValueError as error:
        parser.error(str(error))
    return comm
