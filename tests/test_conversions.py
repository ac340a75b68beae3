"""The 16-bit storage conversions (cpp/optkern/convert.h) of every supported ISA, bit for bit
against NumPy's float16 casts and ml_dtypes' bfloat16 casts: every float32 bit pattern through
both stores, every 16-bit pattern through both loads, and tails and unaligned starts against the
vector body. They are called alone through `_core._convert`, with the ISA named, not selected.

Which float32 patterns are slow for the reference: NumPy raises the floating-point overflow or
underflow flag for each float16 it rounds to inf or to zero (about 75 ns each, 88 % of all
patterns), so NumPy's float16 casts of all 2^32 take about 5 minutes. The every-pattern float16
test therefore compares the kernels with a SHA-256 of NumPy's casts recorded here, and recomputes
NumPy's casts only to name the mismatches once it fails; `pytest --rederive-digests` checks the
recorded digest against the NumPy installed (the 5 minutes). The bfloat16 store is checked against
ml_dtypes' casts themselves over all 2^32 patterns (12 s), and a strided subset of the float16
one against NumPy's, in every run.
"""

import hashlib
import os
from collections.abc import Iterator

import numpy as np
import pytest
from numpy.typing import NDArray
from optkern import _core

ISAS = _core.supported_isas()
CHUNK = 1 << 24  # float32 patterns per chunk: 64 MiB of input, 32 MiB per result
ALL = 1 << 32
STORES = ["store_float16", "store_bfloat16"]
LOADS = ["load_float16", "load_bfloat16"]
# The every-pattern tests convert with each supported ISA whichever is active, so a run with
# OPTKERN_ISA forced (.ci/run repeats the suite per ISA) would only repeat them.
every_isa_already = pytest.mark.skipif(
    bool(os.environ.get("OPTKERN_ISA")),
    reason="converts with every supported ISA whichever is active: covered by the unforced run",
)


def _bfloat16() -> np.dtype:
    return np.dtype(pytest.importorskip("ml_dtypes").bfloat16)


def _reference_dtype(conversion: str) -> np.dtype:
    return np.dtype(np.float16) if conversion.endswith("_float16") else _bfloat16()


def _mismatches(inputs: NDArray, got: NDArray, expected: NDArray, bits: int) -> str:
    """The first few mismatches as (input bits, got, expected), in hex."""
    where = np.flatnonzero(got != expected)
    digits = bits // 4
    rows = [
        f"0x{int(inputs[i]):0{digits}x}: got 0x{int(got[i]):x}, expected 0x{int(expected[i]):x}"
        for i in where[:8]
    ]
    return f"{where.size} mismatches, the first: " + "; ".join(rows)


def _same(a: NDArray, b: NDArray) -> bool:
    # Compared 8 bytes at a time: a quarter of the element comparisons for uint16 results.
    if a.nbytes % 8 == 0:
        return np.array_equal(a.view(np.uint64), b.view(np.uint64))
    return np.array_equal(a, b)


def _check_stores(conversion: str, chunks: Iterator[NDArray[np.uint32]], isas: list[str]) -> None:
    """Each chunk of float32 bit patterns through `conversion` of every ISA against the reference
    (computed once per chunk)."""
    dtype = _reference_dtype(conversion)
    expected = np.empty(CHUNK, dtype)
    got = np.empty(CHUNK, np.uint16)
    for bits in chunks:
        n = bits.size
        with np.errstate(all="ignore"):  # overflow to inf, underflow to zero, NaN
            expected[:n] = bits.view(np.float32)
        want = expected[:n].view(np.uint16)
        for isa in isas:
            _core._convert(isa, conversion, bits.view(np.float32), got[:n])
            if not _same(got[:n], want):
                pytest.fail(f"{isa} {conversion}: {_mismatches(bits, got[:n], want, 32)}")


def _every_pattern() -> Iterator[NDArray[np.uint32]]:
    base = np.arange(CHUNK, dtype=np.uint32)
    bits = np.empty(CHUNK, np.uint32)
    for start in range(0, ALL, CHUNK):
        np.add(base, np.uint32(start), out=bits)
        yield bits


# SHA-256 of NumPy's `astype(np.float16)` of every float32 pattern, in pattern order, as uint16
# little-endian: the same under NumPy 1.23.2 and 2.4.6 (test_float16_digest_is_numpys rederives it).
FLOAT16_STORES_SHA256 = "56132225012d053151085e7cd2a69bcd83a23be44f0e7aecca43733252a3e4f2"


def _numpy_float16_digest() -> str:
    digest = hashlib.sha256()
    expected = np.empty(CHUNK, np.float16)
    for bits in _every_pattern():
        with np.errstate(all="ignore"):  # overflow to inf, underflow to zero
            expected[:] = bits.view(np.float32)
        digest.update(expected.view(np.uint16))
    return digest.hexdigest()


@every_isa_already
def test_store_every_float32_pattern_float16() -> None:
    """Every ISA's float16 store of all 2^32 patterns: each chunk the same on every ISA, and
    their digest NumPy's. A chunk where the ISAs disagree, or the digest differs, is checked
    against NumPy's casts themselves, so a failure names the patterns."""
    digest = hashlib.sha256()
    first = np.empty(CHUNK, np.uint16)
    other = np.empty(CHUNK, np.uint16)
    for bits in _every_pattern():
        _core._convert(ISAS[0], "store_float16", bits.view(np.float32), first)
        for isa in ISAS[1:]:
            _core._convert(isa, "store_float16", bits.view(np.float32), other)
            if not _same(first, other):
                _check_stores("store_float16", iter([bits]), ISAS)
        digest.update(first)
    if digest.hexdigest() != FLOAT16_STORES_SHA256:
        _check_stores("store_float16", _every_pattern(), ISAS[:1])
        pytest.fail(f"digest {digest.hexdigest()}, yet every chunk matches this NumPy's casts")


