// Configuration: YAML layers, command-line overrides and typed option structs.
//
// A config is resolved as built-in defaults < each --config file in order < overrides.
// Option structs stay free of YAML: each is a plain struct with defaults on its fields and
// a member `template <class V> void visit(V& v)` that calls `v("key", field, "doc")` for
// every field. The visitors here turn such a struct into YAML, read it back with type
// checks, and list its keys; nothing past the edge of the program sees a YAML node.
//
// Field types: bool, int, int64_t, double, std::string, enums, std::vector of those,
// std::map from std::string to those (an open map: its keys are the user's, e.g. run.tags),
// and nested structs with a visit member. An enum is written and read by name: its type
// lists its names with a function found by argument-dependent lookup,
//   core::EnumNames<Kind> enum_names(Kind);   // {{Kind::kA, "a"}, {Kind::kB, "b"}}
// so that a value outside them is refused where it is read, naming file and line.
//
// Errors: unknown keys and values of the wrong type throw ConfigError (exit 78) naming
// the key, the source (file and line, or the override as typed) and the nearest known
// key; a malformed override throws UsageError (exit 64); a missing file InputError (66).
#pragma once

#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "core/config_types.h"
#include "core/errors.h"

namespace kiln::core {

// One command-line override: `a.b=v` sets an existing key, `+a.b=v` adds a key that is
// not there yet, `~a.b` deletes one. v is a YAML scalar or a flow list (`[1, 2]`).
struct ConfigOverride {
  enum class Op { kSet, kAdd, kDelete };
  Op op = Op::kSet;
  std::vector<std::string> path;
  YAML::Node value;  // null for kDelete
  std::string text;  // the override as typed, for messages
};

// Parses `a.b=v`, `+a.b=v` or `~a.b`. Throws UsageError naming the text when malformed.
ConfigOverride parse_override(std::string_view text);

// A YAML value as JSON: plain scalars become booleans or numbers when they read as one;
// quoted scalars stay strings.
nlohmann::json yaml_to_json(const YAML::Node& node);

// Loads one YAML config file whose top level must be a map (an empty file is an empty map).
YAML::Node load_config_file(const std::string& path);

// Deep-merges `overlay` into `base`: maps merge key by key, anything else replaces.
void merge_config(YAML::Node& base, const YAML::Node& overlay);

// Applies one override to a merged tree. Throws ConfigError when a set or delete names a
// key that is not there, or an add names one that is; `known_keys` (the schema's keys,
// open maps as `prefix.*`) give the nearest-key suggestion and the hint to use `+`.
void apply_override(YAML::Node& tree, const ConfigOverride& override_,
                    const std::vector<std::string>& known_keys);

// The candidate closest to `key` by edit distance (first one on ties); "" if none.
std::string nearest_key(std::string_view key, const std::vector<std::string>& candidates);

namespace schema {

template <class T>
struct IsVector : std::false_type {};
template <class T>
struct IsVector<std::vector<T>> : std::true_type {};
template <class T>
struct IsMap : std::false_type {};
template <class T>
struct IsMap<std::map<std::string, T>> : std::true_type {};

template <class T>
struct IsAuto : std::false_type {};
template <class T>
struct IsAuto<Auto<T>> : std::true_type {};

template <class T>
constexpr bool kIsSection = std::is_class_v<T> && !IsVector<T>::value && !IsMap<T>::value &&
                            !IsAuto<T>::value && !std::is_same_v<T, std::string>;

// What a scalar type is called in messages ("an integer", ...).
template <class T>
const char* type_name() {
  if constexpr (std::is_same_v<T, bool>)
    return "true or false";
  else if constexpr (std::is_integral_v<T>)
    return "an integer";
  else if constexpr (std::is_floating_point_v<T>)
    return "a number";
  else
    return "a string";
}

inline std::string join_key(const std::string& prefix, std::string_view key) {
  return prefix.empty() ? std::string(key) : prefix + "." + std::string(key);
}

// ---- text: a config as YAML or JSON, each value written with its own type ----
// Strings that YAML would read as something else ("yes", "007", "null") are quoted, and
// numbers are written in the shortest form that reads back exactly.
bool needs_quotes(const std::string& text);
std::string number_text(double value);

template <class T>
void emit(YAML::Emitter& out, const T& value);

struct EmitVisitor {
  YAML::Emitter* out;
  template <class T>
  void operator()(const char* key, const T& field, const char* /*doc*/) {
    *out << YAML::Key << key << YAML::Value;
    emit(*out, field);
  }
};

template <class T>
void emit(YAML::Emitter& out, const T& value) {
  if constexpr (IsVector<T>::value) {
    out << YAML::Flow << YAML::BeginSeq;
    for (const auto& item : value)
      emit(out, item);
    out << YAML::EndSeq;
  } else if constexpr (IsMap<T>::value) {
    if (value.empty()) out << YAML::Flow;
    out << YAML::BeginMap;
    for (const auto& [k, v] : value) {
      out << YAML::Key << k << YAML::Value;
      emit(out, v);
    }
    out << YAML::EndMap;
  } else if constexpr (kIsSection<T>) {
    out << YAML::BeginMap;
    EmitVisitor visitor{&out};
    const_cast<T&>(value).visit(visitor);
    out << YAML::EndMap;
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (needs_quotes(value)) out << YAML::DoubleQuoted;
    out << value;
  } else if constexpr (std::is_enum_v<T>) {
    out << std::string(enum_name(value));
  } else if constexpr (IsAuto<T>::value) {
    if (value.is_auto())
      out << "auto";
    else
      emit(out, *value.value);
  } else if constexpr (std::is_floating_point_v<T>) {
    out << number_text(value);
  } else if constexpr (std::is_same_v<T, bool>) {
    out << (value ? "true" : "false");
  } else {
    out << value;
  }
}

template <class T>
std::string to_yaml_text(const T& config) {
  YAML::Emitter out;
  emit(out, config);
  return std::string(out.c_str()) + "\n";
}

template <class T>
nlohmann::ordered_json to_json(const T& value);

struct JsonVisitor {
  nlohmann::ordered_json* out;
  template <class T>
  void operator()(const char* key, const T& field, const char* /*doc*/) {
    (*out)[key] = to_json(field);
  }
};

template <class T>
nlohmann::ordered_json to_json(const T& value) {
  if constexpr (IsVector<T>::value) {
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (const auto& item : value)
      out.push_back(to_json(item));
    return out;
  } else if constexpr (IsMap<T>::value) {
    nlohmann::ordered_json out = nlohmann::ordered_json::object();
    for (const auto& [k, v] : value)
      out[k] = to_json(v);
    return out;
  } else if constexpr (kIsSection<T>) {
    nlohmann::ordered_json out = nlohmann::ordered_json::object();
    JsonVisitor visitor{&out};
    const_cast<T&>(value).visit(visitor);
    return out;
  } else if constexpr (std::is_enum_v<T>) {
    return nlohmann::ordered_json(std::string(enum_name(value)));
  } else if constexpr (IsAuto<T>::value) {
    return value.is_auto() ? nlohmann::ordered_json("auto") : to_json(*value.value);
  } else {
    return nlohmann::ordered_json(value);
  }
}

// ---- autos: each `auto` of a struct takes the value another one (as to_json) gives it ----
template <class T>
void fill_autos(T& out, const nlohmann::ordered_json& from, const std::string& prefix,
                std::vector<std::pair<std::string, nlohmann::ordered_json>>& filled);

struct AutoFiller {
  const nlohmann::ordered_json* from;
  std::string prefix;
  std::vector<std::pair<std::string, nlohmann::ordered_json>>* filled;
  template <class T>
  void operator()(const char* key, T& field, const char* /*doc*/) {
    const auto given = from->find(key);
    if (given == from->end()) return;
    if constexpr (kIsSection<T>) {
      fill_autos(field, *given, join_key(prefix, key), *filled);
    } else if constexpr (IsAuto<T>::value) {
      if (!field.is_auto() || given->is_string()) return;  // given here, or auto there too
      field.value = given->template get<typename decltype(field.value)::value_type>();
      filled->emplace_back(join_key(prefix, key), *given);
    }
  }
};

// `filled` gets each key filled and its value, in the struct's order.
template <class T>
void fill_autos(T& out, const nlohmann::ordered_json& from, const std::string& prefix,
                std::vector<std::pair<std::string, nlohmann::ordered_json>>& filled) {
  if (!from.is_object()) return;
  AutoFiller filler{&from, prefix, &filled};
  out.visit(filler);
}

// ---- keys: every dotted key of a struct, open maps as `prefix.*` ----
struct KeyInfo {
  std::string key;
  std::string default_value;  // YAML flow text
  std::string doc;
};

template <class T>
void collect_keys(const T& value, const std::string& prefix, std::vector<KeyInfo>& out);

struct KeyCollector {
  std::string prefix;
  std::vector<KeyInfo>* out;
  template <class T>
  void operator()(const char* key, const T& field, const char* doc) {
    std::string path = join_key(prefix, key);
    if constexpr (kIsSection<T>) {
      collect_keys(field, path, *out);
    } else {
      YAML::Emitter emitter;
      emitter << YAML::Flow;
      emit(emitter, field);
      out->push_back({IsMap<T>::value ? path + ".*" : path, emitter.c_str(), doc});
    }
  }
};

template <class T>
void collect_keys(const T& value, const std::string& prefix, std::vector<KeyInfo>& out) {
  KeyCollector collector{prefix, &out};
  const_cast<T&>(value).visit(collector);
}

template <class T>
std::vector<KeyInfo> keys_of(const T& value = T{}) {
  std::vector<KeyInfo> out;
  collect_keys(value, "", out);
  return out;
}

// The keys of keys_of<T>(), collected once.
template <class T>
const std::vector<std::string>& key_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const KeyInfo& info : keys_of<T>())
      out.push_back(info.key);
    return out;
  }();
  return names;
}

