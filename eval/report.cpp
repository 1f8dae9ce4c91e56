#include "eval/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <future>
#include <limits>
#include <sstream>

#include "core/build_info.h"
#include "core/errors.h"
#include "core/files.h"
#include "core/json_fields.h"
#include "eval/svg.h"

namespace kiln::eval {
namespace {

using json = nlohmann::ordered_json;

json with_interval(double value, const Replicates& replicates, const char* name, double level) {
  json out{{"value", core::finite_or_null(value)}};
  auto it = replicates.find(name);
  if (it != replicates.end() && !it->second.empty() && std::isfinite(value)) {
    Interval i = percentile_interval(it->second, level);
    out["ci_low"] = core::finite_or_null(i.low);
    out["ci_high"] = core::finite_or_null(i.high);
  }
  return out;
}

json metrics_json(const BinaryMetrics& m, const Replicates& r, double level) {
  json out;
  out["auroc"] = with_interval(m.auroc, r, "auroc", level);
  out["ap"] = with_interval(m.average_precision, r, "ap", level);
  out["log_loss"] = with_interval(m.log_loss, r, "log_loss", level);
  out["brier"] = with_interval(m.brier, r, "brier", level);
  out["ece"] = {{"value", core::finite_or_null(m.ece)}};
  out["ks"] = {{"value", m.ks}, {"threshold", m.ks_threshold}};
  out["precision"] = {{"value", m.at_threshold.precision}, {"threshold", m.at_threshold.threshold}};
  out["recall"] = {{"value", m.at_threshold.recall}, {"threshold", m.at_threshold.threshold}};
  out["f1"] = {{"value", m.at_threshold.f1}, {"threshold", m.at_threshold.threshold}};
  out["best_f1"] = {{"value", m.best_f1.f1},
                    {"threshold", m.best_f1.threshold},
                    {"precision", m.best_f1.precision},
                    {"recall", m.best_f1.recall}};
  return out;
}

json curves_json(const BinaryMetrics& m) {
  json roc = json::array(), pr = json::array();
  for (const CurvePoint& p : m.curve) {
    roc.push_back({p.fpr, p.tpr});
    if (p.recall > 0) pr.push_back({p.recall, p.precision});
  }
  return {{"roc", roc}, {"pr", pr}};
}

json scored_json(const Scored& s, const BinaryMetrics& m, const Replicates& r, double level) {
  json out{{"name", s.name},
           {"source", s.source},
           {"metrics", metrics_json(m, r, level)},
           {"curves", curves_json(m)}};
  return out;
}

// ---- rendering ----

std::string fixed(const json& v, int digits = 4) {
  char format[16];
  std::snprintf(format, sizeof format, "%%.%df", digits);
  return format_number(v, format);
}

std::string p_text(const json& v) {
  if (v.is_null()) return "n/a";
  double p = v.get<double>();
  char buffer[64];
  if (p < 1e-4)
    std::snprintf(buffer, sizeof buffer, "%.1e", p);
  else
    std::snprintf(buffer, sizeof buffer, "%.4f", p);
  return buffer;
}

std::string interval_text(const json& metric) {
  if (!metric.contains("ci_low")) return "";
  return "[" + fixed(metric["ci_low"]) + ", " + fixed(metric["ci_high"]) + "]";
}

const char* kMetricOrder[] = {"auroc", "ap",        "log_loss", "brier", "ece",
                              "ks",    "precision", "recall",   "f1",    "best_f1"};

std::string metric_label(const std::string& name, const json& m) {
  if (name == "precision" || name == "recall" || name == "f1")
    return name + " @ " + fixed(m["threshold"], 3);
  if (name == "best_f1") return "best F1 (threshold " + fixed(m["threshold"], 4) + ")";
  return name;
}

// Score histograms by class, each normalized to its class's total.
std::string svg_histogram(const json& histogram) {
  using svg::shares;
  return svg::bars("Scores by class",
                   {{"negatives", "#8c9bab", shares(histogram["negative"])},
                    {"positives", "#d9480f", shares(histogram["positive"])}},
                   "score", fixed(histogram["low"], 3), fixed(histogram["high"], 3));
}

std::vector<std::pair<double, double>> pairs(const json& points) {
  std::vector<std::pair<double, double>> out;
  for (const auto& p : points)
    out.push_back({p[0].get<double>(), p[1].get<double>()});
  return out;
}

}  // namespace

ReportOptions report_options(const EvalOptions& options, uint64_t seed) {
  KILN_CHECK(options.bootstrap >= 0 && options.bootstrap <= 100000, ConfigError,
             "eval.bootstrap must be in [0, 100000], got ", options.bootstrap);
  KILN_CHECK(options.level > 0 && options.level < 1, ConfigError,
             "eval.level must be in (0, 1), got ", options.level);
  KILN_CHECK(std::isfinite(options.threshold), ConfigError, "eval.threshold must be finite");
  KILN_CHECK(options.calibration_bins >= 1 && options.calibration_bins <= 1000, ConfigError,
             "eval.calibration_bins must be in [1, 1000], got ", options.calibration_bins);
  ReportOptions out;
  out.metrics.threshold = options.threshold;
  out.metrics.calibration_bins = static_cast<int>(options.calibration_bins);
  out.bootstrap.replicates = static_cast<int>(options.bootstrap);
  out.bootstrap.level = options.level;
  out.bootstrap.seed = seed;
  out.bootstrap.device = options.device;
  out.gates = options.gates;
  for (const auto& g : out.gates)
    parse_gate(g);
  return out;
}

Scored prior_baseline(const BinaryAccumulator& rows) {
  double positives = 0, total = 0;
  for (std::size_t i = 0; i < rows.labels().size(); ++i) {
    double w = rows.weighted() ? rows.weights()[i] : 1.0;
    positives += w * rows.labels()[i];
    total += w;
  }
  Scored prior{"prior", "prior", {}};
  std::vector<double> scores(rows.labels().size(), total > 0 ? positives / total : 0.0);
  std::vector<float> labels(rows.labels().begin(), rows.labels().end());
  prior.rows.add(scores.data(), labels.data(), rows.weighted() ? rows.weights().data() : nullptr,
                 rows.rows());
  return prior;
}

json evaluate(const Scored& model, const std::vector<Scored>& baselines,
              const ReportOptions& options, const json& provenance) {
  // Malformed gates, and gates on a baseline that was not given, fail before any work.
  std::vector<Gate> gates;
  for (const auto& text : options.gates) {
    gates.push_back(parse_gate(text));
    for (const GateSide* side : {&gates.back().left, &gates.back().right}) {
      if (!side->ref || !side->ref->baseline) continue;
      bool found = false;
      for (const Scored& b : baselines)
        found = found || side->ref->baseline_name.empty() || b.name == side->ref->baseline_name;
      KILN_CHECK(found, ConfigError, "gate '", text, "': no such baseline for '", side->ref->text(),
                 "' (give it with --baseline", side->ref->baseline_name.empty() ? "" : " NAME=PATH",
                 ")");
    }
  }
  const double level = options.bootstrap.level;
  BinaryMetrics m = model.rows.value(options.metrics);
  // One bootstrap sample per scored input: the intervals and every comparison use it.
  const BootstrapSample sample = bootstrap_sample(model.rows, options.bootstrap);
  Replicates r = options.bootstrap.replicates > 0 ? sorted_replicates(sample) : Replicates{};
  json report{{"format", "kiln.eval_report"},
              {"version", 1},
              {"kiln_version", core::build_info().version},
              {"model", {{"name", model.name}, {"source", model.source}}},
              {"provenance", provenance},
              {"data",
               {{"rows", m.rows},
                {"positives", m.positives},
                {"negatives", m.negatives},
                {"prevalence", m.positives / (m.positives + m.negatives)},
                {"weighted", model.rows.weighted()},
                {"probabilities", m.probabilities}}},
              {"options",
               {{"threshold", options.metrics.threshold},
                {"calibration_bins", options.metrics.calibration_bins},
                {"bootstrap", options.bootstrap.replicates},
                {"level", level},
                {"seed", options.bootstrap.seed}}}};
  report["metrics"] = metrics_json(m, r, level);
  report["curves"] = curves_json(m);
  json calibration = json::array();
  for (const CalibrationBin& b : m.calibration) {
    calibration.push_back({{"lower", b.lower},
                           {"upper", b.upper},
                           {"mean_score", b.mean_score},
                           {"positive_rate", b.positive_rate},
                           {"weight", b.weight}});
  }
  report["calibration"] = calibration;
  report["histogram"] = {{"low", m.histogram_low},
                         {"high", m.histogram_high},
                         {"positive", m.histogram_positive},
                         {"negative", m.histogram_negative}};
  report["baselines"] = json::array();
  std::vector<json> baseline_metrics;
  for (const Scored& b : baselines) {
    BinaryMetrics bm = b.rows.value(options.metrics);
    const BootstrapSample b_sample = bootstrap_sample(b.rows, options.bootstrap);
    Replicates br = options.bootstrap.replicates > 0 ? sorted_replicates(b_sample) : Replicates{};
    json entry = scored_json(b, bm, br, level);
    json comparison;
    for (const auto& [name, d] :
         compare({model.rows, m, sample}, {b.rows, bm, b_sample}, options.bootstrap)) {
      comparison[name] = {{"delta", core::finite_or_null(d.delta)},
                          {"ci_low", core::finite_or_null(d.interval.low)},
                          {"ci_high", core::finite_or_null(d.interval.high)},
                          {"p_value", core::finite_or_null(d.p_value)},
                          {"test", d.test}};
    }
    entry["comparison"] = comparison;
    report["baselines"].push_back(entry);
  }
  // Gates read the report's own numbers.
  auto lookup = [&report](const GateRef& ref) -> std::optional<double> {
    const json* metrics = &report["metrics"];
    if (ref.baseline) {
      const json& list = report["baselines"];
      const json* found = nullptr;
      for (const auto& b : list)
        if (ref.baseline_name.empty() || b["name"] == ref.baseline_name) {
          found = &b;
          break;
        }
      if (found == nullptr) return std::nullopt;
      metrics = &(*found)["metrics"];
    }
    const json& metric = (*metrics)[ref.metric];
    if (metric.is_null() || !metric.contains(ref.part) || metric[ref.part].is_null())
      return std::numeric_limits<double>::quiet_NaN();
    return metric[ref.part].get<double>();
  };
  report["gates"] = json::array();
  bool passed = true;
  for (const Gate& g : gates) {
    GateResult result = evaluate_gate(g, lookup);
    passed = passed && result.passed;
    report["gates"].push_back(result.to_json());
  }
  report["passed"] = passed;
  return report;
}

std::string format_number(const json& v, const char* format) {
  if (!v.is_number()) return "n/a";
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, format, v.get<double>());
  return buffer;
}

