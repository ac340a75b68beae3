// The benchmark's ceiling loops built with the avx512 instruction set only
// (cmake/OptkernIsa.cmake).
#define OPTKERN_ISA_NAMESPACE bench_avx512
#define OPTKERN_CEILING_TABLE_FUNCTION ceiling_table_avx512
#include "ceiling_impl.h"
