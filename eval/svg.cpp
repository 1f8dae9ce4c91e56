#include "eval/svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace kiln::eval {

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string page_head(const std::string& title) {
  return "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>" +
         html_escape(title) +
         "</title><style>"
         "body{font-family:system-ui,sans-serif;margin:24px;color:#212529;max-width:1320px}"
         "table{border-collapse:collapse;margin:8px 0 20px}td,th{border:1px solid "
         "#dee2e6;padding:4px 10px;text-align:right}"
         "th{background:#f1f3f5}td:first-child,th:first-child{text-align:left}"
         ".pass{color:#2b8a3e;font-weight:600}.fail{color:#c92a2a;font-weight:600}"
         ".plots{display:flex;flex-wrap:wrap;gap:12px}.plot text{font-size:11px;fill:#495057}"
         ".plot .title{font-size:13px;font-weight:600;fill:#212529}.grid{stroke:#e9ecef}"
         ".frame{fill:none;stroke:#868e96}pre{background:#f8f9fa;padding:10px;overflow:auto}"
         "</style></head><body>";
}

namespace svg {
namespace {

// Every chart is w x h with the plot area inset by these margins.
constexpr double w = 420, h = 340, left = 52, top = 30, right = 16, bottom = 46;
constexpr double pw = w - left - right, ph = h - top - bottom;

// The <svg> element's opening, its background and its title.
void open(std::ostringstream& s, const std::string& title) {
  s.precision(5);
  s << "<svg class=\"plot\" xmlns=\"http://www.w3.org/2000/svg\" width=\"" << w << "\" height=\""
    << h << "\" viewBox=\"0 0 " << w << " " << h << "\" role=\"img\" aria-label=\""
    << html_escape(title) << "\">"
    << "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>"
    << "<text x=\"" << w / 2 << "\" y=\"18\" text-anchor=\"middle\" class=\"title\">"
    << html_escape(title) << "</text>";
}

// An axis label: 3 significant digits, thousands and up with a suffix (20.8k, 1.5M) so that
// they fit beside the axis.
std::string tick(double v) {
  char buffer[32];
  const double a = std::fabs(v);
  if (a >= 1e9)
    std::snprintf(buffer, sizeof buffer, "%.3gG", v / 1e9);
  else if (a >= 1e6)
    std::snprintf(buffer, sizeof buffer, "%.3gM", v / 1e6);
  else if (a >= 1e4)
    std::snprintf(buffer, sizeof buffer, "%.3gk", v / 1e3);
  else
    std::snprintf(buffer, sizeof buffer, "%.3g", v);
  return buffer;
}

void frame(std::ostringstream& s) {
  s << "<rect x=\"" << left << "\" y=\"" << top << "\" width=\"" << pw << "\" height=\"" << ph
    << "\" class=\"frame\"/>";
}

}  // namespace

std::string lines(const std::string& title, const std::string& x_label, const std::string& y_label,
                  const std::vector<Series>& series, Corner legend, Range xr, Range yr) {
  auto scale = [](double v, Range r) {
    return r.high > r.low ? std::clamp((v - r.low) / (r.high - r.low), 0.0, 1.0) : 0.5;
  };
  auto x = [&](double v) { return left + scale(v, xr) * pw; };
  auto y = [&](double v) { return top + (1 - scale(v, yr)) * ph; };
  std::ostringstream s;
  open(s, title);
  for (int i = 0; i <= 5; ++i) {
    const double vx = xr.low + (xr.high - xr.low) * i / 5.0;
    const double vy = yr.low + (yr.high - yr.low) * i / 5.0;
    s << "<line x1=\"" << left << "\" x2=\"" << left + pw << "\" y1=\"" << y(vy) << "\" y2=\""
      << y(vy) << "\" class=\"grid\"/><line y1=\"" << top << "\" y2=\"" << top + ph << "\" x1=\""
      << x(vx) << "\" x2=\"" << x(vx) << "\" class=\"grid\"/>"
      << "<text x=\"" << x(vx) << "\" y=\"" << top + ph + 16 << "\" text-anchor=\"middle\">"
      << tick(vx) << "</text>"
      << "<text x=\"" << left - 6 << "\" y=\"" << y(vy) + 4 << "\" text-anchor=\"end\">" << tick(vy)
      << "</text>";
  }
  frame(s);
  s << "<text x=\"" << left + pw / 2 << "\" y=\"" << h - 8 << "\" text-anchor=\"middle\">"
    << html_escape(x_label) << "</text>"
    << "<text transform=\"translate(14," << top + ph / 2
    << ") rotate(-90)\" text-anchor=\"middle\">" << html_escape(y_label) << "</text>";
  for (std::size_t k = 0; k < series.size(); ++k) {
    const Series& line = series[k];
    const char* dash = line.dashed ? " stroke-dasharray=\"5 4\"" : "";
    s << "<polyline fill=\"none\" stroke=\"" << line.color << "\" stroke-width=\"2\"" << dash
      << " points=\"";
    for (const auto& [px, py] : line.points)
      s << x(px) << "," << y(py) << " ";
    s << "\"/>";
    if (line.points.size() == 1)  // a polyline of one point draws nothing
      s << "<circle cx=\"" << x(line.points[0].first) << "\" cy=\"" << y(line.points[0].second)
        << "\" r=\"3\" fill=\"" << line.color << "\"/>";
    const double lx = legend == Corner::kTopLeft ? left + 10 : left + pw - 150;
    const double ly = legend == Corner::kBottomRight
                          ? top + ph - 10 - 16.0 * static_cast<double>(series.size() - 1 - k)
                          : top + 14 + 16.0 * static_cast<double>(k);
    s << "<line x1=\"" << lx << "\" x2=\"" << lx + 20 << "\" y1=\"" << ly - 4 << "\" y2=\""
      << ly - 4 << "\" stroke=\"" << line.color << "\" stroke-width=\"2\"" << dash << "/><text x=\""
      << lx + 24 << "\" y=\"" << ly << "\">" << html_escape(line.name) << "</text>";
  }
  s << "</svg>";
  return s.str();
}

std::vector<double> shares(std::vector<double> counts) {
  double total = 0;
  for (double v : counts)
    total += v;
  for (double& v : counts)
    v = total > 0 ? v / total : 0;
  return counts;
}

std::string bars(const std::string& title, const std::vector<Bars>& series,
                 const std::string& x_label, const std::string& low, const std::string& high) {
  std::size_t groups = 0;
  double peak = 0;
  for (const Bars& b : series) {
    groups = std::max(groups, b.heights.size());
    for (double v : b.heights)
      peak = std::max(peak, v);
  }
  const double group = pw / static_cast<double>(std::max<std::size_t>(groups, 1));
  const double bar = group / static_cast<double>(std::max<std::size_t>(series.size(), 1));
  std::ostringstream s;
  open(s, title);
  frame(s);
  for (std::size_t k = 0; k < series.size(); ++k) {
    const Bars& b = series[k];
    for (std::size_t i = 0; i < b.heights.size(); ++i) {
      // The tallest bar reaches 80% of the plot: the legend sits above the bars.
      const double height = peak > 0 ? std::max(0.0, b.heights[i]) / peak * ph * 0.8 : 0;
      const double x0 = left + group * static_cast<double>(i) + bar * static_cast<double>(k);
      s << "<rect x=\"" << x0 + (k == 0 ? 1 : 0) << "\" y=\"" << top + ph - height << "\" width=\""
        << std::max(bar - 1, 0.5) << "\" height=\"" << height << "\" fill=\"" << b.color << "\"/>";
    }
    const double ly = top + 8 + 18.0 * static_cast<double>(k);
    s << "<rect x=\"" << left + pw - 120 << "\" y=\"" << ly
      << "\" width=\"12\" height=\"10\" fill=\"" << b.color << "\"/><text x=\"" << left + pw - 104
      << "\" y=\"" << ly + 9 << "\">" << html_escape(b.name) << "</text>";
  }
  s << "<text x=\"" << left << "\" y=\"" << h - 8 << "\">" << html_escape(low) << "</text>"
    << "<text x=\"" << left + pw << "\" y=\"" << h - 8 << "\" text-anchor=\"end\">"
    << html_escape(high) << "</text>"
    << "<text x=\"" << left + pw / 2 << "\" y=\"" << h - 8 << "\" text-anchor=\"middle\">"
    << html_escape(x_label) << "</text></svg>";
  return s.str();
}

}  // namespace svg
}  // namespace kiln::eval
