# Cross-compiling for aarch64 Linux with Debian's cross compiler (g++-aarch64-linux-gnu), as
# .ci/aarch64 does:
#   cmake -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake ...
# The compiler brings its own C/C++ runtime (/usr/aarch64-linux-gnu). Python's headers and the
# extension suffix come from the caller (.ci/aarch64 takes them from an arm64 Debian rootfs):
# pybind11 cannot ask a target interpreter, which does not run on the build machine.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
# Libraries and headers of the target only, never the build machine's; programs (the build
# machine's Python for pybind11's CMake code) from the build machine.
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
