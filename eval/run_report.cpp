#include "eval/run_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/checkpoint.h"
#include "core/errors.h"
#include "core/files.h"
#include "eval/svg.h"

namespace kiln::eval {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

// What the report shows of one run directory.
struct Run {
  std::string path, name;  // name: <experiment>/<run id>
  json status, run, result;
  std::string config;
  std::vector<json> metrics;  // metrics.jsonl, one object a line
  std::vector<core::CheckpointInfo> checkpoints;
};

// A JSON file of the run, or null when it is not there. DataError naming it when it does not
// parse as an object.
json read_object(const fs::path& path) {
  if (!fs::exists(path)) return nullptr;
  json value = json::parse(core::read_file(path.string(), "run file"), nullptr, false);
  KILN_CHECK(value.is_object(), DataError, path.string(), ": not a JSON object");
  return value;
}

Run read_run(const std::string& path) {
  const fs::path dir(path);
  KILN_CHECK(
      fs::is_directory(dir) && (fs::exists(dir / "metrics.jsonl") || fs::exists(dir / "run.json") ||
                                fs::exists(dir / "status.json")),
      InputError, "'", path,
      "' is not a run directory (no metrics.jsonl, run.json or status.json): give the "
      "directory kiln fit printed as 'run:'");
  Run r;
  r.path = path;
  const fs::path canonical = fs::weakly_canonical(dir);
  r.name = (canonical.parent_path().filename() / canonical.filename()).string();
  r.status = read_object(dir / "status.json");
  r.run = read_object(dir / "run.json");
  r.result = read_object(dir / "result.json");
  if (fs::exists(dir / "config.resolved.yaml"))
    r.config = core::read_file((dir / "config.resolved.yaml").string(), "config");
  if (fs::exists(dir / "metrics.jsonl")) {
    std::istringstream in(core::read_file((dir / "metrics.jsonl").string(), "metrics"));
    int line_number = 0;
    for (std::string line; std::getline(in, line);) {
      ++line_number;
      if (line.empty()) continue;
      json record = json::parse(line, nullptr, false);
      KILN_CHECK(record.is_object() && record.contains("step") && record["step"].is_number(),
                 DataError, (dir / "metrics.jsonl").string(), ":", line_number,
                 ": not a JSON object with a 'step'");
      r.metrics.push_back(std::move(record));
    }
  }
  if (fs::is_directory(dir / "checkpoints")) r.checkpoints = core::checkpoint_infos(path);
  return r;
}

// A field of an untrusted object as text: strings as they are, other values as JSON, "—"
// when missing.
std::string text(const json& object, const char* key) {
  if (!object.is_object() || !object.contains(key) || object[key].is_null()) return "—";
  const json& v = object[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.6g", v.get<double>());
    return buffer;
  }
  return v.dump();
}

const char* color(std::size_t i) {
  return svg::kColors[i % std::size(svg::kColors)];
}

// The curves' keys, in the order they are drawn: train loss, the validation metrics, the
// learning rate, throughput, the waits, then any other number metrics.jsonl has.
std::vector<std::string> curve_keys(const std::vector<Run>& runs) {
  std::vector<std::string> keys;
  for (const Run& r : runs)
    for (const json& m : r.metrics)
      for (const auto& [key, value] : m.items())
        if (value.is_number() && std::find(keys.begin(), keys.end(), key) == keys.end())
          keys.push_back(key);
  auto rank = [](const std::string& k) {
    if (k == "train/loss") return 0;
    if (k.rfind("val/", 0) == 0) return 1;
    if (k == "lr") return 2;
    if (k == "rows_per_s") return 3;
    if (k.size() > 7 && k.compare(k.size() - 7, 7, "_wait_s") == 0) return 4;
    return 5;
  };
  std::stable_sort(keys.begin(), keys.end(),
                   [&](const auto& a, const auto& b) { return rank(a) < rank(b); });
  std::erase_if(keys, [](const std::string& k) {
    return k == "step" || k == "epoch" || k == "train_s" || k == "elapsed_s";
  });
  return keys;
}

// The range of `values`, widened a little (and around a single value) so lines stay off the
// frame.
svg::Range padded(double low, double high) {
  if (!(low <= high)) return {0, 1};
  const double pad = high > low ? (high - low) * 0.05 : std::max(std::fabs(low) * 0.1, 1e-3);
  return {low - pad, high + pad};
}

// The objective's metrics.jsonl key (val/auroc) from result.json, or "".
std::string objective_key(const Run& r) {
  if (r.result.is_object() && r.result.contains("objective") && r.result["objective"].is_object())
    return text(r.result["objective"], "name");
  return "";
}

std::string curves(const std::vector<Run>& runs) {
  std::ostringstream h;
  const std::vector<std::string> keys = curve_keys(runs);
  if (keys.empty()) return "<p>No evaluations yet: metrics.jsonl has no lines.</p>";
  h << "<div class=\"plots\">";
  for (const std::string& key : keys) {
    std::vector<svg::Series> series;
    double x_low = INFINITY, x_high = -INFINITY, y_low = INFINITY, y_high = -INFINITY;
    for (std::size_t i = 0; i < runs.size(); ++i) {
      svg::Series s{runs.size() == 1 ? key : runs[i].name, color(i), {}};
      for (const json& m : runs[i].metrics) {
        if (!m.contains(key) || !m[key].is_number()) continue;
        const double x = m["step"].get<double>(), y = m[key].get<double>();
        if (!std::isfinite(x) || !std::isfinite(y)) continue;
        s.points.emplace_back(x, y);
        x_low = std::min(x_low, x);
        x_high = std::max(x_high, x);
        y_low = std::min(y_low, y);
        y_high = std::max(y_high, y);
      }
      if (!s.points.empty()) series.push_back(std::move(s));
    }
    if (series.empty()) continue;
    const svg::Range y = padded(y_low, y_high);
    for (std::size_t i = 0; i < runs.size(); ++i) {  // the best step, on the objective's chart
      if (key != objective_key(runs[i]) || !runs[i].result.contains("best_step") ||
          !runs[i].result["best_step"].is_number())
        continue;
      const double best = runs[i].result["best_step"].get<double>();
      series.push_back({"best step " + text(runs[i].result, "best_step"),
                        color(i),
                        {{best, y.low}, {best, y.high}},
                        true});
    }
    const bool falls = key == "train/loss" || key.find("loss") != std::string::npos;
    h << svg::lines(key, "step", key, series,
                    falls ? svg::Corner::kTopRight : svg::Corner::kBottomRight,
                    x_high > x_low ? svg::Range{x_low, x_high} : padded(x_low, x_high), y);
  }
  h << "</div>";
  return h.str();
}

// One row of a table with a column per run.
void row(std::ostringstream& h, const std::string& label, const std::vector<Run>& runs,
         const auto& cell) {
  h << "<tr><td>" << html_escape(label) << "</td>";
  for (const Run& r : runs)
    h << "<td>" << html_escape(cell(r)) << "</td>";
  h << "</tr>";
}

std::string summary(const std::vector<Run>& runs) {
  std::ostringstream h;
  h << "<table class=\"runs\"><tr><th></th>";
  for (std::size_t i = 0; i < runs.size(); ++i)
    h << "<th><span style=\"color:" << color(i) << "\">&#9632;</span> " << html_escape(runs[i].name)
      << "</th>";
  h << "</tr>";
  row(h, "state", runs, [](const Run& r) { return text(r.status, "state"); });
  row(h, "reason", runs, [](const Run& r) { return text(r.status, "reason"); });
  row(h, "steps", runs, [](const Run& r) { return text(r.status, "step"); });
  row(h, "objective", runs, [](const Run& r) {
    return r.result.contains("objective")
               ? text(r.result["objective"], "name") + " " + text(r.result["objective"], "value")
               : "—";
  });
  row(h, "best step", runs, [](const Run& r) { return text(r.result, "best_step"); });
  // The checkpoint that is the run's model (the best, or its refit on train and valid),
  // relative to the run.
  row(h, "model checkpoint", runs, [](const Run& r) {
    const std::string checkpoint = text(r.result, "checkpoint");
    const fs::path relative = fs::path(checkpoint).lexically_relative(r.path);
    return relative.empty() || *relative.begin() == ".." ? checkpoint : relative.string();
  });
  row(h, "refit", runs, [](const Run& r) {
    if (!r.result.is_object() || !r.result.contains("refit")) return std::string("—");
    const json& refit = r.result["refit"];
    return refit.is_object() && refit.contains("skipped")
               ? "skipped: " + text(refit, "skipped")
               : text(refit, "steps") + " steps on " + text(refit, "rows") + " rows";
  });
  row(h, "stopped early", runs, [](const Run& r) { return text(r.result, "stopped_early"); });
  row(h, "model", runs, [](const Run& r) { return text(r.result, "model"); });
  row(h, "parameters", runs, [](const Run& r) { return text(r.run, "parameters"); });
  row(h, "device", runs, [](const Run& r) { return text(r.run, "device"); });
  row(h, "world size", runs, [](const Run& r) {
    return r.run.is_object() && r.run.contains("world_size") ? text(r.run, "world_size") : "1";
  });
  row(h, "preemptions", runs, [](const Run& r) { return text(r.status, "preemptions"); });
  row(h, "started", runs, [](const Run& r) { return text(r.run, "started"); });
  row(h, "finished", runs, [](const Run& r) { return text(r.result, "finished"); });
  row(h, "kiln", runs, [](const Run& r) {
    return text(r.run, "kiln_version") + " (" + text(r.run, "git_revision") + ")";
  });
  for (const char* split : {"train", "valid"}) {
    auto field = [split](const Run& r, const char* key) {
      return r.run.is_object() && r.run.contains(split) ? text(r.run[split], key) : "—";
    };
    row(h, std::string(split) + " data", runs, [&](const Run& r) { return field(r, "path"); });
    row(h, std::string(split) + " rows", runs, [&](const Run& r) { return field(r, "rows"); });
    row(h, std::string(split) + " fingerprint", runs,
        [&](const Run& r) { return field(r, "fingerprint").substr(0, 16); });
  }
  h << "</table>";
  return h.str();
}

// The best checkpoint's metrics (the model the run gives), then every checkpoint.
std::string checkpoints(const Run& r) {
  std::ostringstream h;
  const auto best = std::find_if(r.checkpoints.begin(), r.checkpoints.end(),
                                 [](const core::CheckpointInfo& c) { return c.best; });
  h << "<h3>" << html_escape(r.name) << "</h3>";
  if (best != r.checkpoints.end()) {
    h << "<p>Final evaluation: the best checkpoint, <code>"
      << html_escape(fs::path(best->path).filename().string())
      << "</code>, on the validation split:</p><table><tr><th>metric</th><th>value</th></tr>";
    for (const auto& [key, value] : best->metrics.items())
      if (key.rfind("val/", 0) == 0)
        h << "<tr><td>" << html_escape(key) << "</td><td>"
          << html_escape(text(best->metrics, key.c_str())) << "</td></tr>";
    h << "</table>";
  }
  if (r.checkpoints.empty()) return h.str() + "<p>No checkpoints.</p>";
  const std::string metric = objective_key(r);
  h << "<table><tr><th>checkpoint</th><th>step</th><th>KB</th><th>"
    << html_escape(metric.empty() ? "metric" : metric) << "</th><th></th></tr>";
  for (const core::CheckpointInfo& c : r.checkpoints) {
    h << "<tr><td><code>" << html_escape(fs::path(c.path).filename().string()) << "</code></td><td>"
      << (c.step ? std::to_string(*c.step) : "—") << "</td><td>" << (c.bytes + 512) / 1024
      << "</td><td>" << html_escape(metric.empty() ? "—" : text(c.metrics, metric.c_str()))
      << "</td><td>" << (c.best ? "best " : "") << (c.latest ? "latest" : "") << "</td></tr>";
  }
  h << "</table>";
  return h.str();
}

// What `auto` became and why (run.json), and the resolved config.
std::string config(const Run& r) {
  std::ostringstream h;
  h << "<h3>" << html_escape(r.name) << "</h3>";
  if (r.run.is_object() && r.run.contains("auto") && r.run["auto"].is_object()) {
    h << "<table><tr><th>auto key</th><th>value</th><th>why</th></tr>";
    for (const auto& [key, choice] : r.run["auto"].items())
      h << "<tr><td>" << html_escape(key) << "</td><td>" << html_escape(text(choice, "value"))
        << "</td><td style=\"text-align:left\">" << html_escape(text(choice, "why"))
        << "</td></tr>";
    h << "</table>";
  }
  h << "<details><summary>config.resolved.yaml</summary><pre>"
    << html_escape(r.config.empty() ? "(none)" : r.config) << "</pre></details>";
  return h.str();
}

}  // namespace

std::string run_report_html(const std::vector<std::string>& paths) {
  KILN_CHECK(!paths.empty(), UsageError, "no run directory given");
  std::vector<Run> runs;
  for (const std::string& p : paths)
    runs.push_back(read_run(p));
  const std::string title = runs.size() == 1
                                ? "Kiln run " + runs[0].name
                                : "Kiln runs: " + std::to_string(runs.size()) + " compared";
  std::ostringstream h;
  h << page_head(title) << "<style>.runs td{text-align:left}</style><h1>" << html_escape(title)
    << "</h1>";
  h << summary(runs) << "<h2>Curves</h2>" << curves(runs) << "<h2>Checkpoints</h2>";
  for (const Run& r : runs)
    h << checkpoints(r);
  h << "<h2>Config</h2>";
  for (const Run& r : runs)
    h << config(r);
  h << "</body></html>\n";
  return h.str();
}

void write_run_report(const std::vector<std::string>& runs, const std::string& out) {
  const std::string html = run_report_html(runs);
  const fs::path parent = fs::path(out).parent_path();
  std::error_code error;
  if (!parent.empty()) fs::create_directories(parent, error);
  core::atomic_write(out, html);
}

}  // namespace kiln::eval
