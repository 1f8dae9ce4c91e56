// Stop signals as a flag: `kiln fit` checkpoints at the next step boundary and `kiln sweep
// worker` passes the signal to its trial, instead of dying in the middle of a write.
#pragma once

#include <csignal>
#include <initializer_list>
#include <vector>

namespace kiln::core {

// While alive, the given signals set a process-wide flag (the first signal wins; later ones
// change nothing). On destruction the old handlers come back, unless a signal was received:
// then the process is on its way out (exit 75) and they stay ignored, so that a second
// signal cannot kill it between its checkpoint and its exit. One object at a time.
class StopSignals {
 public:
  explicit StopSignals(std::initializer_list<int> signals);
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  // The first signal received, or 0.
  int received() const;

 private:
  std::vector<int> signals_;
  std::vector<struct sigaction> old_;
};

}  // namespace kiln::core
