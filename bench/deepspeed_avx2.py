"""optkern's AVX2 kernels against DeepSpeed's CPU Adam built for AVX2, in 16-bit storage: issue
15's "bf16 >= 3x DeepSpeed on AVX2" target, on any AVX2 or AVX-512 machine.

DeepSpeed picks its SIMD width when its op is built (``-march=native`` and ``-D__AVX512__`` or
``-D__AVX256__`` from the build machine's flags), and its bfloat16 path needs AVX-512 (on AVX2 it
runs scalar code). So this script JIT-builds a second copy of its ``cpu_adam`` op with
``-march=x86-64-v3 -D__AVX256__`` (what an AVX2 machine builds; about a minute, once, under
``~/.cache/torch_extensions``), gives it to a DeepSpeedCPUAdam, and times it against optkern
running its AVX2 kernels (start the script with ``OPTKERN_ISA=avx2``) and optkern's same-traffic
ceiling, interleaved, one thread:

    OPTKERN_ISA=avx2 python bench/deepspeed_avx2.py --sizes 1e5,1e6,1e7 --dtypes bfloat16,float16

On an AVX-512 machine this runs both AVX2 code paths on a CPU that also has AVX-512; an AVX2-only
CPU (Zen 2/3) has other latencies, so quote the machine. Needs torch and deepspeed
(bench/README.md).
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any

import numpy as np
import optkern
from optkern import _storage
from optkern.benchmarks.harness import measure, same_traffic_ceiling
from optkern.benchmarks.peers16 import as_torch


def avx2_cpu_adam() -> Any:
    """DeepSpeed's cpu_adam op compiled for AVX2, JIT-built under its own name."""
    from deepspeed.ops.op_builder.cpu.cpu_adam import CPUAdamBuilder

    class AVX2Builder(CPUAdamBuilder):  # type: ignore[misc]
        NAME = "cpu_adam_avx2"

        def cpu_arch(self) -> str:
            return "-march=x86-64-v3"

        def simd_width(self) -> str:
            return "-D__AVX256__"

    return AVX2Builder().jit_load(verbose=False)


def deepspeed_step(params: list[Any], op: Any) -> Any:
    """A DeepSpeedCPUAdam over `params` (grads set) whose step calls `op`."""
    from deepspeed.ops.adam import DeepSpeedCPUAdam

    opt = DeepSpeedCPUAdam(params, adamw_mode=False)
    opt.ds_opt_adam.destroy_adam(opt.opt_id)
    group = opt.param_groups[0]
    beta1, beta2 = group["betas"]
    op.create_adam(
        opt.opt_id, group["lr"], beta1, beta2, group["eps"], group["weight_decay"], False, False
    )
    opt.ds_opt_adam = op
    opt.step()
    return opt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1e5,1e6,1e7")
    parser.add_argument("--dtypes", default="bfloat16,float16")
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    if optkern.active_isa() != "avx2":
        raise SystemExit("deepspeed_avx2.py: start it with OPTKERN_ISA=avx2")
    import torch

    torch.set_num_threads(1)
    op = avx2_cpu_adam()
    print(
        "| dtype | size | optkern avx2 µs | % of ceiling | DeepSpeed AVX2 µs | "
        "DeepSpeed / optkern |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name in args.dtypes.split(","):
        dtype = _storage.bfloat16() if name == "bfloat16" else np.dtype(name)
        for size in (int(float(s)) for s in args.sizes.split(",")):
            rng = np.random.default_rng(0)
            start = rng.standard_normal(size).astype(np.float32).astype(dtype)
            grad = rng.standard_normal(size).astype(np.float32).astype(dtype)
            ours = optkern.Adam([start.copy()], num_threads=1)
            ceiling = same_traffic_ceiling(optkern.Adam([start.copy()], num_threads=1), [grad], 1)
            param = as_torch(start.copy())
            param.grad = as_torch(grad.copy())
            theirs = deepspeed_step([param], op)
            times = measure(
                {
                    "optkern": lambda ours=ours, grad=grad: ours.step([grad]),
                    "ceiling": ceiling,
                    "DeepSpeed": lambda theirs=theirs: theirs.step(),
                },
                args.rounds if size < 10**7 else max(5, args.rounds // 3),
                3,
                f"{name} {size:.0e}",
            )
            med = {k: statistics.median(v) for k, v in times.items()}
            print(
                f"| {name} | {size:.0e} | {med['optkern'] * 1e6:.1f} | "
                f"{med['ceiling'] / med['optkern']:.0%} | {med['DeepSpeed'] * 1e6:.1f} | "
                f"{med['DeepSpeed'] / med['optkern']:.2f}x |",
                flush=True,
            )


if __name__ == "__main__":
    main()
