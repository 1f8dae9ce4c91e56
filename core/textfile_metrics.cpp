#include "core/textfile_metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>

#include "core/errors.h"
#include "core/files.h"

namespace kiln::core {
namespace {

std::string escape_label(const std::string& value) {
  std::string out;
  for (const char c : value) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char text[32];
  const auto end = std::to_chars(text, text + sizeof text, v).ptr;
  return std::string(text, end);
}

}  // namespace

TextfileMetrics::TextfileMetrics(std::string path, MetricLabels labels)
    : path_(std::move(path)), labels_(std::move(labels)) {}

void TextfileMetrics::set(const std::string& name, const char* type, const char* help, double value,
                          const MetricLabels& labels) {
  if (!enabled()) return;
  auto family = std::find_if(families_.begin(), families_.end(),
                             [&](const Family& f) { return f.name == name; });
  if (family == families_.end()) family = families_.insert(families_.end(), {name, type, help, {}});
  auto sample = std::find_if(family->samples.begin(), family->samples.end(),
                             [&](const Sample& s) { return s.labels == labels; });
  if (sample == family->samples.end())
    family->samples.push_back({labels, value});
  else
    sample->value = value;
}

void TextfileMetrics::set_state(const std::string& name, const char* help,
                                std::initializer_list<const char*> states,
                                std::string_view current) {
  for (const char* state : states)
    set(name, "gauge", help, current == state ? 1 : 0, {{"state", state}});
}

void TextfileMetrics::set_heartbeat(const std::string& name, const char* help) {
  set(name, "gauge", help,
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
}

std::string TextfileMetrics::text() const {
  std::string out;
  for (const Family& f : families_) {
    out += "# HELP " + f.name + " " + f.help + "\n# TYPE " + f.name + " " + f.type + "\n";
    for (const Sample& s : f.samples) {
      out += f.name;
      char sep = '{';
      for (const auto* set : {&labels_, &s.labels})
        for (const auto& [key, value] : *set) {
          out += sep + key + "=\"" + escape_label(value) + "\"";
          sep = ',';
        }
      out += (sep == ',' ? "} " : " ") + format_value(s.value) + "\n";
    }
  }
  return out;
}

void TextfileMetrics::write() {
  if (!enabled()) return;
  replace_file(path_, text());
  written_ = std::chrono::steady_clock::now();
}

void TextfileMetrics::write_every(std::chrono::milliseconds every) {
  if (enabled() && std::chrono::steady_clock::now() - written_ >= every) write();
}

std::string rank_path(const std::string& path, int rank) {
  if (rank <= 0 || path.empty()) return path;
  const std::filesystem::path p(path);
  return (p.parent_path() /
          (p.stem().string() + ".rank" + std::to_string(rank) + p.extension().string()))
      .string();
}

}  // namespace kiln::core