@every_isa_already
def test_store_every_float32_pattern_bfloat16() -> None:
    _check_stores("store_bfloat16", _every_pattern(), ISAS)


@pytest.mark.rederive
def test_float16_digest_is_numpys() -> None:
    assert _numpy_float16_digest() == FLOAT16_STORES_SHA256


# Near every boundary of the float16 and bfloat16 ranges: zero, the subnormal and normal limits,
# the rounding to inf, inf and the first NaNs; both signs, 4,096 patterns each side of each.
EDGES = [
    0x00000000,
    0x33000000,  # 2^-25: half the smallest float16 subnormal, ties to zero
    0x38800000,  # 2^-14: the smallest normal float16
    0x3F800000,
    0x477FE000,  # 65504: the largest float16
    0x477FF000,  # 65520: ties to inf
    0x7F7F8000,  # the largest bfloat16
    0x7F800000,  # inf
    0x7FC00000,  # the quiet NaN
]


def _subset() -> Iterator[NDArray[np.uint32]]:
    # Every 1,021st pattern (a prime, so each chunk starts at another mantissa), then the edges.
    strided = np.arange(0, ALL, 1021, dtype=np.uint64).astype(np.uint32)
    for start in range(0, strided.size, CHUNK):
        yield strided[start : start + CHUNK]
    around = np.arange(-4096, 4096, dtype=np.int64)
    edges = np.concatenate([(edge + around) % (1 << 31) for edge in EDGES]).astype(np.uint32)
    yield np.concatenate([edges, edges | np.uint32(0x80000000)])


@pytest.mark.parametrize("conversion", STORES)
def test_store_float32_subset(conversion: str) -> None:
    _check_stores(conversion, _subset(), ISAS)


@pytest.mark.parametrize("conversion", LOADS)
def test_load_every_16_bit_pattern(conversion: str) -> None:
    bits = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)
    expected = bits.view(_reference_dtype(conversion)).astype(np.float32).view(np.uint32)
    got = np.empty(bits.size, np.float32)
    for isa in ISAS:
        _core._convert(isa, conversion, bits, got)
        result = got.view(np.uint32)
        assert _same(result, expected), f"{isa} {conversion}: " + _mismatches(
            bits, result, expected, 16
        )


def _source(conversion: str) -> NDArray:
    """A buffer of patterns from every class: the 16-bit ones for a load, float32 ones (the
    edges, NaNs of both kinds, random) for a store."""
    rng = np.random.default_rng(15)
    if conversion in LOADS:
        return rng.permutation(np.arange(1 << 16, dtype=np.uint32)).astype(np.uint16)[:4096]
    edges = np.array([*EDGES, 0x7F800001, 0x7FA00000, 0x00000001, 0x387FE000], np.uint32)
    random = rng.integers(0, ALL, 4096 - 2 * edges.size, dtype=np.uint64).astype(np.uint32)
    return rng.permutation(np.concatenate([edges, edges | np.uint32(0x80000000), random])).view(
        np.float32
    )


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("conversion", LOADS + STORES)
def test_tails_and_unaligned_starts_match_the_body(isa: str, conversion: str) -> None:
    """Any start and length gives the elements the whole aligned run gives: the vector body,
    its scalar tail and unaligned loads and stores round alike."""
    source = _source(conversion)
    out_dtype = np.float32 if conversion in LOADS else np.uint16
    whole = np.empty(source.size, out_dtype)
    _core._convert(isa, conversion, source, whole)
    lengths = [*range(40), 63, 64, 65, 127, 129, 1000, 4096 - 16]
    out = np.empty(source.size + 16, out_dtype)
    for start in range(16):
        for length in lengths:
            if start + length > source.size:
                continue
            at = (start * 7) % 16  # the result's start differs from the source's
            out.fill(0)
            _core._convert(isa, conversion, source[start : start + length], out[at : at + length])
            got = out[at : at + length].view(np.uint32 if out_dtype == np.float32 else np.uint16)
            want = whole[start : start + length].view(got.dtype)
            assert np.array_equal(got, want), (isa, conversion, start, length)
            assert not out[:at].any(), "wrote before the start"
            assert not out[at + length :].any(), "wrote past the end"


def test_convert_rejects_bad_arguments() -> None:
    bits = np.zeros(8, np.uint16)
    floats = np.zeros(8, np.float32)
    with pytest.raises(ValueError, match="unknown conversion"):
        _core._convert("baseline", "load_float8", bits, floats)
    with pytest.raises(ValueError, match="OPTKERN_ISA=sse9"):
        _core._convert("sse9", "load_float16", bits, floats)
    with pytest.raises(TypeError, match="source must have dtype uint16"):
        _core._convert("baseline", "load_float16", floats, floats)
    with pytest.raises(TypeError, match="out must have dtype uint16"):
        _core._convert("baseline", "store_bfloat16", floats, floats)
    with pytest.raises(TypeError, match=r"numpy\.ndarray"):
        _core._convert("baseline", "store_float16", [0.0] * 8, bits)
    with pytest.raises(ValueError, match="source has 8 elements, out 7"):
        _core._convert("baseline", "store_float16", floats, bits[:7])
    with pytest.raises(ValueError, match="C-contiguous"):
        _core._convert("baseline", "store_float16", np.zeros(16, np.float32)[::2], bits)
    readonly = np.zeros(8, np.float32)
    readonly.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        _core._convert("baseline", "load_float16", bits, readonly)
    buffer = np.zeros(16, np.float32)
    with pytest.raises(ValueError, match="overlap"):
        _core._convert("baseline", "store_float16", buffer[:8], buffer[4:].view(np.uint16)[:8])
