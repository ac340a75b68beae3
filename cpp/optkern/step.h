// The one generic step every kernel is: step<Params, Signature> casts the float64 coefficients to
// the compute type once, turns the algorithm's run-time options into compile-time flags and runs
// the algorithm's element function over the call in that variant. An algorithm brings only
// math::Algorithm<Params> (cpp/optkern/math/<name>.h):
//
//   template <class Run> static void flags(const Params<double>& hp, Run&& run);
//       calls run(flag...) with its run-time options (bools and Choices, see flags.h), in the
//       order of element's template parameters (an algorithm without options derives from
//       NoFlags instead);
//   template <flags..., class T> static void element(const Params<T>& c, T& p, T g, T& state...);
//       one element of the update, arrays in Params::kArrays order;
//   static constexpr bool reachable(flag...)   (optional)
//       which flag combinations exist, where they depend on each other; only those are compiled.
//       An unreachable combination runs nothing, so `flags` must never pass one (SGD passes
//       nesterov and first_step as false without momentum).
//   static constexpr bool uses_array(int role, flag...)   (optional)
//       which roles a variant reads or writes, where an optional array depends on a flag (Adam's
//       max_exp_avg_sq on amsgrad): Params::needs_array in terms of the flags. The loops give a
//       role it leaves out a value of its own (flags.h's used_roles, loop.h's ElementOf), so it
//       must never leave out a role the element function uses.
#pragma once
#include <cstdint>
#include <type_traits>

#include "optkern/flags.h"
#include "optkern/isa_namespace.h"
#include "optkern/loop.h"
#include "optkern/params.h"
#include "optkern/work_plan.h"

namespace optkern::OPTKERN_ISA_NAMESPACE {

// The one cast of every algorithm's coefficients, Params<double> -> Params<To>: each field rounded
// to nearest (as the reference's `_cast` does with NumPy scalars); bools, and fields declared
// double in every instantiation, are copied.
template <class To, template <class> class Params>
Params<To> cast_params(const Params<double>& from) {
  Params<To> to{};
  Params<double>::for_each_field(
      [](const char*, auto& out, const auto& in) {
        out = static_cast<std::remove_reference_t<decltype(out)>>(in);
      },
      to, from);
  return to;
}

namespace math {
// Specialised by each math/<name>.h: the algorithm's flags and element function.
template <template <class> class Params>
struct Algorithm;

// The flag list of an algorithm without options: one variant.
struct NoFlags {
  template <class Params, class Run>
  static void flags(const Params&, Run&& run) {
    run();
  }
};
}  // namespace math

// One compiled variant: the loop over the call with the flags fixed. A named function (not only a
// lambda) so that each variant's loop has a readable symbol, which tests/test_portability.py
// reads to check that every variant is vectorized.
template <template <class> class Params, class Sig, auto... kFlags>
void kernel_variant(const StepCall& call, const Params<typename Sig::Compute>& coefficients) {
  constexpr int kArrays = static_cast<int>(Params<double>::kArrays.size());
  using T = typename Sig::Compute;
  // The coefficients are captured by value: the compiler then knows no store to an array changes
  // them, and keeps them in registers. Every gradient element is multiplied by the step's gradient
  // multiplier (1 for a plain step; the clip coefficient over the loss scale) as it is read: one
  // multiply, where a separate scaled copy of the gradient cost a pass of its own.
  using Algorithm = math::Algorithm<Params>;
  run_plan<Sig, kArrays>(
      call, with_used_roles<used_roles<Algorithm>(kArrays, kFlags...)>(
                [c = coefficients, multiplier = static_cast<T>(call.grad_multiplier)](
                    T& p, T g, auto&... states) {
                  Algorithm::template element<kFlags...>(c, p, g * multiplier, states...);
                }));
}

template <template <class> class Params, class Sig>
void step(const StepCall& call, const Params<double>& hp) {
  using Algorithm = math::Algorithm<Params>;
  // The caller's flush-to-zero mode is cleared from here on (see KeepSubnormals in loop.h), so the
  // cast below, made on the calling thread before run_plan, does not flush a subnormal
  // coefficient either.
  const KeepSubnormals keep;
  const Params<typename Sig::Compute> coefficients = cast_params<typename Sig::Compute>(hp);
  Algorithm::flags(hp, [&](auto... options) {
    with_flags(
        [&](auto... known) {
          if constexpr (is_reachable<Algorithm>(decltype(known)::value...)) {
            kernel_variant<Params, Sig, decltype(known)::value...>(call, coefficients);
          }
        },
        options...);
  });
}

}  // namespace optkern::OPTKERN_ISA_NAMESPACE
