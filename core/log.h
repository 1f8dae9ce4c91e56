// Logging to stderr through spdlog, as text or as JSON lines. stdout stays for the
// command's own output (--json).
#pragma once

#include <string>

namespace kiln::core {

struct LogOptions {
  std::string level = "info";   // trace, debug, info, warn, error or off
  std::string format = "text";  // text, or json: one JSON object a line on stderr

  template <class V>
  void visit(V& v) {
    v("level", level, "least severe message written: trace, debug, info, warn, error or off");
    v("format", format, "text, or json for one JSON object a line on stderr");
  }
};

// Throws ConfigError naming log.level or log.format when a value is not an allowed one.
void validate(const LogOptions& options);

// Sets spdlog's default logger to write to stderr with these options (validated first).
// Call from main() (or a command) before other threads start.
void init_logging(const LogOptions& options);

// The current time in UTC as ISO 8601 to the second: "2026-11-26T21:30:00Z".
std::string utc_timestamp();

// One message through the default logger, for code that cannot include spdlog (trainer/:
// LibTorch ships its own fmt).
void log_info(const std::string& message);
void log_warn(const std::string& message);

}  // namespace kiln::core
