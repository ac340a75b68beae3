// Turns run-time booleans into compile-time ones, so each combination of an algorithm's options is
// its own loop with no per-element branch: with_flags(f, a, b) calls f(bool_constant<a>{},
// bool_constant<b>{}). Written once for every algorithm.
#pragma once
#include <type_traits>

#include "optkern/isa_namespace.h"

namespace optkern::OPTKERN_ISA_NAMESPACE {

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

}  // namespace optkern::OPTKERN_ISA_NAMESPACE
