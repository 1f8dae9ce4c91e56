// Field types of option structs beyond the standard library's (core/config.h reads and
// writes them):
// - enums, by name. An enum type lists its names with a function found by
//   argument-dependent lookup:
//     core::EnumNames<Kind> enum_names(Kind);   // {{Kind::kA, "a"}, {Kind::kB, "b"}}
// - Auto<T>: a value that may be `auto`, which the command that runs chooses from what it
//   runs on (for training: trainer/auto_config.h), saying what it chose and why.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "core/errors.h"

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

// A config value that is either given or `auto`.
template <class T>
struct Auto {
  std::optional<T> value;  // nullopt: auto

  Auto() = default;
  Auto(T v) : value(std::move(v)) {}  // NOLINT: a value stands for itself
  bool is_auto() const { return !value.has_value(); }
  // The value; InternalError when it is still auto (trainer/auto_config.h resolves every one
  // that is read with get(); model.embedding_dim stays auto, a rule per column).
  const T& get() const {
    KILN_ASSERT(value.has_value(), "an auto config value was read before it was resolved");
    return *value;
  }
};

}  // namespace kiln::core
