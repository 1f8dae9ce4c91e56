// profile.json (docs/MONITORING.md): Profile's text, written directly, and read back as
// untrusted input (DataError naming the file, the column and the field).
#include <charconv>
#include <cmath>
#include <initializer_list>
#include <optional>

#include "core/errors.h"
#include "core/files.h"
#include "core/json_fields.h"
#include "core/json_parse.h"
#include "data/profile.h"

namespace kiln::data {
namespace {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

// The sum of counts read from a file, or DataError when it overflows.
int64_t sum(std::initializer_list<int64_t> counts, const std::string& where) {
  int64_t total = 0;
  for (int64_t c : counts)
    KILN_CHECK(!__builtin_add_overflow(total, c, &total), DataError, where,
               ": counts too large to add up");
  return total;
}

// Quantiles and edges are float32 values, as the data's are: a number read is rounded to
// the nearest float (Profile::dump writes each as the shortest text of its float).
std::vector<double> read_floats(const json& c, const char* key, const std::string& where) {
  std::vector<double> values = core::json_numbers(c, key, where);
  for (double& v : values) {
    v = static_cast<float>(v);
    KILN_CHECK(std::isfinite(v), DataError, where, ": '", key,
               "' holds a number beyond float32's range");
  }
  return values;
}

NumericProfile read_numeric(const json& c, int64_t rows, const std::string& where) {
  using core::json_int;
  using core::json_number;
  NumericProfile p;
  p.count = json_int(c, "count", where);
  p.missing = json_int(c, "missing", where);
  p.pos_inf = json_int(c, "pos_inf", where);
  p.neg_inf = json_int(c, "neg_inf", where);
  const int64_t all = sum({p.count, p.missing, p.pos_inf, p.neg_inf}, where);
  KILN_CHECK(all == rows, DataError, where, ": count + missing + pos_inf + neg_inf is ", all,
             ", not the profile's ", rows, " rows");
  p.mean = json_number(c, "mean", where);
  p.variance = json_number(c, "variance", where);
  KILN_CHECK(std::isfinite(p.mean) && std::isfinite(p.variance) && p.variance >= 0, DataError,
             where, ": 'mean' and 'variance' must be finite, the variance not negative");
  p.rank_error = json_number(c, "rank_error", where);
  KILN_CHECK(p.rank_error >= 0 && p.rank_error <= 1, DataError, where,
             ": 'rank_error' must be in [0, 1]");
  p.quantiles = read_floats(c, "quantiles", where);
  p.edges = read_floats(c, "edges", where);
  KILN_CHECK((p.count == 0) == p.quantiles.empty() && p.quantiles.size() != 1, DataError, where,
             ": 'quantiles' must hold at least 2 values when 'count' > 0, none when it is 0");
  for (std::size_t i = 1; i < p.quantiles.size(); ++i)
    KILN_CHECK(p.quantiles[i] >= p.quantiles[i - 1], DataError, where,
               ": 'quantiles' decrease at index ", i);
  for (std::size_t i = 1; i < p.edges.size(); ++i)
    KILN_CHECK(p.edges[i] > p.edges[i - 1], DataError, where, ": 'edges' do not increase at index ",
               i);
  if (!p.quantiles.empty()) {
    p.min = p.quantiles.front();
    p.max = p.quantiles.back();
  }
  KILN_CHECK(
      c.contains("counts") && c["counts"].is_array() && c["counts"].size() == p.edges.size() + 1,
      DataError, where, ": 'counts' must be an array of ", p.edges.size() + 1,
      " integers (one more than 'edges')");
  int64_t total = 0;
  for (const auto& v : c["counts"]) {
    KILN_CHECK(v.is_number_integer() && v.get<int64_t>() >= 0, DataError, where,
               ": 'counts' holds ", v.dump(), ", not a count");
    p.counts.push_back(v.get<int64_t>());
    total = sum({total, p.counts.back()}, where);
  }
  KILN_CHECK(total == p.count, DataError, where, ": 'counts' add up to ", total, ", not 'count' ",
             p.count);
  return p;
}

CategoricalProfile read_categorical(const json& c, int64_t rows, const std::string& where) {
  using core::json_int;
  CategoricalProfile p;
  p.count = json_int(c, "count", where);
  p.missing = json_int(c, "missing", where);
  const int64_t all = sum({p.count, p.missing}, where);
  KILN_CHECK(all == rows, DataError, where, ": count + missing is ", all, ", not the profile's ",
             rows, " rows");
  p.other = json_int(c, "other", where);
  p.distinct = json_int(c, "distinct", where);
  KILN_CHECK(c.contains("codes") && c["codes"].is_array(), DataError, where,
             ": 'codes' must be an array of [code, count] pairs");
  int64_t total = p.other;
  for (const auto& pair : c["codes"]) {
    KILN_CHECK(pair.is_array() && pair.size() == 2 && pair[0].is_number_integer() &&
                   pair[1].is_number_integer() && pair[0].get<int64_t>() >= 0 &&
                   pair[1].get<int64_t>() >= 0,
               DataError, where, ": 'codes' holds ", pair.dump(), ", not a [code, count] pair");
    KILN_CHECK(p.codes.emplace(pair[0].get<int64_t>(), pair[1].get<int64_t>()).second, DataError,
               where, ": code ", pair[0].get<int64_t>(), " is listed twice");
    total = sum({total, pair[1].get<int64_t>()}, where);
  }
  KILN_CHECK(total == p.count, DataError, where, ": 'codes' and 'other' add up to ", total,
             ", not 'count' ", p.count);
  KILN_CHECK(p.distinct >= static_cast<int64_t>(p.codes.size()), DataError, where,
             ": 'distinct' is below the number of codes listed");
  if (c.contains("dictionary"))
    p.dictionary = CodeDictionary::from_json(c["dictionary"], where + ": 'dictionary'");
  return p;
}

// JSON text written directly: a profile of 100 columns holds 100K numbers, which
// nlohmann's dump formats several times slower than std::to_chars.
void put_chars(std::string& out, std::to_chars_result r, const char* text) {
  KILN_ASSERT(r.ec == std::errc(), "formatting a number");
  out.append(text, static_cast<std::size_t>(r.ptr - text));
}

void put_int(std::string& out, int64_t v) {
  char text[24];
  put_chars(out, std::to_chars(text, text + sizeof text, v), text);
}

// The shortest text that reads back as v; null when v is not finite (as nlohmann writes it).
void put_double(std::string& out, double v) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  char text[32];
  put_chars(out, std::to_chars(text, text + sizeof text, v), text);
}

// v as a float32: the shortest text that reads back as that float. Quantiles and edges are
// the data's values, which are float32 (interpolated quantiles round to the nearest float,
// which stays inside their cell: its smallest and largest values are floats).
void put_float(std::string& out, double v) {
  const auto f = static_cast<float>(v);
  if (!std::isfinite(f)) {
    out += "null";
    return;
  }
  char text[32];
  put_chars(out, std::to_chars(text, text + sizeof text, f), text);
}

template <class T>
void put_array(std::string& out, const std::vector<T>& values, void (*put)(std::string&, T)) {
  out += '[';
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    put(out, values[i]);
  }
  out += ']';
}

