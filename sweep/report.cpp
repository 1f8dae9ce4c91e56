#include "sweep/report.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <sstream>

#include "core/build_info.h"
#include "core/json_fields.h"
#include "core/log.h"
#include "eval/svg.h"

namespace kiln::sweep {
namespace {

using json = nlohmann::ordered_json;
using eval::html_escape;

const char* kind_name(Param::Kind kind) {
  switch (kind) {
    case Param::Kind::kGrid:
      return "grid";
    case Param::Kind::kChoice:
      return "choice";
    case Param::Kind::kUniform:
      return "uniform";
    case Param::Kind::kLogUniform:
      return "log_uniform";
    case Param::Kind::kInt:
      return "int";
  }
  return "?";
}

std::vector<double> ranks(const std::vector<double>& v) {
  std::vector<std::size_t> order(v.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return v[a] < v[b]; });
  std::vector<double> r(v.size());
  for (std::size_t i = 0; i < order.size();) {
    std::size_t j = i;
    while (j + 1 < order.size() && v[order[j + 1]] == v[order[i]])
      ++j;
    for (std::size_t k = i; k <= j; ++k)
      r[order[k]] = (static_cast<double>(i + j) / 2.0) + 1.0;
    i = j + 1;
  }
  return r;
}

std::string number_text(double v, int digits = 4) {
  if (!std::isfinite(v)) return "n/a";
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*g", digits, v);
  return buffer;
}

// A scatter (and polyline) chart with its own axis ranges. Points carry a class name for
// their color; a log axis is used when asked and every x is positive. Categorical x values
// are placed at 0, 1, ... with their labels.
struct Chart {
  std::string title, x_label, y_label;
  bool x_log = false;
  std::vector<std::string> x_categories;  // non-empty: x is an index into these
  struct Point {
    double x, y;
    std::string cls;
  };
  std::vector<Point> points;
  std::vector<std::vector<std::pair<double, double>>> lines;
};

std::string svg(const Chart& c) {
  const double w = 380, h = 300, left = 58, top = 28, right = 14, bottom = 46;
  const double pw = w - left - right, ph = h - top - bottom;
  auto tx = [&](double v) { return c.x_log ? std::log10(v) : v; };
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  auto extend = [&](double x, double y) {
    if (!std::isfinite(tx(x)) || !std::isfinite(y)) return;
    x0 = std::min(x0, tx(x));
    x1 = std::max(x1, tx(x));
    y0 = std::min(y0, y);
    y1 = std::max(y1, y);
  };
  for (const auto& p : c.points)
    extend(p.x, p.y);
  for (const auto& line : c.lines)
    for (const auto& [x, y] : line)
      extend(x, y);
  if (!c.x_categories.empty()) {
    x0 = -0.5;
    x1 = static_cast<double>(c.x_categories.size()) - 0.5;
  }
  if (!(x0 <= x1)) x0 = 0, x1 = 1;
  if (!(y0 <= y1)) y0 = 0, y1 = 1;
  const double xpad = x1 > x0 ? 0.04 * (x1 - x0) : 0.5, ypad = y1 > y0 ? 0.06 * (y1 - y0) : 0.01;
  if (c.x_categories.empty()) x0 -= xpad, x1 += xpad;
  y0 -= ypad, y1 += ypad;
  auto X = [&](double v) { return left + (tx(v) - x0) / (x1 - x0) * pw; };
  auto Y = [&](double v) { return top + (1 - (v - y0) / (y1 - y0)) * ph; };
  std::ostringstream s;
  s.precision(5);
  s << "<svg class=\"plot\" xmlns=\"http://www.w3.org/2000/svg\" width=\"" << w << "\" height=\""
    << h << "\" viewBox=\"0 0 " << w << " " << h << "\" role=\"img\" aria-label=\""
    << html_escape(c.title) << "\"><rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>"
    << "<text x=\"" << w / 2 << "\" y=\"17\" text-anchor=\"middle\" class=\"title\">"
    << html_escape(c.title) << "</text>";
  for (int i = 0; i <= 4; ++i) {
    const double yv = y0 + (y1 - y0) * i / 4.0;
    s << "<line x1=\"" << left << "\" x2=\"" << left + pw << "\" y1=\"" << Y(yv) << "\" y2=\""
      << Y(yv) << "\" class=\"grid\"/><text x=\"" << left - 5 << "\" y=\"" << Y(yv) + 4
      << "\" text-anchor=\"end\">" << number_text(yv) << "</text>";
  }
  if (c.x_categories.empty()) {
    for (int i = 0; i <= 4; ++i) {
      const double xt = x0 + (x1 - x0) * i / 4.0;
      const double xv = c.x_log ? std::pow(10.0, xt) : xt;
      s << "<text x=\"" << left + pw * i / 4.0 << "\" y=\"" << top + ph + 15
        << "\" text-anchor=\"middle\">" << number_text(xv, 3) << "</text>";
    }
  } else {
    for (std::size_t i = 0; i < c.x_categories.size(); ++i)
      s << "<text x=\"" << X(static_cast<double>(i)) << "\" y=\"" << top + ph + 15
        << "\" text-anchor=\"middle\">" << html_escape(c.x_categories[i]) << "</text>";
  }
  s << "<rect x=\"" << left << "\" y=\"" << top << "\" width=\"" << pw << "\" height=\"" << ph
    << "\" class=\"frame\"/><text x=\"" << left + pw / 2 << "\" y=\"" << h - 8
    << "\" text-anchor=\"middle\">" << html_escape(c.x_label) << (c.x_log ? " (log scale)" : "")
    << "</text><text transform=\"translate(13," << top + ph / 2
    << ") rotate(-90)\" text-anchor=\"middle\">" << html_escape(c.y_label) << "</text>";
  for (const auto& line : c.lines) {
    s << "<polyline class=\"trace\" points=\"";
    for (const auto& [x, y] : line)
      if (std::isfinite(tx(x)) && std::isfinite(y)) s << X(x) << "," << Y(y) << " ";
    s << "\"/>";
  }
  for (const auto& p : c.points)
    if (std::isfinite(tx(p.x)) && std::isfinite(p.y))
      s << "<circle class=\"" << p.cls << "\" cx=\"" << X(p.x) << "\" cy=\"" << Y(p.y)
        << "\" r=\"4\"/>";
  s << "</svg>";
  return s.str();
}

}  // namespace

