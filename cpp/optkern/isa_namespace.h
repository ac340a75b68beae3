// Every template compiled in a per-ISA translation unit lives in namespace
// optkern::OPTKERN_ISA_NAMESPACE. Without that, an inline function instantiated in both the AVX2
// and the baseline unit would be merged by the linker into one copy, possibly the AVX2 one, which
// would then run (and fault) on a CPU without AVX2. For the same reason these headers use compiler
// builtins instead of <cmath>/<algorithm> templates.
#pragma once
#ifndef OPTKERN_ISA_NAMESPACE
#error "define OPTKERN_ISA_NAMESPACE before including per-ISA kernel headers (see cpp/isa/)"
#endif

// For the small functions a kernel's element loop calls per element (conversions, slots): a loop
// the compiler vectorizes must have no calls left in it, and GCC stops inlining in a function as
// large as a converted kernel variant (every fused loop of loop.h plus the block path), so these
// are inlined by force rather than by its heuristics.
#define OPTKERN_INLINE inline __attribute__((always_inline))
