// kiln drift's report.md and report.html, rendered from its report.json
// (eval::DataDrift::to_json): the verdict, the gates, every column's statistics most severe
// first, and for the most severe columns the reference's and the current data's histograms
// overlaid on the reference's bins (SVG). Self-contained like eval's report.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace kiln::eval {

// Columns drawn as histograms in report.html; the tables list every column.
inline constexpr int kDriftCharts = 24;

std::string render_drift_markdown(const nlohmann::ordered_json& report);
std::string render_drift_html(const nlohmann::ordered_json& report);

}  // namespace kiln::eval
