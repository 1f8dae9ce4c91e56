#include "eval/gates.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <sstream>

#include "core/config.h"
#include "core/errors.h"
#include "core/json_fields.h"

namespace kiln::eval {
namespace {

// A small scanner over the gate text.
class Scanner {
 public:
  explicit Scanner(const std::string& text) : text_(text) {}
  void skip_space() {
    while (at_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[at_])))
      ++at_;
  }
  bool done() {
    skip_space();
    return at_ >= text_.size();
  }
  char peek() {
    skip_space();
    return at_ < text_.size() ? text_[at_] : '\0';
  }
  bool take(const char* token) {
    skip_space();
    std::string t(token);
    if (text_.compare(at_, t.size(), t) != 0) return false;
    at_ += t.size();
    return true;
  }
  std::string word() {  // letters, digits, '_', '.'
    skip_space();
    std::size_t start = at_;
    while (at_ < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[at_])) ||
                                  text_[at_] == '_' || text_[at_] == '.'))
      ++at_;
    return text_.substr(start, at_ - start);
  }
  std::optional<double> number() {
    skip_space();
    double value = 0;
    auto [end, ec] = std::from_chars(text_.data() + at_, text_.data() + text_.size(), value);
    if (ec != std::errc() || !std::isfinite(value)) return std::nullopt;
    at_ = static_cast<std::size_t>(end - text_.data());
    return value;
  }

 private:
  const std::string& text_;
  std::size_t at_ = 0;
};

[[noreturn]] void bad_gate(const std::string& text, const std::string& why,
                           const GateNames& names) {
  throw ConfigError(
      detail::concat("gate '", text, "': ", why, " (expected e.g. ", names.example, ")"));
}

// A whole-word ref of a command's own names.
GateRef parse_name(const std::string& word, const std::string& text, const GateNames& names) {
  const auto& exact = names.exact;
  bool known = std::find(exact.begin(), exact.end(), word) != exact.end();
  for (const std::string& prefix : names.prefixes)
    known = known || (word.size() > prefix.size() && word.starts_with(prefix));
  if (!known) {
    std::vector<std::string> all = exact;
    for (const std::string& prefix : names.prefixes)
      all.push_back(prefix + "COLUMN");
    bad_gate(text, "unknown name '" + word + "'; nearest: '" + core::nearest_key(word, all) + "'",
             names);
  }
  GateRef ref;
  ref.metric = word;
  return ref;
}

GateRef parse_ref(const std::string& word, const std::string& text, const GateNames& names) {
  if (!names.baselines) return parse_name(word, text, names);
  const auto& metrics = names.exact;
  std::vector<std::string> parts;
  std::stringstream in(word);
  std::string part;
  while (std::getline(in, part, '.'))
    parts.push_back(part);
  GateRef ref;
  std::size_t i = 0;
  if (!parts.empty() && parts[0] == "baseline") {
    ref.baseline = true;
    i = 1;
    bool next_is_metric =
        i < parts.size() && std::find(metrics.begin(), metrics.end(), parts[i]) != metrics.end();
    if (!next_is_metric && i + 1 < parts.size()) ref.baseline_name = parts[i++];
  }
  if (i >= parts.size()) bad_gate(text, "'" + word + "' names no metric", names);
  ref.metric = parts[i++];
  if (std::find(metrics.begin(), metrics.end(), ref.metric) == metrics.end()) {
    bad_gate(text,
             "unknown metric '" + ref.metric + "'; nearest: '" +
                 core::nearest_key(ref.metric, metrics) + "'",
             names);
  }
  if (i < parts.size()) {
    ref.part = parts[i++];
    if (ref.part != "ci_low" && ref.part != "ci_high") {
      bad_gate(text, "'" + ref.part + "' after a metric must be ci_low or ci_high", names);
    }
  }
  if (i < parts.size()) bad_gate(text, "'" + word + "' has too many parts", names);
  return ref;
}

GateSide parse_side(Scanner& s, const std::string& text, const GateNames& names) {
  GateSide side;
  if (std::isalpha(static_cast<unsigned char>(s.peek()))) {
    side.ref = parse_ref(s.word(), text, names);
    char sign = s.peek();
    if (sign == '+' || sign == '-') {
      s.take(sign == '+' ? "+" : "-");
      auto offset = s.number();
      if (!offset) bad_gate(text, std::string("expected a number after '") + sign + "'", names);
      side.number = sign == '+' ? *offset : -*offset;
    }
  } else {
    auto number = s.number();
    if (!number) bad_gate(text, "expected a number or a metric", names);
    side.number = *number;
  }
  return side;
}

}  // namespace

const std::vector<std::string>& gate_metrics() {
  static const std::vector<std::string> names = {
      "auroc",  "ap", "log_loss", "brier", "ece", "ks", "precision",
      "recall", "f1", "best_f1",  "rmse",  "mae", "r2"};
  return names;
}

const GateNames& eval_gate_names() {
  static const GateNames names{
      gate_metrics(),
      {},
      true,
      "'auroc >= 0.80' or 'auroc >= baseline.auroc - 0.002'; see docs/EVAL.md"};
  return names;
}

std::string GateRef::text() const {
  std::string out =
      baseline ? (baseline_name.empty() ? "baseline." : "baseline." + baseline_name + ".") : "";
  out += metric;
  if (part != "value") out += "." + part;
  return out;
}

Gate parse_gate(const std::string& text, const GateNames& names) {
  Gate gate;
  gate.text = text;
  Scanner s(text);
  if (s.done()) bad_gate(text, "empty", names);
  gate.left = parse_side(s, text, names);
  for (const char* op : {">=", "<=", ">", "<"}) {
    if (s.take(op)) {
      gate.op = op;
      break;
    }
  }
  if (gate.op.empty()) bad_gate(text, "expected one of >= <= > < after the left side", names);
  gate.right = parse_side(s, text, names);
  if (!s.done()) bad_gate(text, "unexpected text after the right side", names);
  if (!gate.left.ref && !gate.right.ref) bad_gate(text, "compares two numbers", names);
  return gate;
}

nlohmann::ordered_json GateResult::to_json() const {
  return {{"gate", gate},
          {"passed", passed},
          {"left", core::finite_or_null(left)},
          {"right", core::finite_or_null(right)},
          {"detail", detail}};
}

GateResult evaluate_gate(const Gate& gate, const GateLookup& lookup) {
  GateResult result;
  result.gate = gate.text;
  auto value = [&](const GateSide& side) {
    if (!side.ref) return side.number;
    std::optional<double> v = lookup(*side.ref);
    KILN_CHECK(v.has_value(), ConfigError, "gate '", gate.text,
               "': ", side.ref->baseline ? "no such baseline for '" : "no value for '",
               side.ref->text(), "'");
    if (std::isnan(*v)) result.detail += side.ref->text() + " is undefined here; ";
    return *v + side.number;
  };
  result.left = value(gate.left);
  result.right = value(gate.right);
  const double l = result.left, r = result.right;
  result.passed = gate.op == ">="   ? l >= r
                  : gate.op == "<=" ? l <= r
                  : gate.op == ">"  ? l > r
                                    : l < r;
  return result;
}

}  // namespace kiln::eval
