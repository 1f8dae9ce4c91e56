#include "eval/scores.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/errors.h"
#include "data/dataset.h"

namespace kiln::eval {
namespace {

bool is_dataset(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  return std::filesystem::is_directory(path) || ext == ".h5" || ext == ".hdf5";
}

std::vector<std::string> split_csv(const std::string& line) {
  std::vector<std::string> out;
  std::string cell;
  std::stringstream in(line);
  while (std::getline(in, cell, ','))
    out.push_back(cell);
  if (!line.empty() && line.back() == ',') out.emplace_back();
  for (auto& c : out) {  // trim spaces, a trailing CR and surrounding quotes
    while (!c.empty() && (c.back() == ' ' || c.back() == '\r'))
      c.pop_back();
    c.erase(0, c.find_first_not_of(' '));
    if (c.size() >= 2 && c.front() == '"' && c.back() == '"') c = c.substr(1, c.size() - 2);
  }
  return out;
}

Scores read_csv(const std::string& path, const ScoreColumns& columns) {
  std::ifstream in(path);
  KILN_CHECK(in.good(), InputError, "cannot read scores file '", path, "'");
  Scores out;
  out.path = path;
  std::string line;
  KILN_CHECK(static_cast<bool>(std::getline(in, line)), DataError, path,
             ": empty file, expected a header");
  std::vector<std::string> header = split_csv(line);
  auto find = [&](const std::string& name, bool required) -> int {
    auto it = std::find(header.begin(), header.end(), name);
    KILN_CHECK(it != header.end() || !required, DataError, path, ": no column '", name,
               "' in the header (columns: ", line, ")");
    return it == header.end() ? -1 : static_cast<int>(it - header.begin());
  };
  const int label = find(columns.label, true), score = find(columns.score, true);
  const int weight = columns.weight.empty() ? -1 : find(columns.weight, true);
  int64_t line_number = 1;
  while (std::getline(in, line)) {
    ++line_number;
    if (line.empty() || line == "\r") continue;
    std::vector<std::string> cells = split_csv(line);
    auto number = [&](int column, const std::string& name) {
      KILN_CHECK(column < static_cast<int>(cells.size()), DataError, path, ":", line_number,
                 ": missing column '", name, "'");
      const std::string& text = cells[static_cast<std::size_t>(column)];
      double value = 0;
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
      KILN_CHECK(ec == std::errc() && end == text.data() + text.size(), DataError, path, ":",
                 line_number, ": column '", name, "' is '", text, "', not a number");
      KILN_CHECK(std::isfinite(value), DataError, path, ":", line_number, ": column '", name,
                 "' is ", text, "; values must be finite");
      return value;
    };
    out.scores.push_back(number(score, columns.score));
    const double y = number(label, columns.label);
    KILN_CHECK(y == 0 || y == 1, DataError, path, ":", line_number, ": column '", columns.label,
               "' is ", cells[static_cast<std::size_t>(label)], "; binary labels must be 0 or 1");
    out.labels.push_back(static_cast<float>(y));
    if (weight >= 0) {
      out.weights.push_back(number(weight, columns.weight));
      KILN_CHECK(out.weights.back() >= 0, DataError, path, ":", line_number, ": column '",
                 columns.weight, "' is ", cells[static_cast<std::size_t>(weight)],
                 "; weights must be >= 0");
    }
  }
  return out;
}

Scores read_dataset(const std::string& path, const ScoreColumns& columns) {
  auto dataset = data::Dataset::open(path);
  const data::Schema& schema = dataset->schema();
  const int label = schema.find_role(data::Role::kLabel);
  const int score = schema.find(columns.score);
  const int weight = schema.find_role(data::Role::kWeight);
  KILN_CHECK(
      score >= 0 && schema.columns[static_cast<std::size_t>(score)].role == data::Role::kNumeric,
      DataError, path, ": no numeric column '", columns.score, "' to read scores from");
  Scores out;
  out.path = path;
  const int64_t block = 65536;
  data::ColumnBuffers buffers(schema, block);
  for (const auto& shard : dataset->shards()) {
    for (int64_t start = 0; start < shard->rows(); start += block) {
      int64_t n = std::min(block, shard->rows() - start);
      buffers.resize(n);
      shard->read(start, n, buffers.pointers());
      const float* s = buffers.column<float>(static_cast<std::size_t>(score));
      const float* y = buffers.column<float>(static_cast<std::size_t>(label));
      for (int64_t i = 0; i < n; ++i) {
        KILN_CHECK(std::isfinite(s[i]), DataError, shard->path(), ": column '", columns.score,
                   "' row ", start + i, " is ", s[i], "; scores must be finite");
        KILN_CHECK(y[i] == 0 || y[i] == 1, DataError, shard->path(), ": column '",
                   schema.columns[static_cast<std::size_t>(label)].name, "' row ", start + i,
                   " is ", y[i], "; binary labels must be 0 or 1");
        out.scores.push_back(s[i]);
        out.labels.push_back(y[i]);
      }
      if (weight >= 0) {
        const float* w = buffers.column<float>(static_cast<std::size_t>(weight));
        out.weights.insert(out.weights.end(), w, w + n);
      }
    }
  }
  return out;
}

}  // namespace

Scores read_scores(const std::string& path, const ScoreColumns& columns) {
  KILN_CHECK(std::filesystem::exists(path), InputError, "scores file '", path, "' does not exist");
  return is_dataset(path) ? read_dataset(path, columns) : read_csv(path, columns);
}

}  // namespace kiln::eval