void put_key(std::string& out, const char* key) {
  out += '"';
  out += key;
  out += "\": ";
}

void put_string(std::string& out, const std::string& s) {
  out += json(s).dump();
}

}  // namespace

std::string Profile::dump() const {
  std::string out = "{\n \"format\": \"";
  out += kProfileFormat;
  out += "\",\n \"version\": ";
  put_int(out, kProfileVersion);
  out += ",\n \"rows\": ";
  put_int(out, rows);
  out += ",\n \"dataset\": {\"path\": ";
  put_string(out, path);
  out += ", \"fingerprint\": ";
  put_string(out, fingerprint);
  out += "},\n \"columns\": [";
  for (std::size_t k = 0; k < columns.size(); ++k) {
    const ColumnProfile& c = columns[k];
    out += k == 0 ? "\n  {\"name\": " : ",\n  {\"name\": ";
    put_string(out, c.name);
    out += ", \"role\": ";
    put_string(out, std::string(role_name(c.role)));
    auto field = [&](const char* key, int64_t v) {
      out += ", ";
      put_key(out, key);
      put_int(out, v);
    };
    if (c.is_categorical()) {
      const CategoricalProfile& p = c.categorical;
      field("count", p.count);
      field("missing", p.missing);
      field("distinct", p.distinct);
      out += ",\n   \"codes\": [";
      for (auto it = p.codes.begin(); it != p.codes.end(); ++it) {
        if (it != p.codes.begin()) out += ',';
        out += '[';
        put_int(out, it->first);
        out += ',';
        put_int(out, it->second);
        out += ']';
      }
      out += "],\n   \"other\": ";
      put_int(out, p.other);
      if (p.dictionary) {
        out += ", \"dictionary\": {\"strings\": ";
        put_int(out, p.dictionary->strings);
        out += ", \"sha256\": ";
        put_string(out, p.dictionary->sha256);
        out += '}';
      }
    } else {
      const NumericProfile& p = c.numeric;
      field("count", p.count);
      field("missing", p.missing);
      field("pos_inf", p.pos_inf);
      field("neg_inf", p.neg_inf);
      out += ",\n   \"mean\": ";
      put_double(out, p.mean);
      out += ", \"variance\": ";
      put_double(out, p.variance);
      out += ", \"rank_error\": ";
      put_double(out, p.rank_error);
      out += ",\n   \"quantiles\": ";
      put_array(out, p.quantiles, put_float);
      out += ",\n   \"edges\": ";
      put_array(out, p.edges, put_float);
      out += ",\n   \"counts\": ";
      put_array(out, p.counts, put_int);
    }
    out += '}';
  }
  out += "\n ]\n}\n";
  return out;
}