// ---- decode: YAML -> struct, with type checks and unknown-key errors ----
struct Source {
  std::string where;              // "configs/a.yaml" or "override 'a.b=1'"
  bool has_lines = false;         // node marks are lines of `where`
  std::vector<std::string> keys;  // every known key, for "nearest known key"
};

// "<where>[:line]: " for messages; line comes from the node's mark when it has one.
std::string where_prefix(const Source& source, const YAML::Node& node);
[[noreturn]] void throw_unknown_key(const Source& source, const YAML::Node& node,
                                    const std::string& key);
[[noreturn]] void throw_bad_value(const Source& source, const YAML::Node& node,
                                  const std::string& key, const char* expected);

template <class T>
void decode(const YAML::Node& node, T& out, const std::string& key, const Source& source);

class Decoder {
 public:
  Decoder(const YAML::Node& node, std::string prefix, const Source& source)
      : node_(node), prefix_(std::move(prefix)), source_(source) {}

  template <class T>
  void operator()(const char* key, T& field, const char* /*doc*/) {
    seen_.emplace_back(key);
    const YAML::Node& node = node_;
    YAML::Node child = node[key];
    if (child.IsDefined()) decode(child, field, join_key(prefix_, key), source_);
  }

  // Throws for the first key of the node that no field claimed.
  void reject_unknown() const {
    for (const auto& item : node_) {
      std::string key = item.first.Scalar();
      bool known = false;
      for (const auto& s : seen_)
        known = known || s == key;
      if (!known) throw_unknown_key(source_, item.first, join_key(prefix_, key));
    }
  }

