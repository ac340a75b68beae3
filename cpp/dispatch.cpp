// CPU feature detection and the choice of kernel table. Compiled with baseline flags only.
#include "dispatch.h"

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#endif

namespace optkern {
namespace {

struct IsaEntry {
  const char* name;
  const KernelTable& (*table)();
};

// Best last.
const std::vector<IsaEntry>& compiled_entries() {
  static const std::vector<IsaEntry> entries = {
#ifdef OPTKERN_HAVE_BASELINE
      {"baseline", &kernel_table_baseline},
#endif
#ifdef OPTKERN_HAVE_AVX2
      {"avx2", &kernel_table_avx2},
#endif
#ifdef OPTKERN_HAVE_AVX512
      {"avx512", &kernel_table_avx512},
#endif
  };
  return entries;
}

#if defined(__x86_64__) || defined(_M_X64)
std::uint64_t read_xcr0() {
  std::uint32_t eax = 0, edx = 0;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<std::uint64_t>(edx) << 32) | eax;
}

// The CPU must have the instructions AND the OS must save the wider registers on context switch
// (XCR0), or the first AVX instruction faults.
bool cpu_and_os_support(const std::string& isa) {
  if (isa == "baseline") return true;
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return false;
  const bool osxsave = (ecx >> 27) & 1u;
  const bool avx = (ecx >> 28) & 1u;
  // F16C: the avx2 and avx512 units are compiled with -mf16c for their float16 conversions.
  const bool f16c = (ecx >> 29) & 1u;
  if (!osxsave || !avx || !f16c) return false;
  const std::uint64_t xcr0 = read_xcr0();
  const bool os_saves_ymm = (xcr0 & 0x6u) == 0x6u;
  const bool os_saves_zmm = (xcr0 & 0xE6u) == 0xE6u;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
  const bool avx2 = (ebx >> 5) & 1u;
  if (isa == "avx2") return avx2 && os_saves_ymm;
  if (isa == "avx512") {
    const bool f = (ebx >> 16) & 1u, dq = (ebx >> 17) & 1u, bw = (ebx >> 30) & 1u,
               vl = (ebx >> 31) & 1u;
    return avx2 && f && dq && bw && vl && os_saves_zmm;
  }
  return false;
}
#else
bool cpu_and_os_support(const std::string& isa) { return isa == "baseline"; }
#endif

std::atomic<const KernelTable*> active{nullptr};

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) out += (out.empty() ? "" : ", ") + name;
  return out;
}

}  // namespace

std::vector<std::string> compiled_isas() {
  std::vector<std::string> names;
  for (const auto& entry : compiled_entries()) names.emplace_back(entry.name);
  return names;
}

std::vector<std::string> supported_isas() {
  std::vector<std::string> names;
  for (const auto& entry : compiled_entries()) {
    if (cpu_and_os_support(entry.name)) names.emplace_back(entry.name);
  }
  return names;
}

const KernelTable& kernel_table(const std::string& name) {
  for (const auto& entry : compiled_entries()) {
    if (name != entry.name) continue;
    if (!cpu_and_os_support(name)) {
      throw std::invalid_argument(
          "OPTKERN_ISA=" + name +
          ": this CPU or OS does not support it; supported here: " + join(supported_isas()));
    }
    return entry.table();
  }
  throw std::invalid_argument("OPTKERN_ISA=" + name +
                              ": unknown or not compiled; compiled: " + join(compiled_isas()));
}

void select_isa(const std::string& name) { active.store(&kernel_table(name)); }

void select_isa_from_environment() {
  const char* forced = std::getenv("OPTKERN_ISA");
  if (forced != nullptr && *forced != '\0') {
    select_isa(forced);
    return;
  }
  select_isa(supported_isas().back());  // baseline is always supported
}

const KernelTable& active_kernels() { return *active.load(); }

}  // namespace optkern
