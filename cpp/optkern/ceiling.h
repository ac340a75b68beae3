// Memory ceilings, for benchmarks only (bench/cpp/kernel_benchmark.cpp, and Python's
// optkern._core._same_traffic_step behind bench/ and `optkern bench`): loops that move exactly the
// bytes of an algorithm and do no math, through the same run_plan (same threads, parts and
// alignment peeling) as the kernels, compiled per ISA with them. A kernel is judged by its
// percentage of the ceiling with the same traffic, measured in the same run.
#pragma once
#include <cstdint>

#include "optkern/config.h"
#include "optkern/isa_namespace.h"
#include "optkern/loop.h"

namespace optkern::OPTKERN_ISA_NAMESPACE {

// Reads param, grad and kStates states; writes param and the states in place: the traffic of an
// algorithm with kStates state arrays (Adam: 2, so 7 arrays moved). One add per written array keeps
// the compiler from dropping any load or store; the values only grow linearly, so no subnormals
// appear however long a benchmark runs.
template <int kStates, class T>
void same_traffic(const StepCall& call) {
  run_plan<Uniform<T>, kStates + 2>(call, [](T& p, T g, auto&... states) {
    p = p + g;
    ((states = states + g), ...);
  });
}

// STREAM triad a = b + q*c on the param (a, written only), grad (b) and first state (c) slots.
template <class T>
void triad(const StepCall& call) {
  run_plan<Uniform<T>, 3>(call, [](T& a, T b, T& c) { a = b + T(0.5) * c; });
}

}  // namespace optkern::OPTKERN_ISA_NAMESPACE