std::string gates_markdown(const json& report) {
  if (report["gates"].empty()) return "";
  std::ostringstream md;
  md << "**Verdict: " << (report["passed"].get<bool>() ? "PASSED" : "FAILED") << "**\n\n"
     << "| gate | verdict | left | right |\n|---|---|---|---|\n";
  for (const auto& g : report["gates"]) {
    md << "| `" << g["gate"].get<std::string>() << "` | "
       << (g["passed"].get<bool>() ? "pass" : "**FAIL**") << " | " << fixed(g["left"]) << " | "
       << fixed(g["right"]) << " |\n";
  }
  md << "\n";
  return md.str();
}

std::string gates_html(const json& report) {
  if (report["gates"].empty()) return "";
  std::ostringstream h;
  bool passed = report["passed"].get<bool>();
  h << "<h2>Verdict: <span class=\"" << (passed ? "pass\">PASSED" : "fail\">FAILED")
    << "</span></h2>"
    << "<table><tr><th>gate</th><th>verdict</th><th>left</th><th>right</th></tr>";
  for (const auto& g : report["gates"]) {
    bool ok = g["passed"].get<bool>();
    h << "<tr><td><code>" << html_escape(g["gate"].get<std::string>()) << "</code></td><td class=\""
      << (ok ? "pass\">pass" : "fail\">FAIL") << "</td><td>" << fixed(g["left"]) << "</td><td>"
      << fixed(g["right"]) << "</td></tr>";
  }
  h << "</table>";
  return h.str();
}

