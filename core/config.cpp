#include "core/config.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "core/utf8.h"

namespace kiln::core {
namespace {

// Letters, digits, '_', '-', and the glob characters * ? [ ] (an open map's key may be a
// pattern, e.g. transform.columns.noise_*).
bool valid_segment(std::string_view s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '*' || c == '?' || c == '[' || c == ']';
  });
}

std::string dotted(const std::vector<std::string>& path) {
  std::string out;
  for (const auto& segment : path)
    out += (out.empty() ? "" : ".") + segment;
  return out;
}

// Walks `path` in a const tree; returns an undefined node when any step is missing.
YAML::Node find(const YAML::Node& root, const std::vector<std::string>& path, std::size_t depth) {
  if (depth == path.size()) return root;
  if (!root.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
  const YAML::Node child = root[path[depth]];
  if (!child.IsDefined()) return YAML::Node(YAML::NodeType::Undefined);
  return find(child, path, depth + 1);
}

// Whether a dotted key is a schema key or an entry of one of its open maps ("a.*").
bool matches_open_map(const std::string& key, const std::vector<std::string>& known_keys) {
  for (const auto& known : known_keys) {
    if (known.size() > 2 && known.ends_with(".*") &&
        key.starts_with(std::string_view(known).substr(0, known.size() - 1)) &&
        key.find('.', known.size() - 1) == std::string::npos) {
      return true;
    }
  }
  return false;
}

// Sets (creating maps on the way when `create`) the value at path[depth..] under `node`.
// Recursion keeps each yaml-cpp handle fresh: reassigning a Node aliases the tree.
void set_at(YAML::Node node, const std::vector<std::string>& path, std::size_t depth,
            const YAML::Node& value, const ConfigOverride& o) {
  const std::string& key = path[depth];
  if (depth + 1 == path.size()) {
    node[key] = value;
    return;
  }
  if (!node[key].IsDefined() || node[key].IsNull()) node[key] = YAML::Node(YAML::NodeType::Map);
  KILN_CHECK(node[key].IsMap(), ConfigError, "override '", o.text, "': '",
             dotted({path.begin(), path.begin() + depth + 1}), "' is a value, not a map of keys");
  set_at(node[key], path, depth + 1, value, o);
}

void remove_at(YAML::Node node, const std::vector<std::string>& path, std::size_t depth) {
  if (depth + 1 == path.size()) {
    node.remove(path[depth]);
    return;
  }
  remove_at(node[path[depth]], path, depth + 1);
}

// What nlohmann::json and yaml-cpp do not check in a config file: yaml-cpp keeps the last
// of a map's equal keys, and a config that sets a key twice is a mistake (which one was
// meant?), so it is refused naming both lines; and text must be UTF-8 (run.json and the
// reports are JSON). ConfigError naming the file, line and key.
void check_layer(const YAML::Node& node, const std::string& path, const std::string& key) {
  auto text = [&](const YAML::Node& scalar, const std::string& what) {
    const std::string fault = utf8_fault(scalar.Scalar());
    KILN_CHECK(fault.empty(), ConfigError, path, ":", scalar.Mark().line + 1, ": ", what, " is ",
               fault);
  };
  if (node.IsScalar()) text(node, "the value of '" + key + "'");
  if (node.IsSequence())
    for (const auto& item : node)
      check_layer(item, path, key);
  if (!node.IsMap()) return;
  std::map<std::string, int> first_line;
  for (const auto& item : node) {
    text(item.first, "a key in '" + key + "'");
    const std::string name = (key.empty() ? "" : key + ".") + item.first.Scalar();
    const int line = item.first.Mark().line + 1;
    auto [at, added] = first_line.emplace(name, line);
    KILN_CHECK(added, ConfigError, path, ":", line, ": config key '", name,
               "' is set twice (first at line ", at->second, ")");
    check_layer(item.second, path, name);
  }
}

}  // namespace

