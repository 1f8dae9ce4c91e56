// Metrics for Prometheus in a node_exporter textfile (text format 0.0.4): long-running
// commands (`kiln fit`, `kiln sweep worker`) keep one file up to date, which node_exporter's
// textfile collector exports (docs/TRAINING.md, "Watching a run"). Each write replaces the
// file atomically (a temporary file in the same directory, renamed: core::replace_file, no
// fsync), so a reader sees the old or the new content whole; no sample has a timestamp
// (node_exporter skips files that do).
#pragma once

#include <chrono>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kiln::core {

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

class TextfileMetrics {
 public:
  // No path: every call does nothing. `labels` go on every sample (run, experiment, rank).
  TextfileMetrics() = default;
  TextfileMetrics(std::string path, MetricLabels labels);

  bool enabled() const { return !path_.empty(); }
  const std::string& path() const { return path_; }

  // Sets the sample of metric `name` (its type "gauge" or "counter" and HELP text given the
  // first time; families are written in the order first set) with these labels besides the
  // common ones.
  void set(const std::string& name, const char* type, const char* help, double value,
           const MetricLabels& labels = {});
  // A state gauge: one sample per state in `states` under label "state", 1 for `current`
  // and 0 for the others.
  void set_state(const std::string& name, const char* help,
                 std::initializer_list<const char*> states, std::string_view current);
  // A gauge of the Unix time now: the command's last sign of life.
  void set_heartbeat(const std::string& name, const char* help);

  // Writes the file now. Throws OutputError naming it when it cannot.
  void write();
  // Writes it when the last write is at least `every` old.
  void write_every(std::chrono::milliseconds every);

  // The file's text.
  std::string text() const;

 private:
  struct Sample {
    MetricLabels labels;
    double value = 0;
  };
  struct Family {
    std::string name, type, help;
    std::vector<Sample> samples;
  };
  std::string path_;
  MetricLabels labels_;
  std::vector<Family> families_;
  std::chrono::steady_clock::time_point written_{};
};

// `path` with ".rank<r>" before its extension when rank > 0 (fit.prom -> fit.rank1.prom):
// the file of one rank of a data-parallel job, whose ranks share a command line.
std::string rank_path(const std::string& path, int rank);

}  // namespace kiln::core