std::string render_markdown(const json& report) {
  std::ostringstream md;
  const json& data = report["data"];
  md << "# Kiln evaluation: " << report["model"]["name"].get<std::string>() << "\n\n"
     << "Scores: `" << report["model"]["source"].get<std::string>() << "`; rows "
     << data["rows"].get<int64_t>() << ", positives " << fixed(data["positives"], 0)
     << " (prevalence " << fixed(data["prevalence"], 4) << ")"
     << (data["weighted"].get<bool>() ? ", weighted" : "") << ".\n\n";
  md << gates_markdown(report);
  const std::string level = fixed(report["options"]["level"].get<double>() * 100, 0);
  md << "## Metrics\n\n| metric | value | " << level << "% CI |\n|---|---|---|\n";
  for (const char* name : kMetricOrder) {
    const json& m = report["metrics"][name];
    md << "| " << metric_label(name, m) << " | " << fixed(m["value"]) << " | " << interval_text(m)
       << " |\n";
  }
  for (const auto& b : report["baselines"]) {
    md << "\n## Against baseline `" << b["name"].get<std::string>() << "`\n\n"
       << "| metric | model | baseline | delta | " << level << "% CI of delta | p-value | test |\n"
       << "|---|---|---|---|---|---|---|\n";
    for (const auto& [name, c] : b["comparison"].items()) {
      md << "| " << name << " | " << fixed(report["metrics"][name]["value"]) << " | "
         << fixed(b["metrics"][name]["value"]) << " | " << fixed(c["delta"]) << " | ["
         << fixed(c["ci_low"]) << ", " << fixed(c["ci_high"]) << "] | " << p_text(c["p_value"])
         << " | " << c["test"].get<std::string>() << " |\n";
    }
  }
  md << "\n## Provenance\n\n```json\n" << report["provenance"].dump(2) << "\n```\n";
  return md.str();
}