ConfigOverride parse_override(std::string_view text) {
  const std::string fault = utf8_fault(text);
  KILN_CHECK(fault.empty(), UsageError, "override '", text, "' is ", fault);
  ConfigOverride o;
  o.text = std::string(text);
  std::string_view rest = text;
  if (!rest.empty() && rest[0] == '+') {
    o.op = ConfigOverride::Op::kAdd;
    rest.remove_prefix(1);
  } else if (!rest.empty() && rest[0] == '~') {
    o.op = ConfigOverride::Op::kDelete;
    rest.remove_prefix(1);
  }
  std::size_t eq = rest.find('=');
  std::string_view key = rest.substr(0, eq);
  const char* grammar = " (expected key.path=value, +key.path=value or ~key.path)";
  KILN_CHECK(o.op == ConfigOverride::Op::kDelete || eq != std::string_view::npos, UsageError,
             "override '", text, "' has no '='", grammar);
  KILN_CHECK(o.op != ConfigOverride::Op::kDelete || eq == std::string_view::npos, UsageError,
             "override '", text, "': a delete (~key.path) takes no value");
  std::size_t start = 0;
  while (true) {
    std::size_t dot = key.find('.', start);
    std::string_view segment = key.substr(start, dot == std::string_view::npos ? dot : dot - start);
    KILN_CHECK(valid_segment(segment), UsageError, "override '", text, "': bad key '", key,
               "': each dot-separated part must be letters, digits, '_' or '-'", grammar);
    o.path.emplace_back(segment);
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  if (o.op == ConfigOverride::Op::kDelete) return o;

  std::string value(rest.substr(eq + 1));
  try {
    o.value = YAML::Load(value);
  } catch (const YAML::Exception& e) {
    throw UsageError(
        detail::concat("override '", text, "': value '", value, "' is not valid YAML: ", e.msg));
  }
  KILN_CHECK(!o.value.IsMap(), UsageError, "override '", text,
             "': the value must be a scalar or a list, not a map; set one key at a time");
  if (!o.value.IsDefined()) o.value = YAML::Node(YAML::NodeType::Null);
  return o;
}

YAML::Node load_config_file(const std::string& path) {
  std::error_code ec;
  KILN_CHECK(std::filesystem::exists(path, ec), InputError, "config file '", path,
             "' does not exist");
  std::ifstream in(path);
  KILN_CHECK(in.good() && !std::filesystem::is_directory(path, ec), InputError, "config file '",
             path, "' cannot be read");
  YAML::Node node;
  try {
    node = YAML::Load(in);
  } catch (const YAML::Exception& e) {
    throw ConfigError(detail::concat(path, ":", e.mark.line + 1, ":", e.mark.column + 1,
                                     ": not valid YAML: ", e.msg));
  }
  if (!node.IsDefined() || node.IsNull()) return YAML::Node(YAML::NodeType::Map);
  KILN_CHECK(node.IsMap(), ConfigError, path,
             ": expected a map of config keys at the top level, got a ",
             node.IsSequence() ? "list" : "single value");
  check_layer(node, path, "");
  return node;
}

void merge_config(YAML::Node& base, const YAML::Node& overlay) {
  for (const auto& item : overlay) {
    const std::string key = item.first.Scalar();
    YAML::Node target = base[key];
    if (item.second.IsMap() && target.IsDefined() && target.IsMap()) {
      merge_config(target, item.second);
    } else {
      base[key] = YAML::Clone(item.second);
    }
  }
}

void apply_override(YAML::Node& tree, const ConfigOverride& o,
                    const std::vector<std::string>& known_keys) {
  const std::string key = dotted(o.path);
  const YAML::Node existing = find(tree, o.path, 0);
  auto suggestion = [&] {
    std::string near = nearest_key(key, known_keys);
    return near.empty() ? std::string() : "; nearest known key: '" + near + "'";
  };
  switch (o.op) {
    case ConfigOverride::Op::kSet:
      KILN_CHECK(!matches_open_map(key, known_keys) || existing.IsDefined(), ConfigError,
                 "override '", o.text, "': key '", key, "' is not set; to add it write +", key,
                 "=...");
      KILN_CHECK(existing.IsDefined(), ConfigError, "override '", o.text, "': unknown config key '",
                 key, "'", suggestion());
      set_at(tree, o.path, 0, o.value, o);
      break;
    case ConfigOverride::Op::kAdd:
      KILN_CHECK(!existing.IsDefined(), ConfigError, "override '", o.text, "': key '", key,
                 "' already exists (to change it write ", key, "=...)");
      set_at(tree, o.path, 0, o.value, o);
      break;
    case ConfigOverride::Op::kDelete:
      KILN_CHECK(existing.IsDefined(), ConfigError, "override '", o.text,
                 "': cannot delete unknown key '", key, "'", suggestion());
      remove_at(tree, o.path, 0);
      break;
  }
}

std::string nearest_key(std::string_view key, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_distance = SIZE_MAX;
  std::vector<std::size_t> row;
  for (const auto& candidate : candidates) {
    // Levenshtein distance, one row at a time.
    row.resize(candidate.size() + 1);
    for (std::size_t j = 0; j <= candidate.size(); ++j)
      row[j] = j;
    for (std::size_t i = 1; i <= key.size(); ++i) {
      std::size_t diagonal = row[0];
      row[0] = i;
      for (std::size_t j = 1; j <= candidate.size(); ++j) {
        std::size_t above = row[j];
        row[j] = std::min(
            {row[j] + 1, row[j - 1] + 1, diagonal + (key[i - 1] == candidate[j - 1] ? 0 : 1)});
        diagonal = above;
      }
    }
    if (row[candidate.size()] < best_distance) {
      best_distance = row[candidate.size()];
      best = candidate;
    }
  }
  return best;
}

namespace schema {

bool needs_quotes(const std::string& text) {
  if (text.empty()) return true;
  YAML::Node node;
  try {
    node = YAML::Load(text);
  } catch (const YAML::Exception&) {
    return true;
  }
  if (!node.IsScalar() || node.Scalar() != text) return true;  // e.g. "a: b", "[x]", " x"
  bool b;
  double d;
  return text == "~" || text == "null" || text == "Null" || text == "NULL" ||
         YAML::convert<bool>::decode(node, b) || YAML::convert<double>::decode(node, d);
}

std::string number_text(double value) {
  char text[32];
  for (int precision = 15; precision <= 17; ++precision) {
    std::snprintf(text, sizeof text, "%.*g", precision, value);
    if (std::strtod(text, nullptr) == value) break;
  }
  return text;
}

std::string where_prefix(const Source& source, const YAML::Node& node) {
  if (source.has_lines && node.Mark().line >= 0) {
    return source.where + ":" + std::to_string(node.Mark().line + 1) + ": ";
  }
  return source.where + ": ";
}

void throw_unknown_key(const Source& source, const YAML::Node& node, const std::string& key) {
  std::string near = nearest_key(key, source.keys);
  throw ConfigError(detail::concat(where_prefix(source, node), "unknown config key '", key, "'",
                                   near.empty() ? "" : "; nearest known key: '" + near + "'"));
}

void throw_bad_value(const Source& source, const YAML::Node& node, const std::string& key,
                     const char* expected) {
  std::string found;
  if (node.IsScalar())
    found = "'" + node.Scalar() + "'";
  else if (node.IsSequence())
    found = "a list";
  else if (node.IsMap())
    found = "a map";
  else
    found = "nothing";
  throw ConfigError(detail::concat(where_prefix(source, node), "config key '", key, "' expects ",
                                   expected, ", got ", found));
}

}  // namespace schema
nlohmann::json yaml_to_json(const YAML::Node& node) {
  if (node.IsSequence()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& item : node)
      out.push_back(yaml_to_json(item));
    return out;
  }
  if (node.IsMap()) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& item : node)
      out[item.first.as<std::string>()] = yaml_to_json(item.second);
    return out;
  }
  if (node.IsNull()) return nullptr;
  const std::string text = node.Scalar();
  if (node.Tag() == "!") return text;  // quoted
  if (text == "true" || text == "false") return text == "true";
  char* end = nullptr;
  const long long integer = std::strtoll(text.c_str(), &end, 10);
  if (!text.empty() && *end == '\0') return integer;
  const double real = std::strtod(text.c_str(), &end);
  if (!text.empty() && *end == '\0') return real;
  return text;
}

}  // namespace kiln::core
