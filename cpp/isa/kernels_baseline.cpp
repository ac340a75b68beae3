// The kernels built with the baseline instruction set only (flags in cmake/OptkernIsa.cmake).
#define OPTKERN_ISA_NAMESPACE isa_baseline
#define OPTKERN_ISA_NAME "baseline"
#define OPTKERN_KERNEL_TABLE_FUNCTION kernel_table_baseline
#include "optkern/kernels_impl.h"
