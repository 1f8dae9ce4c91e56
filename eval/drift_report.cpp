#include "eval/drift_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <vector>

#include "eval/report.h"
#include "eval/svg.h"

namespace kiln::eval {
namespace {

using json = nlohmann::ordered_json;

std::string percent(const json& v) {
  return v.is_number() ? format_number(json(v.get<double>() * 100), "%.1f%%") : "n/a";
}

std::string summary(const json& r) {
  return std::to_string(r["drifted_columns"].get<int64_t>()) + " of " +
         std::to_string(r["feature_columns"].get<int64_t>()) + " feature columns drifted (share " +
         format_number(r["drift_share"], "%.3f") + "; the dataset drifts at " +
         format_number(r["thresholds"]["share"], "%.2f") + "): dataset drift " +
         (r["dataset_drifted"].get<bool>() ? "YES" : "no");
}

std::string side(const json& s) {
  return "`" + s["path"].get<std::string>() + "` (" + std::to_string(s["rows"].get<int64_t>()) +
         " rows)";
}

// The cells of a column's row, in the tables' order.
std::vector<std::string> cells(const json& c) {
  const bool numeric = c.contains("ks");
  return {c["name"].get<std::string>(),
          c["role"].get<std::string>(),
          c["method"].get<std::string>(),
          format_number(c["score"], "%.4g"),
          format_number(c["threshold"], "%.4g"),
          std::string(c["drifted"].get<bool>() ? "DRIFT" : "ok") +
              (c.contains("note") ? " (" + c["note"].get<std::string>() + ")" : ""),
          format_number(c["psi"]),
          format_number(c["js"]),
          numeric ? format_number(c["ks"]) + " ± " + format_number(c["ks_bound"], "%.3f") : "",
          numeric ? format_number(c["wasserstein"]) : "",
          percent(c["missing_reference"]) + " → " + percent(c["missing_current"])};
}

const char* kHeader[] = {"column",
                         "role",
                         "method",
                         "score",
                         "threshold",
                         "verdict",
                         "PSI",
                         "JS",
                         "KS (± bound)",
                         "W1 / std",
                         "missing (reference → current)"};

// At most this many bars a side in a chart: a column of many codes shows its largest ones
// (by either side's share) and the rest merged.
constexpr std::size_t kChartBars = 24;

std::string chart(const json& c) {
  const json& h = c["histogram"];
  std::vector<std::string> labels = h["labels"].get<std::vector<std::string>>();
  std::vector<double> ref = svg::shares(h["reference"]), cur = svg::shares(h["current"]);
  std::string low = labels.front(), high = labels.back();
  if (labels.size() > kChartBars) {
    std::vector<std::size_t> order(labels.size());
    for (std::size_t i = 0; i < order.size(); ++i)
      order[i] = i;
    std::partial_sort(order.begin(), order.begin() + kChartBars - 1, order.end(),
                      [&](std::size_t a, std::size_t b) {
                        return std::max(ref[a], cur[a]) > std::max(ref[b], cur[b]);
                      });
    std::sort(order.begin(), order.begin() + kChartBars - 1);
    std::vector<double> r, k;
    for (std::size_t j = 0; j + 1 < kChartBars; ++j) {
      r.push_back(ref[order[j]]);
      k.push_back(cur[order[j]]);
    }
    r.push_back(0);
    k.push_back(0);
    for (std::size_t j = kChartBars - 1; j < order.size(); ++j) {
      r.back() += ref[order[j]];
      k.back() += cur[order[j]];
    }
    ref = std::move(r);
    cur = std::move(k);
    low = labels[order.front()];
    high = "the rest";
  }
  const std::string title = c["name"].get<std::string>() + " (" + c["method"].get<std::string>() +
                            " " + format_number(c["score"], "%.3g") +
                            (c["drifted"].get<bool>() ? ", drift)" : ")");
  return svg::bars(
      title, {{"reference", "#8c9bab", ref}, {"current", svg::kColors[1], cur}},
      c["role"].get<std::string>() == "categorical" ? "codes (reference's)" : "reference's bins",
      low, high);
}

// The model's lines: its scores' drift and its estimated AUROC; "" without a model.
std::string model_summary(const json& r) {
  if (!r.contains("model")) return "";
  const json& m = r["model"];
  const json& p = m["prediction"];
  return "Model " + m["source"].get<std::string>() + ": scores " +
         (p["drifted"].get<bool>() ? "DRIFT" : "ok") + " (" + p["method"].get<std::string>() + " " +
         format_number(p["score"], "%.4g") + ", PSI " + format_number(p["psi"]) +
         "); AUROC estimated without labels " + format_number(m["estimated_auroc"]) +
         " (validation " + format_number(m["reference_auroc"]) +
         (m["realized_auroc"].is_number() ? ", realized " + format_number(m["realized_auroc"])
                                          : "") +
         ")";
}

// The windows' series as line charts: the drift share, the statistic of the most severe
// columns, and with a model the estimated (and realized) AUROC; x is the window's ordinal.
std::string window_charts(const json& r) {
  const json& windows = r["windows"];
  const json& series = windows["series"];
  if (series.size() < 2) return "";
  const double last = static_cast<double>(series.size() - 1);
  const std::string x_label = "window (" + windows["by"].get<std::string>() + ", " +
                              windows["size"].get<std::string>() + "), from " +
                              series.front()["start"].get<std::string>();
  auto line = [&](const std::string& name, const char* color, auto value) {
    svg::Series out{name, color, {}};
    for (std::size_t i = 0; i < series.size(); ++i)
      if (const json v = value(series[i]); v.is_number())
        out.points.push_back({static_cast<double>(i), v.get<double>()});
    return out;
  };
  auto top = [](const std::vector<svg::Series>& lines) {
    double high = 0;
    for (const auto& l : lines)
      for (const auto& [x, y] : l.points)
        high = std::max(high, y);
    return svg::Range{0, high > 0 ? high * 1.1 : 1};
  };
  std::string out;
  const std::vector<svg::Series> share = {
      line("drift share", svg::kColors[0], [](const json& w) { return w["drift_share"]; }),
      {"threshold",
       svg::kMuted,
       {{0, r["thresholds"]["share"]}, {last, r["thresholds"]["share"]}},
       true}};
  out += svg::lines("Drift share by window", x_label, "share of feature columns", share,
                    svg::Corner::kTopRight, {0, last}, {0, 1});
  std::vector<svg::Series> columns;
  for (const auto& c : r["columns"]) {
    if (columns.size() == 5) break;
    const std::string name = c["name"].get<std::string>();
    columns.push_back(line(name, svg::kColors[columns.size() + 1],
                           [&](const json& w) { return w["columns"][name]["score"]; }));
  }
  out += svg::lines("The most severe columns by window", x_label, "the verdict's statistic",
                    columns, svg::Corner::kTopRight, {0, last}, top(columns));
  if (series.front().contains("model")) {
    const std::vector<svg::Series> auroc = {
        line("estimated (CBPE)", svg::kColors[0],
             [](const json& w) { return w["model"]["estimated_auroc"]; }),
        line("realized", svg::kColors[2],
             [](const json& w) { return w["model"]["realized_auroc"]; }),
        {"validation",
         svg::kMuted,
         {{0, r["model"]["reference_auroc"]}, {last, r["model"]["reference_auroc"]}},
         true}};
    out += svg::lines("AUROC by window", x_label, "AUROC", auroc, svg::Corner::kBottomRight,
                      {0, last}, {0, 1});
  }
  return out;
}

std::string window_rows_markdown(const json& r) {
  const json& windows = r["windows"];
  const bool model = !windows["series"].empty() && windows["series"][0].contains("model");
  std::ostringstream md;
  md << "## Windows of " << windows["size"].get<std::string>() << " by `"
     << windows["by"].get<std::string>() << "`\n\n| start | rows | drift share | dataset drift | "
     << "gates |" << (model ? " scores | estimated AUROC | realized AUROC |" : "")
     << "\n|---|---|---|---|---|" << (model ? "---|---|---|" : "") << "\n";
  for (const auto& w : windows["series"]) {
    md << "| " << w["start"].get<std::string>() << " | " << w["rows"].get<int64_t>() << " | "
       << format_number(w["drift_share"], "%.3f") << " | "
       << (w["dataset_drifted"].get<bool>() ? "YES" : "no") << " | "
       << (w["passed"].get<bool>() ? "pass" : "**FAIL**") << " |";
    if (model)
      md << " " << (w["model"]["prediction_drifted"].get<bool>() ? "DRIFT" : "ok") << " | "
         << format_number(w["model"]["estimated_auroc"]) << " | "
         << format_number(w["model"]["realized_auroc"]) << " |";
    md << "\n";
  }
  return md.str();
}

}  // namespace

std::string render_drift_markdown(const json& r) {
  std::ostringstream md;
  md << "# Kiln drift\n\nReference " << side(r["reference"]) << "; current " << side(r["current"])
     << ". Method `" << r["method"].get<std::string>() << "`.\n\n**" << summary(r) << "**\n\n";
  if (r.contains("model")) md << "**" << model_summary(r) << "**\n\n";
  md << gates_markdown(r);
  if (r.contains("windows")) md << window_rows_markdown(r) << "\n";
  md << "## Columns, most severe first\n\n|";
  for (const char* h : kHeader)
    md << " " << h << " |";
  md << "\n|";
  for (std::size_t i = 0; i < std::size(kHeader); ++i)
    md << "---|";
  md << "\n";
  for (const auto& c : r["columns"]) {
    md << "|";
    for (const std::string& cell : cells(c))
      md << " " << cell << " |";
    md << "\n";
  }
  return md.str();
}

std::string render_drift_html(const json& r) {
  std::ostringstream h;
  h << page_head("Kiln drift: " + r["current"]["path"].get<std::string>()) << "<h1>Kiln drift</h1>"
    << "<p>Reference <code>" << html_escape(r["reference"]["path"].get<std::string>())
    << "</code> (" << r["reference"]["rows"].get<int64_t>() << " rows); current <code>"
    << html_escape(r["current"]["path"].get<std::string>()) << "</code> ("
    << r["current"]["rows"].get<int64_t>() << " rows). Method <code>"
    << html_escape(r["method"].get<std::string>()) << "</code>.</p>"
    << "<h2 class=\"" << (r["dataset_drifted"].get<bool>() ? "fail" : "pass") << "\">"
    << html_escape(summary(r)) << "</h2>";
  if (r.contains("model"))
    h << "<h2 class=\"" << (r["model"]["prediction"]["drifted"].get<bool>() ? "fail" : "pass")
      << "\">" << html_escape(model_summary(r)) << "</h2>";
  h << gates_html(r);
  const auto& columns = r["columns"];
  const std::size_t charts = std::min<std::size_t>(columns.size(), kDriftCharts);
  h << "<h2>Histograms</h2><p>Reference and current shares on the reference's bins"
    << (charts < columns.size() ? ", for the " + std::to_string(charts) + " most severe of " +
                                      std::to_string(columns.size()) + " columns"
                                : std::string())
    << ".</p><div class=\"plots\">";
  if (r.contains("model")) h << chart(r["model"]["prediction"]);
  for (std::size_t i = 0; i < charts; ++i)
    h << chart(columns[i]);
  h << "</div>";
  if (r.contains("windows")) {
    // The windows' table is report.md's; here, their series.
    h << "<h2>Windows of " << html_escape(r["windows"]["size"].get<std::string>()) << " by <code>"
      << html_escape(r["windows"]["by"].get<std::string>()) << "</code> ("
      << r["windows"]["series"].size() << ")</h2><div class=\"plots\">" << window_charts(r)
      << "</div>";
  }
  h << "<h2>Columns, most severe first</h2><table><tr>";
  for (const char* header : kHeader)
    h << "<th>" << html_escape(header) << "</th>";
  h << "</tr>";
  for (const auto& c : columns) {
    const bool drifted = c["drifted"].get<bool>();
    h << "<tr>";
    std::size_t k = 0;
    for (const std::string& cell : cells(c))
      h << (k++ == 5 ? (drifted ? "<td class=\"fail\">" : "<td class=\"pass\">") : "<td>")
        << html_escape(cell) << "</td>";
    h << "</tr>";
  }
  h << "</table><h2>Thresholds</h2><pre>" << html_escape(r["thresholds"].dump(2))
    << "</pre></body></html>\n";
  return h.str();
}

}  // namespace kiln::eval
