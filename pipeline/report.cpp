#include "pipeline/report.h"

#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <sstream>

#include "core/files.h"
#include "eval/report.h"
#include "eval/svg.h"

namespace kiln::pipeline {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;
using eval::html_escape;

// Fill and stroke of a step's box by its outcome.
struct Look {
  const char* fill;
  const char* stroke;
};
Look look_of(const std::string& state) {
  static const std::map<std::string, Look> looks = {
      {"passed", {"#d3f9d8", "#2f9e44"}},  {"gated", {"#ffe8cc", "#e8590c"}},
      {"failed", {"#ffe3e3", "#c92a2a"}},  {"stopped", {"#ffe3e3", "#c92a2a"}},
      {"skipped", {"#f1f3f5", "#868e96"}}, {"to run", {"#e7f5ff", "#1c7ed6"}}};
  const auto it = looks.find(state);
  return it != looks.end() ? it->second : Look{"#f1f3f5", "#868e96"};
}

std::string str(const json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

// The steps left to right in the order they ran; an arc from each step it reads.
std::string graph_svg(const json& steps) {
  constexpr double box_w = 140, box_h = 66, gap = 36, top = 70;
  const double width = 20 + static_cast<double>(steps.size()) * (box_w + gap);
  std::map<std::string, double> x_of;
  std::ostringstream s;
  s.precision(5);
  s << "<svg class=\"plot\" xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width
    << "\" height=\"160\" viewBox=\"0 0 " << width << " 160\" role=\"img\" "
    << "aria-label=\"the steps\"><rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>"
    << "<defs><marker id=\"arrow\" markerWidth=\"8\" markerHeight=\"8\" refX=\"7\" refY=\"4\" "
    << "orient=\"auto\"><path d=\"M0,0 L8,4 L0,8 z\" fill=\"#495057\"/></marker></defs>";
  double x = 20;
  for (const json& step : steps) {
    x_of[str(step, "name")] = x;
    x += box_w + gap;
  }
  for (const json& step : steps) {
    if (!step.contains("inputs") || !step["inputs"].is_array()) continue;
    const double to = x_of[str(step, "name")];
    for (const json& input : step["inputs"]) {
      if (!input.is_string() || !x_of.contains(input.get<std::string>())) continue;
      const double from = x_of[input.get<std::string>()] + box_w / 2;
      const double end = to + box_w / 2 - 6;
      const double lift = 12 + (end - from) / (box_w + gap) * 10;  // longer arcs rise higher
      s << "<path d=\"M" << from << "," << top << " C" << from << "," << top - lift - 20 << " "
        << end << "," << top - lift - 20 << " " << end << "," << top
        << "\" fill=\"none\" stroke=\"#495057\" marker-end=\"url(#arrow)\"/>";
    }
  }
  for (const json& step : steps) {
    const std::string state = str(step, "state");
    const Look l = look_of(state);
    const double bx = x_of[str(step, "name")];
    const bool cached = step.value("cached", false);
    s << "<rect x=\"" << bx << "\" y=\"" << top << "\" width=\"" << box_w << "\" height=\"" << box_h
      << "\" rx=\"6\" fill=\"" << l.fill << "\" stroke=\"" << l.stroke << "\" stroke-width=\"2\""
      << (cached ? " stroke-dasharray=\"5,3\"" : "") << "/>"
      << "<text x=\"" << bx + box_w / 2 << "\" y=\"" << top + 21
      << "\" text-anchor=\"middle\" class=\"title\">" << html_escape(str(step, "name"))
      << "</text><text x=\"" << bx + box_w / 2 << "\" y=\"" << top + 38
      << "\" text-anchor=\"middle\">" << html_escape(str(step, "kind")) << "</text><text x=\""
      << bx + box_w / 2 << "\" y=\"" << top + 54 << "\" text-anchor=\"middle\">"
      << html_escape(state) << (cached ? ", cached" : "") << "</text>";
  }
  s << "</svg>";
  return s.str();
}

// A report.json a step wrote, or nullopt (the reason in `problem`).
std::optional<json> read_report(const std::string& dir, std::string& problem) {
  const std::string path = (fs::path(dir) / "report.json").string();
  try {
    json j = json::parse(core::read_file(path, "report"), nullptr, false);
    if (j.is_object()) return j;
    problem = path + ": not a JSON object";
  } catch (const std::exception& e) {
    problem = e.what();
  }
  return std::nullopt;
}

// An evaluate step: AUROC and AP (with intervals) of the model and each baseline; its gates.
void evaluation(std::ostringstream& h, const json& step, const json& report) {
  h << "<h3>" << html_escape(str(step, "name")) << ": the model against its baselines</h3>"
    << "<table><tr><th>model</th><th>AUROC</th><th>95% interval</th><th>AP</th></tr>";
  auto row = [&](const std::string& name, const json& metrics) {
    const json auroc = metrics.contains("auroc") ? metrics["auroc"] : json::object();
    h << "<tr><td>" << html_escape(name) << "</td><td>"
      << eval::format_number(auroc.value("value", json())) << "</td><td>"
      << eval::format_number(auroc.value("ci_low", json())) << " – "
      << eval::format_number(auroc.value("ci_high", json())) << "</td><td>"
      << eval::format_number(metrics.contains("ap") ? metrics["ap"].value("value", json()) : json())
      << "</td></tr>";
  };
  if (report.contains("metrics") && report["metrics"].is_object())
    row("candidate", report["metrics"]);
  if (report.contains("baselines") && report["baselines"].is_array())
    for (const json& b : report["baselines"])
      if (b.is_object() && b.contains("metrics") && b["metrics"].is_object())
        row(str(b, "name") + " (" + str(b, "source") + ")", b["metrics"]);
  h << "</table>" << eval::gates_html(report);
}

// A validate step's drift reports: the share of drifted columns and the gates, per dataset.
void drift(std::ostringstream& h, const json& step) {
  const json& outputs = step["outputs"];
  if (!outputs.contains("drift") || !outputs["drift"].is_object()) return;
  h << "<h3>" << html_escape(str(step, "name"))
    << ": drift against the reference</h3><table><tr><th>dataset</th><th>drifted "
       "columns</th><th>share</th><th>gates</th><th>report</th></tr>";
  for (const auto& [dataset, d] : outputs["drift"].items()) {
    std::string problem;
    const std::string dir = str(d, "report");
    const std::optional<json> r = read_report(dir, problem);
    h << "<tr><td>" << html_escape(dataset) << "</td>";
    if (r) {
      h << "<td>" << r->value("drifted_columns", json()).dump() << " of "
        << r->value("feature_columns", json()).dump() << "</td><td>"
        << eval::format_number(r->value("drift_share", json())) << "</td><td class=\""
        << (d.value("gates_failed", false) ? "fail\">failed" : "pass\">passed") << "</td>";
    } else {
      h << "<td colspan=\"3\">" << html_escape(problem) << "</td>";
    }
    h << "<td><a href=\"" << html_escape((fs::path(dir) / "report.html").string())
      << "\">report</a></td></tr>";
  }
  h << "</table>";
}

}  // namespace

std::string drift_found(const std::string& dir) {
  std::string problem;
  const std::optional<json> report = read_report(dir, problem);
  if (!report || !report->contains("columns") || !(*report)["columns"].is_array() ||
      !report->value("drifted_columns", json()).is_number() ||
      !report->value("feature_columns", json()).is_number())
    return "";
  std::vector<std::string> drifted;  // the feature columns, most drifted first
  for (const json& c : (*report)["columns"])
    if (c.is_object() && c.value("drifted", json()) == true && str(c, "role") != "label")
      drifted.push_back(str(c, "name"));
  std::string line = report->value("drifted_columns", json()).dump() + " of " +
                     report->value("feature_columns", json()).dump() + " columns drifted";
  for (std::size_t i = 0; i < drifted.size() && i < 5; ++i)
    line += (i == 0 ? " (" : ", ") + drifted[i];
  if (drifted.size() > 5) line += ", " + std::to_string(drifted.size() - 5) + " more";
  if (!drifted.empty()) line += ")";
  const json model = report->value("model", json::object());
  if (model.is_object() && model.contains("prediction") && model["prediction"].is_object())
    line += model["prediction"].value("drifted", json()) == true ? "; the scores drifted"
                                                                 : "; the scores did not drift";
  return line;
}

std::string render_report_html(const json& record) {
  const json steps =
      record.contains("steps") && record["steps"].is_array() ? record["steps"] : json::array();
  std::ostringstream h;
  const std::string title = "Pipeline " + str(record, "file");
  h << eval::page_head(title) << "<h1>" << html_escape(title) << "</h1><p>"
    << html_escape(str(record, "started")) << " to " << html_escape(str(record, "finished"))
    << ", exit " << record.value("exit_code", json()).dump() << "; registry "
    << html_escape(str(record, "registry")) << "</p>";
  if (record.contains("trigger") && record["trigger"].is_object())
    h << "<p>Trigger: " << html_escape(str(record["trigger"], "reason")) << "</p>";
  h << "<div class=\"plots\">" << graph_svg(steps) << "</div>"
    << "<table><tr><th>step</th><th>kind</th><th>state</th><th>seconds</th><th>why</th>"
       "<th>log</th></tr>";
  for (const json& step : steps) {
    const std::string state = str(step, "state");
    const char* cls = state == "passed" ? "pass" : state == "skipped" ? "" : "fail";
    h << "<tr><td>" << html_escape(str(step, "name")) << "</td><td>"
      << html_escape(str(step, "kind")) << "</td><td class=\"" << cls << "\">" << html_escape(state)
      << (step.value("cached", false) ? " (cached)" : "") << "</td><td>"
      << eval::format_number(step.value("seconds", json())) << "</td><td style=\"text-align:left\">"
      << html_escape(str(step, "reason")) << "</td><td>"
      << (str(step, "log").empty() ? ""
                                   : "<a href=\"" + html_escape(str(step, "log")) + "\">log</a>")
      << "</td></tr>";
  }
  h << "</table>";
  for (const json& step : steps) {
    if (!step.contains("outputs") || !step["outputs"].is_object()) continue;
    if (str(step, "kind") == "validate") drift(h, step);
    if (str(step, "kind") != "evaluate" || str(step["outputs"], "report").empty()) continue;
    std::string problem;
    std::ostringstream part;
    try {
      if (const auto report = read_report(str(step["outputs"], "report"), problem))
        evaluation(part, step, *report);
    } catch (const nlohmann::json::exception& e) {  // a report of the wrong shape
      problem = str(step["outputs"], "report") + "/report.json: " + e.what();
    }
    h << (problem.empty()
              ? part.str()
              : "<p>" + html_escape(str(step, "name")) + ": " + html_escape(problem) + "</p>");
  }
  h << "</body></html>\n";
  return h.str();
}

}  // namespace kiln::pipeline
