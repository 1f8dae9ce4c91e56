#include "core/signals.h"

#include <atomic>

namespace kiln::core {
namespace {

std::atomic<int> g_signal{0};

extern "C" void on_stop_signal(int signal) {
  int expected = 0;
  g_signal.compare_exchange_strong(expected, signal);
}

}  // namespace

StopSignals::StopSignals(std::initializer_list<int> signals)
    : signals_(signals), old_(signals.size()) {
  g_signal = 0;
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  for (std::size_t i = 0; i < signals_.size(); ++i)
    sigaction(signals_[i], &action, &old_[i]);
}

StopSignals::~StopSignals() {
  for (std::size_t i = 0; i < signals_.size(); ++i) {
    if (received() != 0)
      std::signal(signals_[i], SIG_IGN);
    else
      sigaction(signals_[i], &old_[i], nullptr);
  }
}

int StopSignals::received() const {
  return g_signal.load();
}

}  // namespace kiln::core