double spearman(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size() || a.size() < 3) return std::numeric_limits<double>::quiet_NaN();
  const std::vector<double> ra = ranks(a), rb = ranks(b);
  const double n = static_cast<double>(a.size()), mean = (n + 1) / 2;
  double sab = 0, saa = 0, sbb = 0;
  for (std::size_t i = 0; i < ra.size(); ++i) {
    sab += (ra[i] - mean) * (rb[i] - mean);
    saa += (ra[i] - mean) * (ra[i] - mean);
    sbb += (rb[i] - mean) * (rb[i] - mean);
  }
  if (saa == 0 || sbb == 0) return std::numeric_limits<double>::quiet_NaN();
  return sab / std::sqrt(saa * sbb);
}

json sweep_report(const std::string& dir, const SweepSettings& settings, const SearchSpace& space,
                  const SweepState& state, const std::string& best_config) {
  json counts = json::object();
  for (const char* name : {"queued", "running", "paused", "completed", "pruned", "failed"})
    counts[name] = 0;
  for (const Trial& t : state.trials)
    counts[state_name(t.state)] = counts[state_name(t.state)].get<int64_t>() + 1;

  json board = json::array();
  int64_t rank = 0;
  for (const Trial* t : leaderboard(state, settings.objective)) {
    auto r = t->last_result();
    json row = {{"rank", r ? json(++rank) : json(nullptr)},
                {"trial", t->id},
                {"state", state_name(t->state)},
                {"rung", t->rung},
                {"steps", r ? r->steps : 0},
                {"value", r ? core::finite_or_null(r->value) : json(nullptr)},
                {"params", t->params},
                {"run_dir", trial_dir(dir, t->id)},
                {"worker", t->worker},
                {"runs", t->claims}};
    if (!t->reason.empty()) row["reason"] = t->reason;
    if (t->state == Trial::State::kFailed) row["exit"] = t->exit_code;
    board.push_back(std::move(row));
  }

  json rungs = json::array();
  for (std::size_t k = 0; k < settings.rungs.size(); ++k) {
    std::vector<double> here, next;
    int64_t results = 0;
    for (const Trial& t : state.trials) {
      auto a = t.rungs.find(static_cast<int>(k));
      if (a == t.rungs.end()) continue;
      ++results;
      auto b = t.rungs.find(static_cast<int>(k) + 1);
      if (b == t.rungs.end()) continue;
      here.push_back(a->second.value);
      next.push_back(b->second.value);
    }
    json rung = {{"rung", k}, {"steps", settings.rungs[k]}, {"results", results}};
    if (k + 1 < settings.rungs.size()) {
      rung["promoted"] = here.size();
      rung["rank_correlation_with_next"] = core::finite_or_null(spearman(here, next));
    }
    rungs.push_back(std::move(rung));
  }

  // The best completed value against the steps trained so far, in journal order.
  json trajectory = json::array();
  int64_t steps = 0;
  double best = NAN;
  for (const RungEvent& e : state.history) {
    steps += e.new_steps;
    if (e.final && std::isfinite(e.result.value) &&
        (!std::isfinite(best) ||
         (settings.objective.maximize ? e.result.value > best : e.result.value < best)))
      best = e.result.value;
    trajectory.push_back({{"steps_total", steps},
                          {"trial", e.trial},
                          {"rung", e.rung},
                          {"value", core::finite_or_null(e.result.value)},
                          {"best_completed", core::finite_or_null(best)}});
  }

  json params = json::array();
  for (const Param& p : space.params)
    params.push_back({{"key", p.key}, {"kind", kind_name(p.kind)}});

  json report = {{"format", 1},
                 {"sweep", dir},
                 {"generated", core::utc_timestamp()},
                 {"kiln_version", core::build_info().version},
                 {"settings", settings.to_json()},
                 {"counts", counts},
                 {"steps_total", steps},
                 {"parameters", params},
                 {"best", nullptr},
                 {"leaderboard", board},
                 {"rungs", rungs},
                 {"trajectory", trajectory}};
  if (const Trial* b = best_trial(state, settings.objective)) {
    report["best"] = {{"trial", b->id},
                      {"value", core::finite_or_null(b->last_result()->value)},
                      {"steps", b->last_result()->steps},
                      {"state", state_name(b->state)},
                      {"params", b->params},
                      {"run_dir", trial_dir(dir, b->id)},
                      {"config", best_config}};
  }
  return report;
}

