// The evaluation report: report.json (for machines; schema in docs/EVAL.md) is built first,
// and report.md and report.html (self-contained: inline CSS and SVG, no scripts, no
// network) are rendered from it, so the three always say the same.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "eval/binary_metrics.h"
#include "eval/bootstrap.h"
#include "eval/gates.h"
#include "eval/scores.h"

namespace kiln::eval {

struct Scored {
  std::string name;    // "model", a baseline's name
  std::string source;  // the scores file, or "prior"
  BinaryAccumulator rows;
};

// The config section `eval`.
struct EvalOptions {
  std::vector<std::string> gates;  // e.g. "auroc >= 0.80"; a failed gate exits 3
  int64_t bootstrap = 1000;        // replicates for confidence intervals; 0: none
  double level = 0.95;             // confidence level of the intervals
  double threshold = 0.5;          // precision/recall/F1 at this score
  int64_t calibration_bins = 10;   // equal-width bins for ECE and the reliability diagram
  ComputeDevice device = ComputeDevice::kAuto;  // where bootstrap replicates run

  template <class V>
  void visit(V& v) {
    v("gates", gates,
      "gate expressions, e.g. 'auroc >= 0.80' (docs/EVAL.md); a failed gate exits 3");
    v("bootstrap", bootstrap, "bootstrap replicates for confidence intervals (0: none)");
    v("level", level, "confidence level of the intervals");
    v("threshold", threshold, "precision, recall and F1 are reported at this score threshold");
    v("calibration_bins", calibration_bins, "equal-width bins for ECE and the reliability diagram");
    v("device", device,
      "where bootstrap replicates run: auto (the GPU for unweighted scores of 100000 rows or "
      "more, when there is one), cpu, or cuda (unweighted scores; weighted ones stay on the CPU)");
  }
};

struct ReportOptions {
  BinaryOptions metrics;
  BootstrapOptions bootstrap;
  std::vector<std::string> gates;
};

// ConfigError (78) naming the key for values out of range; gates are parsed too.
ReportOptions report_options(const EvalOptions& options, uint64_t seed);

// Evaluates the model and every baseline (same rows and labels), compares each baseline
// with the model, evaluates the gates, and returns report.json. `provenance` (lineage,
// data fingerprint, ...) is recorded as it is. ConfigError for a bad gate, DataError for
// bad rows.
nlohmann::ordered_json evaluate(const Scored& model, const std::vector<Scored>& baselines,
                                const ReportOptions& options,
                                const nlohmann::ordered_json& provenance);

// The prior baseline: every row scored with the (weighted) prevalence of its labels.
Scored prior_baseline(const BinaryAccumulator& rows);

// A scores file (eval/scores.h) as the input `name`.
Scored scored_file(const std::string& name, const std::string& path,
                   const ScoreColumns& columns = {});

// report.json, report.md and report.html into `dir` (created), each atomically.
// OutputError naming the path. Returns report.json's text.
std::string write_report(const std::string& dir, const nlohmann::ordered_json& report);
// The same for another report's renderings (kiln drift's). Returns report.json's text.
std::string write_report_files(const std::string& dir, const nlohmann::ordered_json& report,
                               const std::string& markdown, const std::string& html);

// GateFailedError (exit 3) listing every failed gate of `report` with its two sides;
// nothing when all passed.
void check_gates(const nlohmann::ordered_json& report);

std::string render_markdown(const nlohmann::ordered_json& report);
// `v` printed with `format` (printf, one double), or "n/a" when it is not a number: the one
// writer of the reports' numbers that may be missing (eval's, drift's, the pipeline's).
std::string format_number(const nlohmann::ordered_json& v, const char* format = "%.4f");

// The verdict and a table of a report's "gates" (gate, passed, left, right), or "" when it
// has none: eval's and drift's.
std::string gates_markdown(const nlohmann::ordered_json& report);
std::string gates_html(const nlohmann::ordered_json& report);
std::string render_html(const nlohmann::ordered_json& report);

}  // namespace kiln::eval
