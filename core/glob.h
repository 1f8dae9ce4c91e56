// Config maps keyed by column name or glob pattern (transform.columns, drift.methods, ...):
// which key speaks for a column.
#pragma once

#include <fnmatch.h>

#include <map>
#include <string>

namespace kiln::core {

// The key of `map` for `name`: the exact name, else the longest glob pattern (fnmatch) that
// matches it, the first such in key order; nullptr when none does.
template <class T>
const std::string* matching_key(const std::map<std::string, T>& map, const std::string& name) {
  if (const auto it = map.find(name); it != map.end()) return &it->first;
  const std::string* key = nullptr;
  for (const auto& [k, value] : map)
    if (::fnmatch(k.c_str(), name.c_str(), 0) == 0 && (key == nullptr || k.size() > key->size()))
      key = &k;
  return key;
}

}  // namespace kiln::core