std::string render_html(const json& report) {
  std::vector<svg::Series> roc, pr;
  roc.push_back({report["model"]["name"].get<std::string>(), svg::kColors[0],
                 pairs(report["curves"]["roc"])});
  pr.push_back(
      {report["model"]["name"].get<std::string>(), svg::kColors[0], pairs(report["curves"]["pr"])});
  std::size_t k = 1;
  for (const auto& b : report["baselines"]) {
    const char* color = svg::kColors[k++ % 6];
    roc.push_back({b["name"].get<std::string>(), color, pairs(b["curves"]["roc"]), true});
    pr.push_back({b["name"].get<std::string>(), color, pairs(b["curves"]["pr"]), true});
  }
  roc.push_back({"chance", svg::kMuted, {{0, 0}, {1, 1}}, true});
  std::ostringstream h;
  h << page_head("Kiln evaluation: " + report["model"]["name"].get<std::string>());
  h << "<h1>Kiln evaluation: " << html_escape(report["model"]["name"].get<std::string>()) << "</h1>"
    << "<p>Scores <code>" << html_escape(report["model"]["source"].get<std::string>())
    << "</code>: " << report["data"]["rows"].get<int64_t>() << " rows, prevalence "
    << fixed(report["data"]["prevalence"]) << ".</p>";
  h << gates_html(report);
  h << "<div class=\"plots\">"
    << svg::lines("ROC", "false positive rate", "true positive rate", roc,
                  svg::Corner::kBottomRight)
    << svg::lines("Precision-recall", "recall", "precision", pr, svg::Corner::kTopRight);
  if (!report["calibration"].empty()) {
    svg::Series reliability{"model", svg::kColors[0], {}};
    for (const auto& b : report["calibration"])
      if (b["weight"].get<double>() > 0)
        reliability.points.push_back(
            {b["mean_score"].get<double>(), b["positive_rate"].get<double>()});
    h << svg::lines("Reliability (ECE " + fixed(report["metrics"]["ece"]["value"]) + ")",
                    "mean predicted probability", "observed positive rate",
                    {reliability, {"perfect", svg::kMuted, {{0, 0}, {1, 1}}, true}},
                    svg::Corner::kTopLeft);
  }
  h << svg_histogram(report["histogram"]) << "</div>";
  const std::string level = fixed(report["options"]["level"].get<double>() * 100, 0);
  h << "<h2>Metrics</h2><table><tr><th>metric</th><th>value</th><th>" << level << "% CI</th></tr>";
  for (const char* name : kMetricOrder) {
    const json& m = report["metrics"][name];
    h << "<tr><td>" << html_escape(metric_label(name, m)) << "</td><td>" << fixed(m["value"])
      << "</td><td>" << interval_text(m) << "</td></tr>";
  }
  h << "</table>";
  for (const auto& b : report["baselines"]) {
    h << "<h2>Against baseline <code>" << html_escape(b["name"].get<std::string>())
      << "</code></h2>"
      << "<table><tr><th>metric</th><th>model</th><th>baseline</th><th>delta</th><th>" << level
      << "% CI of delta</th><th>p-value</th><th>test</th></tr>";
    for (const auto& [name, c] : b["comparison"].items()) {
      h << "<tr><td>" << html_escape(name) << "</td><td>" << fixed(report["metrics"][name]["value"])
        << "</td><td>" << fixed(b["metrics"][name]["value"]) << "</td><td>" << fixed(c["delta"])
        << "</td><td>[" << fixed(c["ci_low"]) << ", " << fixed(c["ci_high"]) << "]</td><td>"
        << p_text(c["p_value"]) << "</td><td>" << html_escape(c["test"].get<std::string>())
        << "</td></tr>";
    }
    h << "</table>";
  }
  h << "<h2>Provenance</h2><pre>" << html_escape(report["provenance"].dump(2))
    << "</pre></body></html>\n";
  return h.str();
}

