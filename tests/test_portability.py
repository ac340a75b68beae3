"""The compiled module runs on any x86-64: AVX instructions occur only in the AVX kernels.

The wheel is built for the x86-64 baseline (SSE2) and picks AVX2 or AVX-512 kernels at run time
(cpp/dispatch.cpp). That is only safe if no code outside those kernels, the baseline kernels
included, contains a VEX- or EVEX-encoded instruction (or a ymm/zmm/mask register): one stray
`vmovups` in shared code would fault with SIGILL on a CPU without AVX. This test disassembles the
extension that was imported (so it also checks an installed wheel) and looks at every function.
The symbol table it needs is kept on purpose (`install.strip = false`, pybind11's NO_EXTRAS).
"""

from __future__ import annotations

import functools
import platform
import re
import shutil
import subprocess
import sys
from collections import defaultdict

import pytest
from optkern import _core

pytestmark = pytest.mark.skipif(
    not (sys.platform.startswith("linux") and platform.machine() in ("x86_64", "AMD64")),
    reason="the disassembly check is for x86-64 Linux builds",
)

AVX_NAMESPACES = ("optkern::isa_avx2::", "optkern::isa_avx512::")
BASELINE_NAMESPACE = "optkern::isa_baseline::"
FUNCTION_HEADER = re.compile(r"^[0-9a-f]+ <(?P<name>.*)>:$")
AVX_REGISTER = re.compile(r"%(?:ymm|zmm)\d+|%k[0-7]\b")
SSE_PACKED_MATH = re.compile(r"^(?:add|sub|mul|div|sqrt|max|min)p[sd]$")


def is_avx_instruction(instruction: str) -> bool:
    """VEX/EVEX-encoded instructions are exactly those whose AT&T mnemonic gains a 'v' prefix
    (vaddps, vmovdqu, vzeroupper, ...); no SSE or general-purpose instruction a compiler emits
    starts with 'v'. ymm/zmm and mask registers need AVX or AVX-512 too."""
    mnemonic = instruction.split(maxsplit=1)[0] if instruction else ""
    return mnemonic.startswith("v") or bool(AVX_REGISTER.search(instruction))


