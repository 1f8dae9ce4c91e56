// Self-contained SVG charts for Kiln's HTML reports (eval, drift): line charts and grouped
// bar charts with axes, labels and a legend; no script, nothing loaded from outside.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace kiln::eval {

// `s` with &, <, > and " escaped for HTML text and attributes.
std::string html_escape(const std::string& s);

// An HTML page's start up to <body>: its title and the <style> Kiln's reports share
// (tables, pass/fail, plots).
std::string page_head(const std::string& title);

namespace svg {

// Distinct colors for series, in order; kMuted for references (chance, perfect calibration).
inline constexpr const char* kColors[] = {"#1c7ed6", "#e8590c", "#2f9e44",
                                          "#ae3ec9", "#f08c00", "#495057"};
inline constexpr const char* kMuted = "#adb5bd";

struct Series {
  std::string name, color;
  std::vector<std::pair<double, double>> points;
  bool dashed = false;
};

// Where the legend goes: the corner the curves leave empty.
enum class Corner { kTopRight, kBottomRight, kTopLeft };

struct Range {
  double low = 0, high = 1;
};

// A line chart on x by y (values outside are clamped), with a grid of 5 steps per axis.
std::string lines(const std::string& title, const std::string& x_label, const std::string& y_label,
                  const std::vector<Series>& series, Corner legend, Range x = {}, Range y = {});

struct Bars {
  std::string name, color;
  std::vector<double> heights;  // one per group; every series has as many
};

// Each count as a share of their sum (zeros when it is 0): histograms on one scale.
std::vector<double> shares(std::vector<double> counts);

// Grouped bars: group i holds each series' i-th bar side by side, on one scale from 0 to the
// tallest (at 80% of the plot's height, below the legend). `low` and `high` label the left and
// right ends of the x axis.
std::string bars(const std::string& title, const std::vector<Bars>& series,
                 const std::string& x_label, const std::string& low, const std::string& high);

}  // namespace svg
}  // namespace kiln::eval
