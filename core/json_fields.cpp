#include "core/json_fields.h"

#include <cmath>

#include "core/errors.h"

namespace kiln::core {

std::string json_string(const nlohmann::json& e, const char* key, const std::string& where) {
  KILN_CHECK(e.contains(key) && e[key].is_string(), DataError, where, ": '", key,
             "' must be a string");
  return e[key].get<std::string>();
}

int64_t json_int(const nlohmann::json& e, const char* key, const std::string& where, int64_t lo,
                 int64_t hi) {
  KILN_CHECK(e.contains(key) && e[key].is_number_integer(), DataError, where, ": '", key,
             "' must be an integer");
  const int64_t v = e[key].get<int64_t>();
  KILN_CHECK(v >= lo && v <= hi, DataError, where, ": '", key, "' is ", v, ", expected ", lo,
             " to ", hi);
  return v;
}

double json_number(const nlohmann::json& e, const char* key, const std::string& where) {
  KILN_CHECK(e.contains(key) && e[key].is_number(), DataError, where, ": '", key,
             "' must be a number");
  return e[key].get<double>();
}

std::vector<double> json_numbers(const nlohmann::json& e, const char* key,
                                 const std::string& where) {
  KILN_CHECK(e.contains(key) && e[key].is_array(), DataError, where, ": '", key,
             "' must be an array of numbers");
  std::vector<double> out;
  for (const auto& v : e[key]) {
    KILN_CHECK(v.is_number() && std::isfinite(v.get<double>()), DataError, where, ": '", key,
               "' holds ", v.dump(), ", not a finite number");
    out.push_back(v.get<double>());
  }
  return out;
}

nlohmann::ordered_json finite_or_null(double v) {
  return std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr);
}

}  // namespace kiln::core
