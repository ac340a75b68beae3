# One object library per instruction set, all built from the same source (cpp/isa/kernels_<isa>.cpp,
# which includes optkern/kernels_impl.h: the kernels and the benchmark's memory ceilings
# (optkern/ceiling.h) alike). Each gets only its own ISA flags, never
# -march=native (unless OPTKERN_NATIVE asks for it), so the wheel runs on any CPU of the
# architecture and dispatch.cpp chooses among them at import.
#
# optkern_add_isa_objects(<name> <source> <objects_var> <definitions_var>) compiles <source>, in
# which "<isa>" stands for each ISA's name, into object library <name>_<isa>; it sets
# <objects_var> to the object files to link and <definitions_var> to OPTKERN_HAVE_<ISA>=1.
function(optkern_add_isa_objects name source objects_var definitions_var)
  set(objects "")
  set(definitions "")
  if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$")
    set(isas baseline avx2 avx512)
    set(flags_baseline "")
    # AVX2 alone, no FMA flag: the reference rounds every multiply and add separately. F16C for
    # the float16 conversions (optkern/convert.h); every AVX2 CPU has it, and dispatch.cpp checks.
    set(flags_avx2 -mavx2 -mf16c)
    set(flags_avx512 -mavx512f -mavx512dq -mavx512bw -mavx512vl -mf16c -mprefer-vector-width=512)
  elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64|ARM64)$")
    set(isas baseline)
    set(flags_baseline "")  # NEON is part of the aarch64 baseline
  else()
    set(isas baseline)
    set(flags_baseline "")
  endif()
  foreach(isa IN LISTS isas)
    string(REPLACE "<isa>" "${isa}" isa_source "${source}")
    add_library(${name}_${isa} OBJECT ${isa_source})
    target_link_libraries(${name}_${isa} PRIVATE optkern_flags)
    target_compile_options(${name}_${isa} PRIVATE ${flags_${isa}})
    if(OPTKERN_NATIVE AND isa STREQUAL "baseline")
      message(WARNING "optkern: OPTKERN_NATIVE=ON builds the baseline kernels with -march=native; "
                      "the result only runs on CPUs like this one")
      target_compile_options(${name}_${isa} PRIVATE -march=native)
    endif()
    string(TOUPPER ${isa} isa_upper)
    list(APPEND objects $<TARGET_OBJECTS:${name}_${isa}>)
    list(APPEND definitions OPTKERN_HAVE_${isa_upper}=1)
  endforeach()
  set(${objects_var} ${objects} PARENT_SCOPE)
  set(${definitions_var} ${definitions} PARENT_SCOPE)
endfunction()
