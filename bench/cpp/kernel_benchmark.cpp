// google-benchmark of every kernel (OPTKERN_FOR_EACH_ALGORITHM) x dtype x supported ISA x thread
// count x size, and in the same binary the memory ceilings the kernels are judged against: a loop
// with exactly each algorithm's traffic and no math, and a STREAM triad. Bytes/s is the rate
// counter; bench/kernel_report.py turns the JSON output into "% of the same-traffic ceiling".
//
// Every benchmark calls the kernel the Python step calls (through the same StepPlan, so threads,
// the serial grain and cache-line cuts are as in production), on one tensor. Extra flags, after
// google-benchmark's own:
//   --optkern_threads=1,2   thread counts (default: 1 and OpenMP's maximum)
//   --optkern_max_size=N    largest size (default 1e8; sizes are the powers of ten from 1e3)
//   --optkern_grain=N       elements per thread before another thread is used (default: the
//                           library's)
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "dispatch.h"
#include "optkern/kernel_table.h"
#include "optkern/params.h"
#include "work_plan_builder.h"

namespace {

using optkern::kMaxArrays;

// Arrays shared by all benchmarks: allocating and first-touching up to 4 GB per case would cost
// more than the case. Each case refills the prefix it uses, so every case starts from the same
// values whatever ran before it.
class Arena {
 public:
  std::vector<void*> prepare(std::int64_t elements, bool is_double) {
    const std::size_t bytes = static_cast<std::size_t>(elements) * 8 + 64;
    if (bytes > capacity_) {
      for (auto& buffer : buffers_) buffer.reset(static_cast<char*>(std::aligned_alloc(64, bytes)));
      capacity_ = bytes;
    }
    std::vector<void*> arrays;
    for (int role = 0; role < kMaxArrays; ++role) {
      void* data = buffers_[role].get();
      if (is_double) {
        fill(static_cast<double*>(data), elements, role);
      } else {
        fill(static_cast<float*>(data), elements, role);
      }
      arrays.push_back(data);
    }
    return arrays;
  }

 private:
  struct Free {
    void operator()(char* p) const { std::free(p); }
  };
  // Parameters and gradients in [-1, 1); states positive (square roots of them are taken).
  template <class T>
  static void fill(T* data, std::int64_t n, int role) {
    for (std::int64_t i = 0; i < n; ++i) {
      const T wave = static_cast<T>((i * (role + 3)) % 2048) / T(1024);
      data[i] = role < 2 ? wave - T(1) : T(0.25) + wave / T(4);
    }
  }
  std::unique_ptr<char, Free> buffers_[kMaxArrays + 1];  // the last: a master's 16-bit parameter
  std::size_t capacity_ = 0;

