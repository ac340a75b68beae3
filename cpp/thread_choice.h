// ThreadChoice: whether an optimizer's next step runs on its default thread count or on one
// thread, decided from how long its own steps took (issue 19, README "ISAs and threads").
//
// A parallel step is only as fast as its slowest thread. When another process (or another
// library's spinning threads: a BLAS after a matrix product) holds a CPU, the OS may not run one
// of the step's OpenMP threads for a whole scheduler time slice (10-15 ms), and the step waits
// for it at the join barrier, whatever its size. So the choice is measured, not predicted: the
// step's time on one thread (the fastest of its last kSerialSamples serial steps) against each
// parallel step's time. Results never depend on the thread count (the work is element-wise and
// cut at fixed boundaries), so this changes only how long a step takes.
//
// Pure bookkeeping on the durations it is given: PreparedStep (prepared_step.h) times the
// kernels with a monotonic clock and records them here, and the tests drive it with made-up
// durations (optkern._core.ThreadChoice).
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <mutex>

namespace optkern {

class ThreadChoice {
 public:
  // Steps of one optimizer differ in their work by their options (a clip or skip pass over the
  // gradients, a fused EMA), so each kind has its own estimates: workload 0 is a plain step, +1
  // with the statistics pass, +2 with an EMA.
  static constexpr int kWorkloads = 4;
  // Serial durations kept for the estimate (their minimum: a slowed step does not raise it).
  static constexpr int kSerialSamples = 3;
  // A parallel run falls back to one thread when this many of its last kParallelWindow steps
  // were slower than the serial estimate (not one: a single step can be preempted on any count).
  static constexpr int kParallelWindow = 3;
  static constexpr int kSlowerToFallBack = 2;
  // A probe of the other thread count costs at most what it loses against the current one; the
  // next probe waits until this many times that loss (or at least this many steps) was spent in
  // the current mode, so probing costs at most 1/kProbeRatio of the time...
  static constexpr std::int64_t kProbeRatio = 32;
  // ... and each probe that confirms the current mode doubles the wait, up to 2^kMaxDoublings.
  // (Except the first failed parallel probe since threads last helped: it is retried after
  // kProbeRatio serial steps, whatever it lost.)
  static constexpr int kMaxDoublings = 6;

  // True: run the next step of `workload` on the default thread count; false: on one thread.
  bool next_is_parallel(int workload);
  // The kernels of a step of `workload` took `nanoseconds` on the default threads (`parallel`) or
  // on one thread. Replaced by the fake durations when set (set_fake_durations).
  void record(int workload, bool parallel, std::int64_t nanoseconds);

  // Forgets every estimate (the step's work changed: other arrays are bound); keeps the fakes.
  void reset();

  // Tests only: record() takes these instead of the measured durations (0, 0: measured again).
  void set_fake_durations(std::int64_t serial_ns, std::int64_t parallel_ns);

  // For tests and reports: the serial estimate of `workload` (0 before any serial step), whether
  // it runs parallel now, and the steps its parallel probes and fallbacks took so far.
  std::int64_t serial_estimate_ns(int workload) const;
  bool in_parallel_mode(int workload) const;
  std::int64_t probes(int workload) const;
  std::int64_t fallbacks(int workload) const;

 private:
  struct Workload {
    std::array<std::int64_t, kSerialSamples> serial{};  // ring of the last serial durations
    int serial_count = 0;                               // samples in it (up to kSerialSamples)
    int serial_next = 0;
    std::array<bool, kParallelWindow> slower{};  // ring: last parallel steps slower than serial?
    int slower_next = 0;
    bool parallel = false;  // the current mode
    std::int64_t last_parallel_ns = 0;
    std::int64_t spent_ns = 0;   // time spent in the current mode since the last probe
    std::int64_t budget_ns = 0;  // probe the other mode once spent_ns reaches it
    int doublings = 0;           // of the wait, by probes that confirmed the current mode
    bool struck = false;         // a parallel probe failed since threads last helped
    bool probing = false;        // the step handed out is a probe of the other mode
    std::int64_t probes = 0;
    std::int64_t fallbacks = 0;
  };

  static std::int64_t estimate(const Workload& w);
  static std::int64_t wait_after(const Workload& w, std::int64_t loss_ns, std::int64_t step_ns);
  // The index of `workload`; throws std::invalid_argument outside [0, kWorkloads).
  static std::size_t index(int workload);
  Workload& at(int workload) { return workloads_[index(workload)]; }
  const Workload& at(int workload) const { return workloads_[index(workload)]; }

  mutable std::mutex mutex_;  // an optimizer steps from one thread at a time; this is cheap
  std::array<Workload, kWorkloads> workloads_{};
  std::int64_t fake_serial_ns_ = 0;
  std::int64_t fake_parallel_ns_ = 0;
};

}  // namespace optkern
