#include "core/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace kiln::core {

bool progress_enabled_for(bool stderr_is_tty, const char* ci_env, const char* no_color_env) {
  return stderr_is_tty && ci_env == nullptr && no_color_env == nullptr;
}

bool progress_enabled() {
  return progress_enabled_for(::isatty(STDERR_FILENO) == 1, std::getenv("CI"),
                              std::getenv("NO_COLOR"));
}

namespace {
std::string clock_text(double seconds) {
  long s = static_cast<long>(seconds + 0.5);
  char out[32];
  if (s >= 3600)
    std::snprintf(out, sizeof out, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  else
    std::snprintf(out, sizeof out, "%ld:%02ld", s / 60, s % 60);
  return out;
}
}  // namespace

std::string render_progress(std::string_view label, int64_t done, int64_t total, double elapsed_s,
                            std::string_view status, int width) {
  std::string head(label);
  std::string tail;
  if (total > 0) {
    double fraction = std::clamp(static_cast<double>(done) / static_cast<double>(total), 0.0, 1.0);
    char numbers[96];
    std::snprintf(numbers, sizeof numbers, " %3d%% %lld/%lld", static_cast<int>(fraction * 100),
                  static_cast<long long>(done), static_cast<long long>(total));
    tail = numbers;
    if (!status.empty()) tail += " " + std::string(status);
    if (done > 0 && done < total) {
      tail += " ETA " +
              clock_text(elapsed_s * static_cast<double>(total - done) / static_cast<double>(done));
    } else {
      tail += " " + clock_text(elapsed_s);
    }
    int bar = std::min(30, width - static_cast<int>(head.size() + tail.size()) - 3);
    if (bar >= 5) {
      int filled = static_cast<int>(fraction * bar);
      head += " [" + std::string(filled, '#') + std::string(bar - filled, '-') + "]";
    }
  } else {
    tail = " " + std::to_string(done);
    if (!status.empty()) tail += " " + std::string(status);
    tail += " " + clock_text(elapsed_s);
  }
  std::string line = head + tail;
  if (static_cast<int>(line.size()) > width) line.resize(std::max(width, 0));
  return line;
}

ProgressBar::ProgressBar(std::string label, int64_t total)
    : label_(std::move(label)),
      total_(total),
      enabled_(progress_enabled()),
      start_(std::chrono::steady_clock::now()) {}

ProgressBar::~ProgressBar() {
  finish();
}

void ProgressBar::update(int64_t done, std::string_view status) {
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (drawn_ && done != total_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  struct winsize size = {};
  int width = ::ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0 ? size.ws_col : 80;
  double elapsed = std::chrono::duration<double>(now - start_).count();
  std::string line = render_progress(label_, done, total_, elapsed, status, width - 1);
  std::fprintf(stderr, "\r%s\033[K", line.c_str());
  std::fflush(stderr);
  drawn_ = true;
}

void ProgressBar::finish() {
  if (!enabled_ || !drawn_) return;
  std::fputc('\n', stderr);
  std::fflush(stderr);
  drawn_ = false;
}

}  // namespace kiln::core
