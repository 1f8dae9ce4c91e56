#include "data/schema.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "core/errors.h"

namespace kiln::data {

namespace {
constexpr Role kRoles[] = {Role::kNumeric, Role::kCategorical, Role::kLabel,
                           Role::kWeight,  Role::kId,          Role::kTime};
}

std::string_view role_name(Role role) {
  switch (role) {
    case Role::kNumeric:
      return "numeric";
    case Role::kCategorical:
      return "categorical";
    case Role::kLabel:
      return "label";
    case Role::kWeight:
      return "weight";
    case Role::kId:
      return "id";
    case Role::kTime:
      return "time";
  }
  return "?";
}

std::optional<Role> role_by_name(std::string_view name) {
  for (Role r : kRoles)
    if (role_name(r) == name) return r;
  return std::nullopt;
}

Role parse_role(std::string_view name, const std::string& where) {
  const auto role = role_by_name(name);
  KILN_CHECK(role.has_value(), DataError, where, ": unknown column role '", name, "' (expected ",
             kRoleNames, ")");
  return *role;
}

MemType mem_type(Role role) {
  switch (role) {
    case Role::kCategorical:
      return MemType::kInt32;
    case Role::kId:
    case Role::kTime:
      return MemType::kInt64;
    default:
      return MemType::kFloat32;
  }
}

std::size_t mem_size(Role role) {
  return mem_type(role) == MemType::kInt64 ? 8 : 4;
}

std::string_view mem_type_name(Role role) {
  switch (mem_type(role)) {
    case MemType::kFloat32:
      return "float32";
    case MemType::kInt32:
      return "int32";
    case MemType::kInt64:
      return "int64";
  }
  return "?";
}

bool Schema::same_columns(const Schema& other) const {
  return std::equal(
      columns.begin(), columns.end(), other.columns.begin(), other.columns.end(),
      [](const Column& a, const Column& b) { return a.name == b.name && a.role == b.role; });
}

int Schema::find_role(Role role) const {
  for (std::size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].role == role) return static_cast<int>(i);
  }
  return -1;
}

int Schema::find(std::string_view name) const {
  for (std::size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

std::vector<int> Schema::indices(Role role) const {
  std::vector<int> out;
  for (std::size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].role == role) out.push_back(static_cast<int>(i));
  }
  return out;
}

void Schema::validate(const std::string& where) const {
  std::set<std::string> names;
  for (const Column& c : columns) {
    bool ok = !c.name.empty() && c.name.size() <= 128 &&
              std::all_of(c.name.begin(), c.name.end(), [](char ch) {
                return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-' ||
                       ch == '.';
              });
    KILN_CHECK(ok, DataError, where, ": column name '", c.name,
               "' must be 1-128 letters, digits, '_', '-' or '.'");
    KILN_CHECK(names.insert(c.name).second, DataError, where, ": column '", c.name,
               "' appears twice");
    KILN_CHECK(c.cardinality >= 0 && c.cardinality <= (int64_t{1} << 31), DataError, where,
               ": column '", c.name, "' has an implausible cardinality ", c.cardinality);
  }
  // A dataset without a label is data to score or to check for drift.
  for (Role r : {Role::kLabel, Role::kWeight, Role::kId, Role::kTime}) {
    KILN_CHECK(indices(r).size() <= 1, DataError, where, ": expected at most one '", role_name(r),
               "' column, found ", indices(r).size());
  }
}

nlohmann::ordered_json to_json(const Schema& schema) {
  nlohmann::ordered_json columns = nlohmann::ordered_json::array();
  for (const Column& c : schema.columns) {
    nlohmann::ordered_json column = {
        {"name", c.name}, {"role", role_name(c.role)}, {"dtype", mem_type_name(c.role)}};
    if (c.role == Role::kCategorical) column["cardinality"] = c.cardinality;
    columns.push_back(column);
  }
  return columns;
}

Schema schema_from_json(const nlohmann::ordered_json& columns, const std::string& where) {
  KILN_CHECK(columns.is_array(), DataError, where, ": 'columns' should be a list");
  Schema schema;
  for (std::size_t i = 0; i < columns.size(); ++i) {
    const auto& c = columns[i];
    std::string at = where + ": columns[" + std::to_string(i) + "]";
    KILN_CHECK(c.is_object() && c.contains("name") && c["name"].is_string() && c.contains("role") &&
                   c["role"].is_string(),
               DataError, at, ": expected an object with string 'name' and 'role'");
    Column column;
    column.name = c["name"];
    column.role = parse_role(c["role"].get<std::string>(), at);
    if (c.contains("cardinality")) {
      KILN_CHECK(c["cardinality"].is_number_integer(), DataError, at,
                 ": 'cardinality' should be an integer");
      column.cardinality = c["cardinality"];
    }
    schema.columns.push_back(column);
  }
  return schema;
}

}  // namespace kiln::data
