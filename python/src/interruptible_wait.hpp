// Waiting on a load from Python's thread: the GIL is released while waiting, and Ctrl-C works.
#pragma once

#include <chrono>

#include <pybind11/pybind11.h>

#include "load_job.hpp"

namespace ringload::python {

// Calls `step(slice)` -- one bounded wait that returns true when done -- with the GIL released,
// until it is done or `timeout_s` has passed (timeout_s < 0: no limit); returns whether it is done.
// Between steps Python's signal handlers run (every 10 ms): if one raises (Ctrl-C's
// KeyboardInterrupt), the job is cancelled and waited out -- its reads drained, its memory freed --
// and then the exception propagates.
template <class Step>
bool wait_interruptibly(LoadJob& job, double timeout_s, Step&& step) {
  using Clock = std::chrono::steady_clock;
  constexpr std::chrono::milliseconds kSlice{10};
  const bool bounded = timeout_s >= 0;
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(bounded ? timeout_s : 0.0));
  while (true) {
    auto wait = kSlice;
    if (bounded) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      wait = std::max(std::chrono::milliseconds{0}, std::min(wait, left));
    }
    bool done = false;
    {
      const pybind11::gil_scoped_release unlocked;
      done = step(wait);
    }
    if (done) return true;
    if (PyErr_CheckSignals() != 0) {
      job.cancel();
      {
        const pybind11::gil_scoped_release unlocked;
        while (!job.wait_finished_for(std::chrono::seconds{1})) {
        }
      }
      throw pybind11::error_already_set();
    }
    if (bounded && Clock::now() >= deadline) return false;
  }
}

}  // namespace ringload::python
