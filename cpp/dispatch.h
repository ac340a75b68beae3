// The one dispatch point: which ISAs were compiled, which this CPU and OS can run, and the kernel
// table in use (chosen once at import; OPTKERN_ISA forces one).
#pragma once
#include <string>
#include <vector>

#include "optkern/kernel_table.h"

namespace optkern {

std::vector<std::string> compiled_isas();
std::vector<std::string> supported_isas();  // compiled, and runnable on this CPU and OS
const KernelTable& active_kernels();
// The table of `name` without selecting it (benchmarks); same checks and errors as select_isa.
const KernelTable& kernel_table(const std::string& name);
// Selects `name`, which must be compiled and supported; throws std::invalid_argument otherwise.
void select_isa(const std::string& name);
// Honours OPTKERN_ISA if set (same checks as select_isa), otherwise selects the best supported ISA.
void select_isa_from_environment();

}  // namespace optkern
