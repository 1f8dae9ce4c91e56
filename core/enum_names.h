// Enums in option structs, read and written by name (core/config.h). An enum type lists its
// names with a function found by argument-dependent lookup:
//   core::EnumNames<Kind> enum_names(Kind);   // {{Kind::kA, "a"}, {Kind::kB, "b"}}
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace kiln::core {

// The names of an enum's values, in the order they are listed (see above).
template <class E>
using EnumNames = std::span<const std::pair<E, std::string_view>>;

// The name of `value` ("?" for a value the list lacks).
template <class E>
std::string_view enum_name(E value) {
  for (const auto& [v, name] : enum_names(value))
    if (v == value) return name;
  return "?";
}

// The value named `name`, if any.
template <class E>
std::optional<E> enum_value(std::string_view name) {
  for (const auto& [v, n] : enum_names(E{}))
    if (n == name) return v;
  return std::nullopt;
}

// "a, b or c".
template <class E>
std::string enum_list() {
  const auto names = enum_names(E{});
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i)
    out += std::string(i == 0                  ? ""
                       : i + 1 == names.size() ? " or "
                                               : ", ") +
           std::string(names[i].second);
  return out;
}

}  // namespace kiln::core