 public:
  // The arrays of a 16-bit storage case: each role stored as `storage` says (the float32 values
  // of prepare(), rounded to nearest), and with master weights the 16-bit parameter in a sixth
  // buffer, `rounded`.
  std::vector<void*> prepare_stored(std::int64_t elements, const optkern::TensorStorage& storage,
                                    void** rounded) {
    std::vector<void*> arrays = prepare(elements, false);
    // The baseline's conversions: every ISA's give the same bits, and this binary selects no
    // active table (active_kernels() is the Python module's choice).
    const optkern::KernelTable& kernels = optkern::kernel_table("baseline");
    std::vector<std::uint16_t> bits(static_cast<std::size_t>(elements));
    const auto round_into = [&](optkern::StoredAs as, const void* from, void* to) {
      const auto store =
          as == optkern::kStoredFloat16 ? optkern::kStoreFloat16 : optkern::kStoreBFloat16;
      kernels.convert[store](from, bits.data(), elements);
      std::memcpy(to, bits.data(), bits.size() * sizeof(std::uint16_t));
    };
    for (int role = 0; role < kMaxArrays; ++role) {
      const optkern::StoredAs as = storage.role[role];
      if (as != optkern::kStoredFloat32 && as != optkern::kUnbound) {
        round_into(as, arrays[static_cast<std::size_t>(role)],
                   arrays[static_cast<std::size_t>(role)]);
      }
    }
    *rounded = nullptr;
    if (storage.rounded_param != nullptr) {
      *rounded = buffers_[kMaxArrays].get();
      round_into(storage.rounded_as, arrays[optkern::kParamRole], *rounded);
    }
    return arrays;
  }
};

Arena& arena() {
  static Arena instance;
  return instance;
}

// Every coefficient 0.5 and every option off, except the options that are the steady state of a
// long run (RAdam is rectified from step 6 on). Values stay O(1): no subnormals, no overflow.
template <class Params>
Params typical_params() {
  Params hp{};
  Params::for_each_field(
      [&](const char* name, auto& field) {
        using Field = std::remove_reference_t<decltype(field)>;
        if constexpr (std::is_same_v<Field, bool>) {
          // RAdam's rectified branch, and the textbook Adam's float64 update (NumPy 2's rule).
          field =
              std::strcmp(name, "rectified") == 0 || std::strcmp(name, "update_in_float64") == 0;
        } else {
          field = 0.5;
        }
      },
      hp);
  return hp;
}

template <class Params>
int states_used(const Params& hp) {
  int states = 0;
  for (int role = 2; role < static_cast<int>(Params::kArrays.size()); ++role) {
    states += hp.needs_array(role) ? 1 : 0;
  }
  return states;
}

// Pointer table of one tensor: roles 2.. are the states in use, packed in role order as the
// kernels expect (unused roles point at the parameter, as TensorGroup::pointer_table does).
template <class Params>
std::vector<void*> pointer_table(const Params& hp, const std::vector<void*>& arrays) {
  std::vector<void*> table(kMaxArrays, arrays[optkern::kParamRole]);
  table[optkern::kGradRole] = arrays[optkern::kGradRole];
  for (int role = 2; role < static_cast<int>(Params::kArrays.size()); ++role) {
    const auto slot = static_cast<std::size_t>(role);
    if (hp.needs_array(role)) table[slot] = arrays[slot];
  }
  return table;
}

void report(benchmark::State& state, std::int64_t n, std::int64_t bytes_per_element, int states,
            int element_bytes) {
  state.SetBytesProcessed(state.iterations() * n * bytes_per_element);
  state.SetItemsProcessed(state.iterations() * n);
  state.counters["states"] = states;
  state.counters["element_bytes"] = element_bytes;
}

template <class Params>
void kernel_case(benchmark::State& state, optkern::StepKernel<Params> kernel, bool is_double,
                 std::int64_t n, int threads) {
  const Params hp = typical_params<Params>();
  const int element_bytes = is_double ? 8 : 4;
  const std::vector<void*> arrays = arena().prepare(n, is_double);
  const optkern::StepPlan plan(
      pointer_table(hp, arrays), {n}, element_bytes, threads,
      optkern::scaled_min_elements_per_thread(optkern::GrainScale<Params>::value));
  const optkern::StepCall call = plan.call();
  for (auto _ : state) {
    kernel(call, hp);
    benchmark::ClobberMemory();
  }
  const int states = states_used(hp);
  report(state, n, (3 + 2 * states) * element_bytes, states, element_bytes);
  state.counters["parts"] = plan.parts();
}

void ceiling_case(benchmark::State& state, optkern::CeilingKernel kernel, bool is_double,
                  std::int64_t n, int threads, int states, std::int64_t arrays_moved) {
  const int element_bytes = is_double ? 8 : 4;
  const std::vector<void*> arrays = arena().prepare(n, is_double);
  // The library's grain. One ceiling serves every algorithm with the same number of states, and
  // those may have different GrainScales (params.h: SGD 2, Adagrad 1), so with many threads or a
  // small --optkern_grain a kernel can run on fewer parts than its ceiling: compare the two
  // cases' `parts` counters. With the default grain and up to 3 threads, at the powers of ten
  // benchmarked, the parts agree.
  const optkern::StepPlan plan(arrays, {n}, element_bytes, threads,
                               optkern::min_elements_per_thread());
  const optkern::StepCall call = plan.call();
  for (auto _ : state) {
    kernel(call);
    benchmark::ClobberMemory();
  }
  report(state, n, arrays_moved * element_bytes, states, element_bytes);
  state.counters["parts"] = plan.parts();
}

// A 16-bit storage case of the converted kernels: how param, grad and states are stored, and
// whether a float32 master copy is updated and rounded into the 16-bit parameter.
struct StorageCase {
  const char* name;
  optkern::StoredAs param;
  optkern::StoredAs grad;
  optkern::StoredAs state;
  bool master_weights;
};

constexpr StorageCase kStorageCases[] = {
    {"bfloat16", optkern::kStoredBFloat16, optkern::kStoredBFloat16, optkern::kStoredFloat32,
     false},
    {"float16", optkern::kStoredFloat16, optkern::kStoredFloat16, optkern::kStoredFloat32, false},
    {"bfloat16-state16", optkern::kStoredBFloat16, optkern::kStoredBFloat16,
     optkern::kStoredBFloat16, false},
    {"bfloat16-master", optkern::kStoredBFloat16, optkern::kStoredBFloat16, optkern::kStoredFloat32,
     true},
};

int stored_bytes(optkern::StoredAs as) { return as == optkern::kStoredFloat32 ? 4 : 2; }

// Bytes per element of a storage case with `states` states: param (or master) and states read and
// written, gradient read, and a master's 16-bit parameter written.
std::int64_t storage_case_bytes(const StorageCase& c, int states) {
  const int param = c.master_weights ? 4 : stored_bytes(c.param);
  return 2 * param + stored_bytes(c.grad) + 2 * states * stored_bytes(c.state) +
         (c.master_weights ? stored_bytes(c.param) : 0);
}

// The TensorStorage row of a case for an algorithm whose bound roles are `bound`.
optkern::TensorStorage storage_row(const StorageCase& c, const std::vector<bool>& bound) {
  optkern::TensorStorage row{};
  row.role[optkern::kParamRole] = c.master_weights ? optkern::kStoredFloat32 : c.param;
  row.role[optkern::kGradRole] = c.grad;
  for (int role = 2; role < kMaxArrays; ++role) {
    row.role[role] = bound[static_cast<std::size_t>(role)] ? c.state : optkern::kUnbound;
  }
  row.rounded_as = c.param;
  return row;
}

// A converted step (or its ceiling) on one tensor stored as `c`: `run` is called with the call.
template <class Run>
void storage_case(benchmark::State& state, const StorageCase& c, const std::vector<bool>& bound,
                  std::int64_t n, int threads, std::int64_t min_elements, int states,
                  const Run& run) {
  optkern::TensorStorage row = storage_row(c, bound);
  row.rounded_param = c.master_weights ? &row : nullptr;  // non-null: prepare_stored allocates
  void* rounded = nullptr;
  std::vector<void*> arrays = arena().prepare_stored(n, row, &rounded);
  row.rounded_param = rounded;
  for (int role = 2; role < kMaxArrays; ++role) {
    if (!bound[static_cast<std::size_t>(role)]) arrays[static_cast<std::size_t>(role)] = arrays[0];
  }
  const optkern::StepPlan plan(arrays, {n}, c.master_weights ? 4 : stored_bytes(c.param), threads,
                               min_elements, {row});
  const optkern::StepCall call = plan.call();
  for (auto _ : state) {
    run(call);
    benchmark::ClobberMemory();
  }
  report(state, n, storage_case_bytes(c, states), states, stored_bytes(c.param));
  state.counters["parts"] = plan.parts();
}

template <class Params>
std::vector<bool> bound_roles(const Params& hp) {
  std::vector<bool> bound(kMaxArrays, false);
  bound[optkern::kParamRole] = bound[optkern::kGradRole] = true;
  for (int role = 2; role < static_cast<int>(Params::kArrays.size()); ++role) {
    bound[static_cast<std::size_t>(role)] = hp.needs_array(role);
  }
  return bound;
}

// The states-first roles of a ceiling with `states` states.
std::vector<bool> first_roles(int states) {
  std::vector<bool> bound(kMaxArrays, false);
  for (int role = 0; role < 2 + states; ++role) bound[static_cast<std::size_t>(role)] = true;
  return bound;
}

// The part of a case's name after the algorithm: /storage/isa/threads:t/n.
std::string case_suffix(const std::string& storage, const std::string& isa, int threads,
                        std::int64_t n) {
  return "/" + storage + "/" + isa + "/threads:" + std::to_string(threads) + "/" +
         std::to_string(n);
}

void in_real_microseconds(const std::vector<benchmark::internal::Benchmark*>& cases) {
  for (auto* registered : cases) registered->UseRealTime()->Unit(benchmark::kMicrosecond);
}

std::vector<int> parse_list(const std::string& text) {
  std::vector<int> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = text.find(',', start);
    out.push_back(std::stoi(text.substr(start, comma - start)));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

void register_all(const std::vector<int>& thread_counts, std::int64_t max_size) {
  const char* dtype_names[2] = {"float32", "float64"};
  for (const std::string& isa : optkern::supported_isas()) {
    const optkern::KernelTable& kernels = optkern::kernel_table(isa);
    for (int threads : thread_counts) {
      for (std::int64_t n = 1000; n <= max_size; n *= 10) {
        for (int dtype = 0; dtype < 2; ++dtype) {
          const bool is_double = dtype == optkern::kFloat64;
          // The Uniform storage signatures are one per dtype, in the same order.
          const auto signature = static_cast<optkern::StorageSignature>(dtype);
          const std::string suffix = case_suffix(dtype_names[dtype], isa, threads, n);
          std::vector<benchmark::internal::Benchmark*> cases;
#define OPTKERN_REGISTER(name, Params)                                                     \
  cases.push_back(benchmark::RegisterBenchmark(                                            \
      (#name + suffix).c_str(),                                                            \
      [kernel = kernels.name[signature], is_double, n, threads](benchmark::State& state) { \
        kernel_case<optkern::Params<double>>(state, kernel, is_double, n, threads);        \
      }));
          OPTKERN_FOR_EACH_ALGORITHM(OPTKERN_REGISTER)
#undef OPTKERN_REGISTER
          for (int states = 0; states < kMaxArrays - 1; ++states) {
            const auto kernel = kernels.same_traffic[states][signature];
            cases.push_back(benchmark::RegisterBenchmark(
                ("ceiling:states=" + std::to_string(states) + suffix).c_str(),
                [=](benchmark::State& state) {
                  ceiling_case(state, kernel, is_double, n, threads, states, 3 + 2 * states);
                }));
          }
          const auto triad = kernels.triad[signature];
          cases.push_back(benchmark::RegisterBenchmark(
              ("triad" + suffix).c_str(), [=](benchmark::State& state) {
                ceiling_case(state, triad, is_double, n, threads, 1, 3);
              }));
          in_real_microseconds(cases);
        }
        for (const StorageCase& c : kStorageCases) {
          const std::string suffix = case_suffix(c.name, isa, threads, n);
          std::vector<benchmark::internal::Benchmark*> cases;
#define OPTKERN_REGISTER(name, Params)                                                           \
  cases.push_back(benchmark::RegisterBenchmark(                                                  \
      (#name + suffix).c_str(),                                                                  \
      [kernel = kernels.name[optkern::kConverted], c, n, threads](benchmark::State& state) {     \
        using P = optkern::Params<double>;                                                       \
        const P hp = typical_params<P>();                                                        \
        storage_case(state, c, bound_roles(hp), n, threads,                                      \
                     optkern::scaled_min_elements_per_thread(optkern::GrainScale<P>::value),     \
                     states_used(hp), [&](const optkern::StepCall& call) { kernel(call, hp); }); \
      }));
          OPTKERN_FOR_EACH_ALGORITHM(OPTKERN_REGISTER)
#undef OPTKERN_REGISTER
          for (int states = 0; states < kMaxArrays - 1; ++states) {
            const auto kernel = kernels.same_traffic[states][optkern::kConverted];
            cases.push_back(benchmark::RegisterBenchmark(
                ("ceiling:states=" + std::to_string(states) + suffix).c_str(),
                [=](benchmark::State& state) {
                  storage_case(state, c, first_roles(states), n, threads,
                               optkern::min_elements_per_thread(), states,
                               [&](const optkern::StepCall& call) { kernel(call); });
                }));
          }
          in_real_microseconds(cases);
        }
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  std::vector<int> thread_counts = {1};
  if (optkern::max_threads() > 1) thread_counts.push_back(optkern::max_threads());
  std::int64_t max_size = 100000000;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--optkern_threads=", 0) == 0) {
      thread_counts = parse_list(arg.substr(18));
    } else if (arg.rfind("--optkern_max_size=", 0) == 0) {
      max_size = static_cast<std::int64_t>(std::stod(arg.substr(19)));
    } else if (arg.rfind("--optkern_grain=", 0) == 0) {
      optkern::set_min_elements_per_thread(std::stoll(arg.substr(16)));
    } else {
      std::cerr << "unknown argument " << arg << "\n";
      return 2;
    }
  }
  register_all(thread_counts, max_size);
  benchmark::AddCustomContext("optkern_grain", std::to_string(optkern::min_elements_per_thread()));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
