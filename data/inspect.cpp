#include "data/inspect.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/errors.h"

namespace kiln::data {
namespace {
nlohmann::ordered_json number_or_null(double v) {
  return std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr);
}
}  // namespace

nlohmann::ordered_json describe(const Dataset& dataset, const DatasetStats& stats) {
  nlohmann::ordered_json out;
  out["path"] = dataset.path();
  out["layout"] = dataset.manifest() ? "columnar" : "matrix";
  out["rows"] = dataset.rows();
  out["fingerprint"] = dataset.fingerprint();
  nlohmann::ordered_json shards = nlohmann::ordered_json::array();
  for (const auto& shard : dataset.shards()) {
    const auto& info = shard->storage().front();
    nlohmann::ordered_json filters = nlohmann::ordered_json::array();
    for (const auto& [id, name] : info.filters)
      filters.push_back(name);
    shards.push_back({{"path", shard->path()},
                      {"rows", shard->rows()},
                      {"storage", info.chunked ? "chunked" : "contiguous"},
                      {"chunk_rows", shard->chunk_rows()},
                      {"filters", filters}});
  }
  out["shards"] = shards;
  nlohmann::ordered_json columns = nlohmann::ordered_json::array();
  for (std::size_t c = 0; c < dataset.schema().columns.size(); ++c) {
    const Column& column = dataset.schema().columns[c];
    const ColumnStats& s = stats.columns[c];
    nlohmann::ordered_json j = {{"name", column.name},
                                {"role", role_name(column.role)},
                                {"dtype", dataset.shards().front()->storage()[c].dtype_name()}};
    int64_t total = s.count + s.missing + s.infinite;
    j["missing_pct"] =
        total > 0 ? 100.0 * static_cast<double>(s.missing) / static_cast<double>(total) : 0.0;
    j["infinite"] = s.infinite;
    j["min"] = number_or_null(s.count ? s.min : NAN);
    j["max"] = number_or_null(s.count ? s.max : NAN);
    j["mean"] = number_or_null(s.count ? s.mean : NAN);
    j["std"] = number_or_null(s.count > 1 ? std::sqrt(s.variance()) : NAN);
    j["quartiles"] = {number_or_null(s.sketch.quantile(0.25)),
                      number_or_null(s.sketch.quantile(0.5)),
                      number_or_null(s.sketch.quantile(0.75))};
    if (column.role == Role::kCategorical) {
      j["cardinality"] = column.cardinality;
      j["distinct"] = s.categories.size();
      nlohmann::ordered_json top = nlohmann::ordered_json::array();
      for (const auto& [code, count] : s.top_categories(5))
        top.push_back({{"code", code}, {"count", count}});
      j["top"] = top;
    }
    columns.push_back(j);
  }
  out["columns"] = columns;
  return out;
}

