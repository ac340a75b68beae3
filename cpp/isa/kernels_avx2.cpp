// The kernels built with the avx2 instruction set only (flags in cmake/OptkernIsa.cmake).
#define OPTKERN_ISA_NAMESPACE isa_avx2
#define OPTKERN_ISA_NAME "avx2"
#define OPTKERN_KERNEL_TABLE_FUNCTION kernel_table_avx2
#include "optkern/kernels_impl.h"