std::string render_sweep_html(const json& report) {
  const std::string objective = report["settings"]["objective"]["name"].get<std::string>();
  std::ostringstream h;
  h << "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Kiln sweep: "
    << html_escape(report["sweep"].get<std::string>()) << "</title><style>"
    << "body{font-family:system-ui,sans-serif;margin:24px;color:#212529;max-width:1320px}"
    << "table{border-collapse:collapse;margin:8px 0 20px}td,th{border:1px solid "
       "#dee2e6;padding:3px 8px;text-align:right}th{background:#f1f3f5}"
    << "td.l,th.l{text-align:left}.plots{display:flex;flex-wrap:wrap;gap:12px}"
    << ".plot text{font-size:11px;fill:#495057}.plot .title{font-size:13px;font-weight:600;"
       "fill:#212529}.grid{stroke:#e9ecef}.frame{fill:none;stroke:#868e96}"
    << ".completed{fill:#1c7ed6}.paused,.running{fill:#f59f00}.pruned{fill:#adb5bd}"
       ".failed{fill:#e03131}.trace{fill:none;stroke:#a5d8ff;stroke-width:1.2}"
    << "pre{background:#f8f9fa;padding:10px;overflow:auto}</style></head><body>";
  h << "<h1>Kiln sweep</h1><p><code>" << html_escape(report["sweep"].get<std::string>())
    << "</code>: " << report["settings"]["trials"].get<int64_t>() << " trials, sampler "
    << html_escape(report["settings"]["sampler"].get<std::string>()) << ", scheduler "
    << html_escape(report["settings"]["scheduler"].get<std::string>()) << ", objective "
    << html_escape(objective) << " ("
    << report["settings"]["objective"]["direction"].get<std::string>() << "), "
    << report["steps_total"].get<int64_t>() << " training steps in all.</p><p>";
  for (const auto& [name, n] : report["counts"].items())
    h << html_escape(name) << ": " << n.get<int64_t>() << " &nbsp; ";
  h << "</p>";
  if (!report["best"].is_null()) {
    const json& b = report["best"];
    h << "<h2>Best: " << html_escape(b["trial"].get<std::string>()) << ", "
      << html_escape(objective) << " "
      << number_text(b["value"].is_null() ? NAN : b["value"].get<double>(), 6) << " at step "
      << b["steps"].get<int64_t>() << "</h2><p>Config: <code>"
      << html_escape(b["config"].get<std::string>())
      << "</code> (kiln fit --config takes it as it is); run: <code>"
      << html_escape(b["run_dir"].get<std::string>()) << "</code></p><pre>"
      << html_escape(b["params"].dump(2)) << "</pre>";
  }

  // One chart per parameter: the objective at each trial's last rung against its value.
  h << "<h2>Objective by parameter</h2><div class=\"plots\">";
  for (const auto& p : report["parameters"]) {
    const std::string key = p["key"].get<std::string>(), kind = p["kind"].get<std::string>();
    Chart c;
    c.title = key;
    c.x_label = key;
    c.y_label = objective;
    const bool numeric_axis = kind == "uniform" || kind == "log_uniform" || kind == "int";
    c.x_log = kind == "log_uniform";
    std::vector<std::string> categories;
    for (const auto& row : report["leaderboard"]) {
      if (row["value"].is_null()) continue;
      const auto& v = row["params"][key];
      double x = 0;
      if (numeric_axis) {
        x = v.get<double>();
      } else {
        const std::string label = v.is_string() ? v.get<std::string>() : v.dump();
        auto it = std::find(categories.begin(), categories.end(), label);
        if (it == categories.end()) categories.push_back(label);
        x = static_cast<double>(std::find(categories.begin(), categories.end(), label) -
                                categories.begin());
      }
      c.points.push_back({x, row["value"].get<double>(), row["state"].get<std::string>()});
    }
    c.x_categories = categories;
    h << svg(c);
  }
  h << "</div><p>Blue: completed; amber: paused or running; grey: pruned (value at its last "
       "rung).</p>";

  // ASHA: each trial's value at each rung it reached, and the search's progress.
  Chart rung_chart;
  rung_chart.title = "Rungs";
  rung_chart.x_label = "training steps";
  rung_chart.y_label = objective;
  rung_chart.x_log = true;
  std::map<std::string, std::vector<std::pair<double, double>>> traces;
  for (const auto& e : report["trajectory"])
    if (!e["value"].is_null())
      traces[e["trial"].get<std::string>()].push_back(
          {static_cast<double>(
               report["settings"]["rungs"][e["rung"].get<std::size_t>()].get<int64_t>()),
           e["value"].get<double>()});
  for (auto& [trial, line] : traces) {
    rung_chart.lines.push_back(line);
    for (const auto& [x, y] : line)
      rung_chart.points.push_back({x, y, "completed"});
  }
  Chart progress;
  progress.title = "Best completed trial";
  progress.x_label = "training steps spent";
  progress.y_label = objective;
  std::vector<std::pair<double, double>> best_line;
  for (const auto& e : report["trajectory"])
    if (!e["best_completed"].is_null())
      best_line.push_back({static_cast<double>(e["steps_total"].get<int64_t>()),
                           e["best_completed"].get<double>()});
  progress.lines.push_back(best_line);
  for (const auto& [x, y] : best_line)
    progress.points.push_back({x, y, "completed"});
  h << "<h2>Search</h2><div class=\"plots\">" << svg(rung_chart) << svg(progress) << "</div>";
  h << "<table><tr><th>rung</th><th>steps</th><th>results</th><th>promoted</th><th>rank "
       "correlation with the next rung</th></tr>";
  for (const auto& r : report["rungs"]) {
    h << "<tr><td>" << r["rung"].get<int64_t>() << "</td><td>" << r["steps"].get<int64_t>()
      << "</td><td>" << r["results"].get<int64_t>() << "</td><td>"
      << (r.contains("promoted") ? std::to_string(r["promoted"].get<int64_t>()) : "") << "</td><td>"
      << (r.contains("rank_correlation_with_next") && !r["rank_correlation_with_next"].is_null()
              ? number_text(r["rank_correlation_with_next"].get<double>(), 3)
              : "")
      << "</td></tr>";
  }
  h << "</table>";

  h << "<h2>Leaderboard</h2><table><tr><th>rank</th><th class=\"l\">trial</th><th "
       "class=\"l\">state</th><th>steps</th><th>"
    << html_escape(objective) << "</th><th class=\"l\">parameters</th></tr>";
  for (const auto& row : report["leaderboard"]) {
    h << "<tr><td>" << (row["rank"].is_null() ? "" : std::to_string(row["rank"].get<int64_t>()))
      << "</td><td class=\"l\">" << html_escape(row["trial"].get<std::string>())
      << "</td><td class=\"l\">" << html_escape(row["state"].get<std::string>()) << "</td><td>"
      << row["steps"].get<int64_t>() << "</td><td>"
      << (row["value"].is_null() ? "" : number_text(row["value"].get<double>(), 6))
      << "</td><td class=\"l\"><code>" << html_escape(row["params"].dump()) << "</code>"
      << (row.contains("reason") ? " " + html_escape(row["reason"].get<std::string>()) : "")
      << "</td></tr>";
  }
  h << "</table></body></html>\n";
  return h.str();
}

}  // namespace kiln::sweep