 private:
  const YAML::Node& node_;
  std::string prefix_;
  const Source& source_;
  std::vector<std::string> seen_;
};

template <class T>
void decode(const YAML::Node& node, T& out, const std::string& key, const Source& source) {
  if constexpr (kIsSection<T>) {
    if (node.IsNull()) return;  // `section:` with nothing under it keeps the defaults
    if (!node.IsMap()) throw_bad_value(source, node, key, "a map of keys");
    Decoder decoder(node, key, source);
    out.visit(decoder);
    decoder.reject_unknown();
  } else if constexpr (IsVector<T>::value) {
    if (node.IsNull()) {
      out.clear();
      return;
    }
    if (!node.IsSequence()) throw_bad_value(source, node, key, "a list");
    T items(node.size());
    for (std::size_t i = 0; i < node.size(); ++i) {
      decode(node[i], items[i], key + "[" + std::to_string(i) + "]", source);
    }
    out = std::move(items);
  } else if constexpr (IsMap<T>::value) {
    if (node.IsNull()) {
      out.clear();
      return;
    }
    if (!node.IsMap()) throw_bad_value(source, node, key, "a map");
    T items;
    for (const auto& item : node) {
      std::string k = item.first.Scalar();
      decode(item.second, items[k], join_key(key, k), source);
    }
    out = std::move(items);
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (node.IsNull()) {
      out.clear();
      return;
    }
    if (!node.IsScalar()) throw_bad_value(source, node, key, type_name<T>());
    out = node.Scalar();
  } else if constexpr (std::is_enum_v<T>) {
    const std::optional<T> value =
        node.IsScalar() ? enum_value<T>(node.Scalar()) : std::optional<T>();
    if (!value) throw_bad_value(source, node, key, ("one of " + enum_list<T>()).c_str());
    out = *value;
  } else if constexpr (IsAuto<T>::value) {
    using V = typename decltype(out.value)::value_type;
    static_assert(std::is_arithmetic_v<V>, "Auto<T> takes numbers");
    if (node.IsScalar() && node.Scalar() == "auto") {
      out.value.reset();
      return;
    }
    V v{};
    try {
      if (!node.IsScalar()) throw YAML::Exception(YAML::Mark(), "");
      v = node.as<V>();
    } catch (const YAML::Exception&) {
      throw_bad_value(source, node, key, (std::string("auto or ") + type_name<V>()).c_str());
    }
    out.value = v;
  } else {
    if (!node.IsScalar()) throw_bad_value(source, node, key, type_name<T>());
    try {
      out = node.as<T>();
    } catch (const YAML::Exception&) {
      throw_bad_value(source, node, key, type_name<T>());
    }
  }
}

// Reads every key present in `node` into `out` (absent keys keep their values).
template <class T>
void decode_root(const YAML::Node& node, T& out, const std::string& where, bool has_lines) {
  const Source source{where, has_lines, key_names<T>()};
  decode(node, out, "", source);
}

}  // namespace schema

// Resolves defaults < files < overrides into a typed config. Each file and override is
// checked on its own against the schema first, so an error names where it came from.
template <class T>
T resolve_config(const std::vector<std::string>& files, const std::vector<std::string>& overrides) {
  const std::vector<std::string>& known_keys = schema::key_names<T>();
  YAML::Node tree = YAML::Load(schema::to_yaml_text(T{}));  // the built-in defaults
  for (const auto& path : files) {
    YAML::Node layer = load_config_file(path);
    T scratch;
    schema::decode_root(layer, scratch, path, true);
    merge_config(tree, layer);
  }
  for (const auto& text : overrides) {
    ConfigOverride override_ = parse_override(text);
    apply_override(tree, override_, known_keys);
    T scratch;
    schema::decode_root(tree, scratch, "override '" + override_.text + "'", false);
  }
  T config;
  schema::decode_root(tree, config, "resolved config", false);
  return config;
}

}  // namespace kiln::core