std::string describe_text(const nlohmann::ordered_json& d) {
  std::ostringstream out;
  out << d["path"].get<std::string>() << "  (" << d["layout"].get<std::string>() << " layout)\n"
      << "rows         " << d["rows"].get<int64_t>() << "\n"
      << "fingerprint  " << d["fingerprint"].get<std::string>() << "\n"
      << "shards       " << d["shards"].size() << "\n";
  for (const auto& s : d["shards"]) {
    std::string filters;
    for (const auto& f : s["filters"])
      filters += (filters.empty() ? "" : "+") + f.get<std::string>();
    out << "  " << std::filesystem::path(s["path"].get<std::string>()).filename().string() << "  "
        << s["rows"].get<int64_t>() << " rows, " << s["storage"].get<std::string>();
    if (s["chunk_rows"].get<int64_t>() > 0)
      out << " (" << s["chunk_rows"].get<int64_t>() << " rows/chunk)";
    out << (filters.empty() ? "" : ", " + filters) << "\n";
  }
  char line[256];
  std::snprintf(line, sizeof line, "\n%-24s %-11s %-8s %8s %12s %12s %12s\n", "column", "role",
                "dtype", "missing%", "min", "mean", "max");
  out << line;
  auto num = [](const nlohmann::ordered_json& v) { return v.is_null() ? NAN : v.get<double>(); };
  for (const auto& c : d["columns"]) {
    std::snprintf(line, sizeof line, "%-24s %-11s %-8s %8.2f %12.5g %12.5g %12.5g\n",
                  c["name"].get<std::string>().c_str(), c["role"].get<std::string>().c_str(),
                  c["dtype"].get<std::string>().c_str(), c["missing_pct"].get<double>(),
                  num(c["min"]), num(c["mean"]), num(c["max"]));
    out << line;
    if (c["infinite"].get<int64_t>() > 0)
      out << "    " << c["infinite"].get<int64_t>() << " infinite (+-Inf), not in min, mean, max\n";
    if (c.contains("top")) {
      out << "    " << c["distinct"].get<std::size_t>() << " distinct of "
          << c["cardinality"].get<int64_t>() << "; top:";
      for (const auto& t : c["top"])
        out << " " << t["code"].get<int64_t>() << " (" << t["count"].get<int64_t>() << ")";
      out << "\n";
    }
  }
  return out.str();
}

Schema read_schema_file(const std::string& path) {
  std::ifstream in(path);
  KILN_CHECK(std::filesystem::exists(path) && in.good(), InputError, "schema file '", path,
             "' does not exist or cannot be read");
  nlohmann::ordered_json j;
  try {
    j = nlohmann::ordered_json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw DataError(detail::concat(path, ": not valid JSON: ", e.what()));
  }
  KILN_CHECK(j.is_object() && j.contains("columns"), DataError, path,
             ": expected a JSON object with a \"columns\" list");
  return schema_from_json(j["columns"], path);
}

std::vector<std::string> validate_dataset(const std::string& path, const Schema& expected,
                                          const MatrixLayout& matrix) {
  std::vector<std::string> problems;
  std::shared_ptr<const Dataset> dataset;
  try {
    dataset = Dataset::open(path, matrix);
  } catch (const DataError& e) {
    problems.push_back(e.what());
    return problems;
  }
  const Schema& have = dataset->schema();
  for (const Column& want : expected.columns) {
    int at = have.find(want.name);
    if (at < 0) {
      problems.push_back(
          detail::concat("column '", want.name, "' (", role_name(want.role), ") is missing"));
      continue;
    }
    const Column& got = have.columns[static_cast<std::size_t>(at)];
    if (got.role != want.role) {
      problems.push_back(detail::concat("column '", want.name, "' has role '", role_name(got.role),
                                        "', expected '", role_name(want.role), "'"));
    }
    if (want.cardinality > 0 && got.cardinality != want.cardinality) {
      problems.push_back(detail::concat("column '", want.name, "' has cardinality ",
                                        got.cardinality, ", expected ", want.cardinality));
    }
  }
  for (const Column& got : have.columns) {
    if (expected.find(got.name) < 0) {
      problems.push_back(detail::concat("column '", got.name, "' (", role_name(got.role),
                                        ") is not in the schema"));
    }
  }
  for (std::size_t i = 0; i < dataset->shards().size(); ++i) {
    const auto& shard = dataset->shards()[i];
    try {
      try {
        dataset->verify_checksum(i);
      } catch (const DataError& e) {
        problems.push_back(e.what());  // and read on: the data may say more
      }
      constexpr int64_t kBlock = 65536;
      ColumnBuffers buffers(shard->schema(), kBlock);
      for (int64_t start = 0; start < shard->rows(); start += kBlock) {
        int64_t n = std::min(kBlock, shard->rows() - start);
        buffers.resize(n);
        shard->read(start, n, buffers.pointers());
      }
    } catch (const Error& e) {
      problems.push_back(e.what());
    }
  }
  return problems;
}

}  // namespace kiln::data
