// The kernels built with the avx512 instruction set only (flags in cmake/OptkernIsa.cmake).
#define OPTKERN_ISA_NAMESPACE isa_avx512
#define OPTKERN_ISA_NAME "avx512"
#define OPTKERN_KERNEL_TABLE_FUNCTION kernel_table_avx512
#include "optkern/kernels_impl.h"
