// Columns, their roles and the in-memory type of each role (data/FORMAT.md).
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::data {

enum class Role { kNumeric, kCategorical, kLabel, kWeight, kId, kTime };

std::string_view role_name(Role role);
// The role of this name; nullopt for an unknown one.
std::optional<Role> role_by_name(std::string_view name);
// Throws DataError naming `where` for an unknown role name.
Role parse_role(std::string_view name, const std::string& where);
constexpr const char* kRoleNames = "numeric, categorical, label, weight, id or time";

// The in-memory element type of a role: float32 for numeric/label/weight, int32 for
// categorical codes (-1 = missing), int64 for id and time.
enum class MemType { kFloat32, kInt32, kInt64 };
MemType mem_type(Role role);
std::size_t mem_size(Role role);
std::string_view mem_type_name(Role role);

struct Column {
  std::string name;
  Role role = Role::kNumeric;
  int64_t cardinality = 0;  // categorical: codes are 0..cardinality-1 (0 = unknown)
};

struct Schema {
  std::vector<Column> columns;

  // Index of the column with this role, or -1 (label, weight, id, time: at most one each).
  int find_role(Role role) const;
  int find(std::string_view name) const;  // -1 when absent
  std::vector<int> indices(Role role) const;
  // The same names and roles in the same order: what datasets read together share.
  bool same_columns(const Schema& other) const;
  // Checks names (1-128 of [A-Za-z0-9_.-], unique) and roles (at most one label, weight, id,
  // time: data without a label is data to score). Throws DataError prefixed with `where`.
  void validate(const std::string& where) const;
};

nlohmann::ordered_json to_json(const Schema& schema);
// Reads a "columns" list; throws DataError naming `where` on any missing or wrong field.
// The list may be partial: call Schema::validate() where a complete schema is required.
Schema schema_from_json(const nlohmann::ordered_json& columns, const std::string& where);

}  // namespace kiln::data