@functools.cache
def instructions_by_function() -> dict[str, list[str]]:
    objdump = shutil.which("objdump")
    if objdump is None:
        pytest.skip("objdump (binutils) is not installed")
    listing = subprocess.run(
        [objdump, "-d", "-C", "--no-show-raw-insn", _core.__file__],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    functions: dict[str, list[str]] = defaultdict(list)
    current = None
    for line in listing.splitlines():
        header = FUNCTION_HEADER.match(line)
        if header:
            current = header.group("name")
        elif current is not None and line.count("\t") >= 1 and line.startswith(" "):
            functions[current].append(line.split("\t", 1)[1].strip())
    return functions


def in_namespace(name: str, namespaces: tuple[str, ...]) -> bool:
    # Demangled names may start with a return type ("void optkern::isa_avx2::adam<float>(...)").
    return any(namespace in name for namespace in namespaces)


def test_symbol_table_is_kept() -> None:
    baseline = [name for name in instructions_by_function() if BASELINE_NAMESPACE in name]
    assert baseline, f"{_core.__file__} has no optkern::isa_baseline symbols: was it stripped?"


def test_no_avx_outside_the_avx_kernels() -> None:
    offenders = {
        name: next(i for i in instructions if is_avx_instruction(i))
        for name, instructions in instructions_by_function().items()
        if not in_namespace(name, AVX_NAMESPACES) and any(map(is_avx_instruction, instructions))
    }
    assert not offenders, (
        "AVX instructions outside the AVX kernels (first one each):\n"
        + "\n".join(
            f"  {name[:160]}: {instruction}" for name, instruction in sorted(offenders.items())
        )
    )


@pytest.mark.skipif(_core.sanitized, reason="sanitizer instrumentation stops vectorization")
def test_baseline_kernels_are_sse_vectorized() -> None:
    """Portable is not scalar: the baseline kernels use SSE2's packed arithmetic."""
    baseline = instructions_by_function()
    packed = {
        i.split(maxsplit=1)[0]
        for name, instructions in baseline.items()
        if BASELINE_NAMESPACE in name
        for i in instructions
        if SSE_PACKED_MATH.match(i.split(maxsplit=1)[0])
    }
    assert {"sqrtps", "sqrtpd", "mulps", "mulpd"} <= packed, sorted(packed)


@pytest.mark.parametrize(
    ("isa", "register"), [("avx2", "%ymm"), ("avx512", "%zmm")], ids=["avx2", "avx512"]
)
def test_the_detector_finds_the_avx_kernels(isa: str, register: str) -> None:
    """So the check above can fail: the AVX kernels are seen, with their wide registers."""
    if isa not in _core.compiled_isas():
        pytest.skip(f"{isa} kernels are not compiled into this build")
    kernels = {
        name: instructions
        for name, instructions in instructions_by_function().items()
        if f"optkern::isa_{isa}::" in name
    }
    assert kernels
    if not _core.sanitized:  # instrumented kernels are not vectorized: no wide registers
        assert any(register in i for instructions in kernels.values() for i in instructions)
    assert any(is_avx_instruction(i) for instructions in kernels.values() for i in instructions)


# The loop of a kernel variant: the run_* functions instantiated with the element function of one
# kernel_variant<Params, Signature, flags...> (cpp/optkern/step.h). A Uniform signature's first
# type is the compute type, which decides the packed kind (ps or pd) the variant must use; a
# Converted variant computes in float32 (its block path: run_converted_segment), and its fused
# loops (run_fused / run_segment over a fused
# Signature, cpp/optkern/loop.h) are functions of their own, each checked on its own.
KERNEL_VARIANT = re.compile(
    r"^void optkern::isa_\w+::run_(?:part|parts|plan|fused|segment|converted_segment)<"
    r"(?:optkern::isa_\w+::run_plan<)?"
    r"(?:optkern::isa_\w+::(?P<fused>Signature<[^<>]*>), \d+, )?"
    r".*?kernel_variant<optkern::(?P<algorithm>\w+)Params, "
    r"optkern::isa_(?P<isa>\w+)::(?P<signature>Signature<(?P<dtype>float|double)[^<>]*>|Converted)"
    r"(?P<flags>[^<>]*)>\("
)
ISA_WIDTH = {"baseline": "%xmm", "avx2": "%ymm", "avx512": "%zmm"}
PACKED_MATH = re.compile(r"^v?(?:add|sub|mul|div|sqrt|max|min)p(?P<kind>[sd])$")


def snake_case(name: str) -> str:
    """The algorithm's name on the Python side from its Params struct's: TextbookAdam -> textbook_adam."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def kernel_variants() -> dict[tuple[str, str, str, str], list[str]]:
    """The instructions of every compiled kernel variant: (ISA, algorithm, compute dtype, storage
    signature and compile-time flags), from the functions its loop was instantiated in (the run_*
    functions of KERNEL_VARIANT), a fused loop of a converted variant under a key of its own."""
    variants: dict[tuple[str, str, str, str], list[str]] = defaultdict(list)
    for name, instructions in instructions_by_function().items():
        match = KERNEL_VARIANT.search(name)
        if match:
            signature = match["signature"]
            # A fused loop of a converted variant (a signature with a 16-bit format) is keyed by
            # its own storage signature; the block path's float32 loop belongs to the variant.
            fused = match["fused"] or ""
            if signature != "Converted" or "::As" not in fused:
                fused = ""
            key = (
                match["isa"],
                snake_case(match["algorithm"]),
                match["dtype"] or "float",
                f"{signature}{match['flags']}" + (f" fused {fused}" if fused else ""),
            )
            variants[key] += instructions
    return variants


@pytest.mark.skipif(_core.sanitized, reason="sanitizer instrumentation stops vectorization")
def test_every_kernel_variant_is_vectorized_at_its_isa_width() -> None:
    """Each kernel, for each dtype and flag combination, contains packed arithmetic on its ISA's
    vector registers: one variant falling back to scalar code would otherwise go unnoticed (a
    check that some kernel vectorizes passes while another does not)."""
    variants = kernel_variants()
    algorithms = set(_core.array_roles)
    found = {(isa, algorithm, dtype) for isa, algorithm, dtype, _ in variants}
    expected = {
        (isa, algorithm, dtype)
        for isa in _core.compiled_isas()
        for algorithm in algorithms
        for dtype in ("float", "double")
    }
    assert expected <= found, f"kernels not found in the disassembly: {sorted(expected - found)}"
    scalar = []
    for (isa, algorithm, dtype, flags), instructions in variants.items():
        kind = "s" if dtype == "float" else "d"
        width = ISA_WIDTH[isa]
        if not any(
            (m := PACKED_MATH.match(i.split(maxsplit=1)[0])) and m["kind"] == kind and width in i
            for i in instructions
        ):
            scalar.append(f"{isa} {algorithm}<{dtype}>{flags}")
    assert not scalar, "kernel variants without packed arithmetic:\n  " + "\n  ".join(scalar)
    # Every algorithm has converted variants on every ISA (so the checks above and below cannot
    # pass on the Uniform kernels alone), and each has its fused loops where the ISA compiles
    # them (not the x86-64 baseline, loop.h's kFusedConversions).
    converted = {(k[0], k[1], k[3]) for k in variants if k[3].startswith("Converted")}
    assert {(isa, algorithm) for isa, algorithm, _ in converted} == {
        (isa, algorithm) for isa in _core.compiled_isas() for algorithm in algorithms
    }
    unfused = [
        f"{isa} {algorithm}{flags}"
        for isa, algorithm, flags in converted
        if isa != "baseline"
        and " fused " not in flags
        and not any(
            k[0] == isa and k[1] == algorithm and k[3].startswith(flags + " fused ")
            for k in variants
        )
    ]
    assert not unfused, "converted variants without fused loops:\n  " + "\n  ".join(unfused)
