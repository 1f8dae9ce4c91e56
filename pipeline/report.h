// A pipeline run's report (D/report.html): the steps as a graph colored by outcome, each
// step's line, the evaluations against their baselines with their gates, and the drift the
// validate steps measured. Read from pipeline.json's record and the reports its steps wrote
// (untrusted: a report that does not parse is named, not shown).
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace kiln::pipeline {

std::string render_report_html(const nlohmann::ordered_json& record);

// What a drift report found, in a line: "1 of 19 columns drifted (monthly_charges); the
// scores drifted"; "" when the report cannot be read.
std::string drift_found(const std::string& dir);

}  // namespace kiln::pipeline