Scored scored_file(const std::string& name, const std::string& path, const ScoreColumns& columns) {
  const Scores s = read_scores(path, columns);
  Scored out{name, path, {}};
  out.rows.add(s.scores.data(), s.labels.data(), s.weights.empty() ? nullptr : s.weights.data(),
               s.rows(), path);
  return out;
}

std::string write_report(const std::string& dir, const nlohmann::ordered_json& report) {
  return write_report_files(dir, report, render_markdown(report), render_html(report));
}

std::string write_report_files(const std::string& dir, const nlohmann::ordered_json& report,
                               const std::string& markdown, const std::string& html) {
  core::make_directories(dir);
  const std::filesystem::path base(dir);
  // The Markdown and the HTML written while the JSON is dumped and written: each write waits
  // for its fsync.
  auto markdown_written = std::async(std::launch::async, [&] {
    core::atomic_write((base / "report.md").string(), markdown);
  });
  auto html_written = std::async(std::launch::async, [&] {
    core::atomic_write((base / "report.html").string(), html);
  });
  std::string json = report.dump(1) + "\n";
  core::atomic_write((base / "report.json").string(), json);
  markdown_written.get();
  html_written.get();
  return json;
}

void check_gates(const nlohmann::ordered_json& report) {
  auto side = [](const nlohmann::ordered_json& v) {
    return v.is_null() ? std::string("n/a") : std::to_string(v.get<double>());
  };
  std::string failed;
  int failures = 0;
  for (const auto& g : report["gates"]) {
    if (g["passed"].get<bool>()) continue;
    ++failures;
    failed += detail::concat(failures > 1 ? "; " : "", "'", g["gate"].get<std::string>(), "' (",
                             side(g["left"]), " vs ", side(g["right"]), ")");
  }
  KILN_CHECK(failures == 0, GateFailedError, failures, " gate(s) failed: ", failed);
}

}  // namespace kiln::eval
