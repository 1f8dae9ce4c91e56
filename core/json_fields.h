// Fields of untrusted JSON (journals, profiles, cards), read with their type checked:
// DataError naming `where` (the file and line or object) and the key when a field is
// missing, of another type, or (integers) outside [lo, hi]. And numbers written for reports.
#pragma once

#include <nlohmann/json.hpp>

#include <climits>
#include <cstdint>
#include <string>
#include <vector>

namespace kiln::core {

std::string json_string(const nlohmann::json& e, const char* key, const std::string& where);
int64_t json_int(const nlohmann::json& e, const char* key, const std::string& where, int64_t lo = 0,
                 int64_t hi = INT64_MAX);
double json_number(const nlohmann::json& e, const char* key, const std::string& where);
// An array of finite numbers.
std::vector<double> json_numbers(const nlohmann::json& e, const char* key,
                                 const std::string& where);

// A number for a report: NaN or an infinity (undefined) is null.
nlohmann::ordered_json finite_or_null(double v);

}  // namespace kiln::core
