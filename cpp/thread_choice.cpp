// ThreadChoice's rule (thread_choice.h). Compiled once, with baseline flags: bookkeeping only.
#include "thread_choice.h"

#include <algorithm>
#include <stdexcept>

namespace optkern {

namespace {
// Durations beyond this (about 11 days) are clamped, so that the waits below cannot overflow.
constexpr std::int64_t kLongest = std::int64_t{1} << 50;

std::int64_t clamped(std::int64_t ns) { return std::clamp<std::int64_t>(ns, 0, kLongest); }
}  // namespace

std::size_t ThreadChoice::index(int workload) {
  if (workload < 0 || workload >= kWorkloads) {
    throw std::invalid_argument("ThreadChoice: workload must be in [0, 4)");
  }
  return static_cast<std::size_t>(workload);
}

std::int64_t ThreadChoice::estimate(const Workload& w) {
  // The fastest of the last few: a serial step slowed by something else (the first step's page
  // faults on new state arrays, a preemption, caches another library emptied) must not make the
  // threads look better than they are. Erring low errs towards one thread, the safe side; the
  // window lets the estimate rise again when one thread really got slower.
  if (w.serial_count == 0) return 0;
  const auto end = w.serial.begin() + w.serial_count;
  return *std::min_element(w.serial.begin(), end);
}

std::int64_t ThreadChoice::wait_after(const Workload& w, std::int64_t loss_ns,
                                      std::int64_t step_ns) {
  return (kProbeRatio << w.doublings) * std::max(clamped(loss_ns), clamped(step_ns));
}

bool ThreadChoice::next_is_parallel(int workload) {
  const std::lock_guard<std::mutex> lock(mutex_);
  Workload& w = at(workload);
  // Two serial steps first: the estimate a parallel step must beat. One thread is the safe start,
  // as it is never slower than one thread.
  w.probing = w.serial_count >= 2 && w.spent_ns >= w.budget_ns;
  if (w.serial_count < 2) return false;
  return w.probing ? !w.parallel : w.parallel;
}

void ThreadChoice::record(int workload, bool parallel, std::int64_t nanoseconds) {
  const std::lock_guard<std::mutex> lock(mutex_);
  Workload& w = at(workload);
  const std::int64_t fake = parallel ? fake_parallel_ns_ : fake_serial_ns_;
  const std::int64_t ns = clamped(fake > 0 ? fake : nanoseconds);
  const bool probe = w.probing;
  w.probing = false;
  if (!parallel) {
    w.serial[static_cast<std::size_t>(w.serial_next)] = ns;
    w.serial_next = (w.serial_next + 1) % kSerialSamples;
    w.serial_count = std::min(w.serial_count + 1, kSerialSamples);
    if (probe && w.parallel) {
      // A serial step among parallel ones: it refreshes the estimate the parallel steps are
      // measured against, and cost what one thread loses against the threads.
      ++w.probes;
      w.budget_ns = wait_after(w, ns - w.last_parallel_ns, w.last_parallel_ns);
      w.doublings = std::min(w.doublings + 1, kMaxDoublings);
      w.spent_ns = 0;
    } else {
      w.spent_ns += ns;
    }
    return;
  }
  const std::int64_t serial = estimate(w);
  const bool slower = ns > serial;
  w.last_parallel_ns = ns;
  if (!w.parallel) {  // a probe: parallel steps are handed out in serial mode only as probes
    ++w.probes;
    w.spent_ns = 0;
    if (slower && !w.struck) {
      // The first probe that failed since threads last helped (or since the start, when the
      // first parallel region also starts the OpenMP threads) is retried soon: one unlucky step
      // must not keep a machine's threads unused for long.
      w.struck = true;
      w.budget_ns = kProbeRatio * serial;
    } else if (slower) {  // stay on one thread, and wait longer after each probe that failed
      w.budget_ns = wait_after(w, ns - serial, serial);
      w.doublings = std::min(w.doublings + 1, kMaxDoublings);
    } else {
      w.parallel = true;
      w.struck = false;
      w.slower.fill(false);
      w.slower_next = 0;
      w.doublings = 0;
      w.budget_ns = wait_after(w, serial - ns, ns);
    }
    return;
  }
  w.slower[static_cast<std::size_t>(w.slower_next)] = slower;
  w.slower_next = (w.slower_next + 1) % kParallelWindow;
  w.spent_ns += ns;
  if (std::count(w.slower.begin(), w.slower.end(), true) >= kSlowerToFallBack) {
    w.parallel = false;
    w.struck = true;  // two slow steps of three: no quick retry
    ++w.fallbacks;
    w.doublings = 0;
    w.budget_ns = wait_after(w, ns - serial, serial);
    w.spent_ns = 0;
  }
}

void ThreadChoice::reset() {
  const std::lock_guard<std::mutex> lock(mutex_);
  workloads_.fill(Workload{});
}

void ThreadChoice::set_fake_durations(std::int64_t serial_ns, std::int64_t parallel_ns) {
  if (serial_ns < 0 || parallel_ns < 0) {
    throw std::invalid_argument("ThreadChoice: fake durations must be >= 0");
  }
  const std::lock_guard<std::mutex> lock(mutex_);
  fake_serial_ns_ = serial_ns;
  fake_parallel_ns_ = parallel_ns;
}

std::int64_t ThreadChoice::serial_estimate_ns(int workload) const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return estimate(at(workload));
}

bool ThreadChoice::in_parallel_mode(int workload) const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return at(workload).parallel;
}

std::int64_t ThreadChoice::probes(int workload) const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return at(workload).probes;
}

std::int64_t ThreadChoice::fallbacks(int workload) const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return at(workload).fallbacks;
}

}  // namespace optkern
