// A one-line progress bar on stderr, drawn only for a person at a terminal.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace kiln::core {

// True when stderr is a terminal and neither CI nor NO_COLOR is set (to anything).
bool progress_enabled_for(bool stderr_is_tty, const char* ci_env, const char* no_color_env);
bool progress_enabled();

// The bar's text for `done` of `total` units (total <= 0: unknown) after `elapsed_s`:
// "label [#####-----]  50% 500/1000 status ETA 0:10", at most `width` columns.
std::string render_progress(std::string_view label, int64_t done, int64_t total, double elapsed_s,
                            std::string_view status, int width);

// Not thread-safe: one thread drives a bar. Does nothing when progress is not enabled.
class ProgressBar {
 public:
  ProgressBar(std::string label, int64_t total);
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // Redraws at most ten times a second, and always when done == total.
  void update(int64_t done, std::string_view status = {});
  // Ends the line; called by the destructor when not called before.
  void finish();
  bool enabled() const { return enabled_; }

 private:
  std::string label_;
  int64_t total_;
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace kiln::core
