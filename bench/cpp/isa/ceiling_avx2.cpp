// The benchmark's ceiling loops built with the avx2 instruction set only (cmake/OptkernIsa.cmake).
#define OPTKERN_ISA_NAMESPACE bench_avx2
#define OPTKERN_CEILING_TABLE_FUNCTION ceiling_table_avx2
#include "ceiling_impl.h"
