// Turns run-time options into compile-time ones, so each combination of an algorithm's options is
// its own loop with no per-element branch. Written once for every algorithm.
//
// with_flags(f, a, b) calls f(constant<a>{}, constant<b>{}), each constant a
// std::integral_constant. A flag is a bool, or a Choice: a value of an enum together with the only
// values it can take for this algorithm, so that only those are compiled (Adagrad's weight decay is
// off or L2, never decoupled; Adam's any of the three).
#pragma once
#include <type_traits>

#include "optkern/isa_namespace.h"

namespace optkern::OPTKERN_ISA_NAMESPACE {

// Weight decay, one flag with three states: no decay; L2, added to the gradient (g <- g + wd*p);
// or decoupled, applied to the parameter (p <- p * (1 - lr*wd), AdamW). math/common.h's prologue
// applies it.
enum class WeightDecay { kOff, kL2, kDecoupled };

template <class Enum, Enum... kValues>
struct Choice {
  Enum value;
};

// The weight decay flag of an algorithm's Params<double>. Decisions are taken on the float64
// values, as in the reference.
template <class Params>
Choice<WeightDecay, WeightDecay::kOff, WeightDecay::kL2> l2_weight_decay(const Params& hp) {
  return {hp.weight_decay != 0 ? WeightDecay::kL2 : WeightDecay::kOff};
}
template <class Params>
Choice<WeightDecay, WeightDecay::kOff, WeightDecay::kDecoupled> decoupled_weight_decay(
    const Params& hp) {
  return {hp.weight_decay != 0 ? WeightDecay::kDecoupled : WeightDecay::kOff};
}
template <class Params>
Choice<WeightDecay, WeightDecay::kOff, WeightDecay::kL2, WeightDecay::kDecoupled>
l2_or_decoupled_weight_decay(const Params& hp) {
  if (hp.weight_decay == 0) return {WeightDecay::kOff};
  return {hp.decoupled_weight_decay ? WeightDecay::kDecoupled : WeightDecay::kL2};
}

template <class F>
inline void with_flags(F&& f) {
  f();
}

template <class F, class... Rest>
inline void with_flags(F&& f, bool first, Rest... rest) {
  if (first) {
    with_flags([&](auto... known) { f(std::true_type{}, known...); }, rest...);
  } else {
    with_flags([&](auto... known) { f(std::false_type{}, known...); }, rest...);
  }
}

template <class F, class Enum, Enum... kValues, class... Rest>
inline void with_flags(F&& f, Choice<Enum, kValues...> first, Rest... rest) {
  // One branch per value the Choice allows; exactly one matches.
  const auto expand = [&](auto value) {
    if (first.value != decltype(value)::value) return false;
    with_flags([&](auto... known) { f(value, known...); }, rest...);
    return true;
  };
  (expand(std::integral_constant<Enum, kValues>{}) || ...);
}

// Whether the flag combination `flags...` of Algorithm is compiled: Algorithm::reachable(flags...)
// where the algorithm's flags depend on each other (SGD: nesterov and first_step only with
// momentum), else every combination.
template <class Algorithm, class = void>
struct HasReachable : std::false_type {};
template <class Algorithm>
struct HasReachable<Algorithm, std::void_t<decltype(&Algorithm::reachable)>> : std::true_type {};

template <class Algorithm, class... Flags>
constexpr bool is_reachable(Flags... flags) {
  if constexpr (HasReachable<Algorithm>::value) {
    return Algorithm::reachable(flags...);
  } else {
    ((void)flags, ...);
    return true;
  }
}

// The roles (bit r: role r, of the algorithm's `arrays`) that the variant `flags...` reads or
// writes: Algorithm::uses_array(role, flags...) where an optional array depends on a flag (Adam's
// max_exp_avg_sq on amsgrad), else every role. It restates Params::needs_array in terms of the
// flags, for the converted loops (loop.h): they load and store a 16-bit element for every role
// they are told is used, and the element function cannot tell them it ignores one.
template <class Algorithm, class = void>
struct HasUsesArray : std::false_type {};
template <class Algorithm>
struct HasUsesArray<Algorithm, std::void_t<decltype(&Algorithm::uses_array)>> : std::true_type {};

template <class Algorithm, class... Flags>
constexpr unsigned used_roles(int arrays, Flags... flags) {
  unsigned used = 0;
  for (int role = 0; role < arrays; ++role) {
    bool uses = true;
    if constexpr (HasUsesArray<Algorithm>::value) uses = Algorithm::uses_array(role, flags...);
    if (uses) used |= 1u << role;
  }
  ((void)flags, ...);
  return used;
}

}  // namespace optkern::OPTKERN_ISA_NAMESPACE
