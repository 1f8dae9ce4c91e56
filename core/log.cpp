#include "core/log.h"

#include <spdlog/details/null_mutex.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>

#include "core/errors.h"

namespace kiln::core {
namespace {

// One JSON object a line: {"time": ISO-8601 UTC, "level": ..., "message": ...}.
class JsonStderrSink final : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    using namespace std::chrono;
    auto since_epoch = duration_cast<microseconds>(msg.time.time_since_epoch()).count();
    std::time_t seconds = static_cast<std::time_t>(since_epoch / 1000000);
    std::tm utc;
    gmtime_r(&seconds, &utc);
    char stamp[40];
    std::size_t n = std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);
    std::snprintf(stamp + n, sizeof stamp - n, ".%06lldZ",
                  static_cast<long long>(since_epoch % 1000000));
    nlohmann::json line = {
        {"time", stamp},
        {"level", spdlog::level::to_string_view(msg.level).data()},
        {"message", std::string(msg.payload.data(), msg.payload.size())},
    };
    std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    std::fwrite(text.data(), 1, text.size(), stderr);
    std::fflush(stderr);
  }
  void flush_() override { std::fflush(stderr); }
};

}  // namespace

void init_logging(const LogOptions& options) {
  static constexpr spdlog::level::level_enum levels[] = {spdlog::level::trace, spdlog::level::debug,
                                                         spdlog::level::info,  spdlog::level::warn,
                                                         spdlog::level::err,   spdlog::level::off};
  const spdlog::level::level_enum level = levels[static_cast<int>(options.level)];
  std::shared_ptr<spdlog::logger> logger;
  if (options.format == LogFormat::kJson) {
    logger = std::make_shared<spdlog::logger>("kiln", std::make_shared<JsonStderrSink>());
  } else {
    logger =
        std::make_shared<spdlog::logger>("kiln", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
  }
  logger->set_level(level);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(std::move(logger));
}

void log_info(const std::string& message) {
  spdlog::info("{}", message);
}

void log_warn(const std::string& message) {
  spdlog::warn("{}", message);
}

std::string utc_timestamp() {
  return utc_timestamp(static_cast<double>(std::time(nullptr)));
}

std::string utc_timestamp(double unix_seconds) {
  const std::time_t when = static_cast<std::time_t>(unix_seconds);
  std::tm utc{};
  gmtime_r(&when, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

}  // namespace kiln::core
