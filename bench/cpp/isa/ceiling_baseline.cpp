// The benchmark's ceiling loops built with the baseline instruction set only
// (cmake/OptkernIsa.cmake).
#define OPTKERN_ISA_NAMESPACE bench_baseline
#define OPTKERN_CEILING_TABLE_FUNCTION ceiling_table_baseline
#include "ceiling_impl.h"