ojson Profile::to_json() const {
  return ojson::parse(dump());
}

Profile Profile::from_json(const json& j, const std::string& where) {
  KILN_CHECK(j.is_object() && j.value("format", json("")) == kProfileFormat, DataError, where,
             ": not a Kiln profile (format ", kProfileFormat, ")");
  const int64_t version = core::json_int(j, "version", where, 1);
  KILN_CHECK(version <= kProfileVersion, DataError, where, ": profile version ", version,
             " is newer than this Kiln reads (", kProfileVersion, "); upgrade Kiln");
  Profile p;
  p.rows = core::json_int(j, "rows", where);
  if (j.contains("dataset") && j["dataset"].is_object()) {
    const json& d = j["dataset"];
    auto text = [&](const char* key) {  // informative only: "" when missing or not a string
      return d.contains(key) && d[key].is_string() ? d[key].get<std::string>() : std::string();
    };
    p.path = text("path");
    p.fingerprint = text("fingerprint");
  }
  KILN_CHECK(j.contains("columns") && j["columns"].is_array(), DataError, where,
             ": 'columns' must be an array");
  for (const auto& c : j["columns"]) {
    KILN_CHECK(c.is_object(), DataError, where, ": a column is not an object");
    ColumnProfile column;
    column.name = core::json_string(c, "name", where + ": a column");
    const std::string at = where + ": column '" + column.name + "'";
    KILN_CHECK(p.find(column.name) == nullptr, DataError, at, " is listed twice");
    column.role = parse_role(core::json_string(c, "role", at), at);
    KILN_CHECK(profiled(column.role), DataError, at, ": role '", role_name(column.role),
               "' is not profiled (numeric, categorical or label)");
    if (column.is_categorical())
      column.categorical = read_categorical(c, p.rows, at);
    else
      column.numeric = read_numeric(c, p.rows, at);
    p.columns.push_back(std::move(column));
  }
  return p;
}

Profile Profile::read(const std::string& path) {
  std::string error;
  const std::optional<json> j = core::parse_json(core::read_file(path, "profile"), &error);
  KILN_CHECK(j.has_value(), DataError, path, ": not JSON (", error, ")");
  return from_json(*j, path);
}

void Profile::write(const std::string& path) const {
  core::atomic_write(path, dump());
}

}  // namespace kiln::data
