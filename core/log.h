// Logging to stderr through spdlog, as text or as JSON lines. stdout stays for the
// command's own output (--json).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "core/config_types.h"

namespace kiln::core {

enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError, kOff };
enum class LogFormat { kText, kJson };
inline EnumNames<LogLevel> enum_names(LogLevel) {
  static constexpr std::pair<LogLevel, std::string_view> names[] = {
      {LogLevel::kTrace, "trace"}, {LogLevel::kDebug, "debug"}, {LogLevel::kInfo, "info"},
      {LogLevel::kWarn, "warn"},   {LogLevel::kError, "error"}, {LogLevel::kOff, "off"}};
  return names;
}
inline EnumNames<LogFormat> enum_names(LogFormat) {
  static constexpr std::pair<LogFormat, std::string_view> names[] = {{LogFormat::kText, "text"},
                                                                     {LogFormat::kJson, "json"}};
  return names;
}

struct LogOptions {
  LogLevel level = LogLevel::kInfo;     // the least severe message written
  LogFormat format = LogFormat::kText;  // json: one JSON object a line on stderr
  // What `kiln fit` exports besides metrics.jsonl (docs/TRAINING.md, "Watching a run").
  bool tensorboard = true;          // events.out.tfevents.* in the run directory
  int64_t tensorboard_every = 20;   // steps between train/loss and lr points
  std::string prometheus_textfile;  // a node_exporter textfile kept up to date; "": none

  template <class V>
  void visit(V& v) {
    v("level", level, "least severe message written: trace, debug, info, warn, error or off");
    v("format", format, "text, or json for one JSON object a line on stderr");
    v("tensorboard", tensorboard,
      "kiln fit writes TensorBoard event files (events.out.tfevents.*) in the run directory");
    v("tensorboard_every", tensorboard_every,
      "steps between the event files' train/loss and lr points (on a GPU losses come back "
      "64 steps at a time, so points are at most that dense)");
    v("prometheus_textfile", prometheus_textfile,
      "a node_exporter textfile (PATH.prom) kiln fit keeps up to date (the same as "
      "--metrics-file); \"\": none");
  }
};

// Sets spdlog's default logger to write to stderr with these options.
// Call from main() (or a command) before other threads start.
void init_logging(const LogOptions& options);

// The current time in UTC as ISO 8601 to the second: "2026-11-26T21:30:00Z".
std::string utc_timestamp();
// A time given in unix seconds, in the same form.
std::string utc_timestamp(double unix_seconds);

// One message through the default logger, for code that cannot include spdlog (trainer/:
// LibTorch ships its own fmt).
void log_info(const std::string& message);
void log_warn(const std::string& message);

}  // namespace kiln::core
