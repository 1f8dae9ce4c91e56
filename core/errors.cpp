#include "core/errors.h"

#include <cstring>

namespace kiln {

std::string_view exit_code_name(ExitCode code) {
  switch (code) {
    case ExitCode::kOk:
      return "ok";
    case ExitCode::kInternal:
      return "internal_error";
    case ExitCode::kGateFailed:
      return "gate_failed";
    case ExitCode::kDiverged:
      return "diverged";
    case ExitCode::kConflict:
      return "conflict";
    case ExitCode::kUsage:
      return "bad_command_line";
    case ExitCode::kBadData:
      return "bad_data";
    case ExitCode::kNoInput:
      return "input_missing";
    case ExitCode::kUnavailable:
      return "unavailable";
    case ExitCode::kIoError:
      return "output_error";
    case ExitCode::kPreempted:
      return "preempted";
    case ExitCode::kBadConfig:
      return "bad_config";
  }
  return "unknown";
}

std::string errno_text(int err) {
  char buffer[256];
  // GNU strerror_r returns the message pointer, which may or may not be `buffer`.
  return ::strerror_r(err, buffer, sizeof buffer);
}

namespace detail {
void assert_fail(const char* file, int line, const char* cond, const std::string& msg) {
  throw InternalError(concat("internal error at ", file, ":", line, ": ", cond, " failed",
                             msg.empty() ? "" : ": ", msg));
}
}  // namespace detail

}  // namespace kiln
