#include "eval/scores.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>

#include "core/errors.h"
#include "data/csv.h"
#include "data/dataset.h"
#include "data/stats.h"

namespace kiln::eval {
namespace {

bool is_dataset(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  return std::filesystem::is_directory(path) || ext == ".h5" || ext == ".hdf5";
}

// A field without the spaces around it.
std::string trimmed(const std::string& field) {
  const std::size_t first = field.find_first_not_of(' '), last = field.find_last_not_of(' ');
  return first == std::string::npos ? "" : field.substr(first, last - first + 1);
}

Scores read_csv(const std::string& path, const ScoreColumns& columns) {
  data::CsvReader reader(path);
  Scores out;
  out.path = path;
  std::vector<std::string> header, cells;
  std::string raw, error;
  KILN_CHECK(reader.next(header, raw, error), DataError, path, ": empty file, expected a header");
  KILN_CHECK(error.empty(), DataError, path, ":1: ", error);
  for (std::string& name : header)
    name = trimmed(name);
  auto find = [&](const std::string& name, bool required) -> int {
    auto it = std::find(header.begin(), header.end(), name);
    KILN_CHECK(it != header.end() || !required, DataError, path, ": no column '", name,
               "' in the header (columns: ", raw, ")", data::missing_column_hint(header, name));
    return it == header.end() ? -1 : static_cast<int>(it - header.begin());
  };
  const int label = find(columns.label, columns.need_labels), score = find(columns.score, true);
  const int weight = columns.weight.empty() ? -1 : find(columns.weight, true);
  while (reader.next(cells, raw, error)) {
    const int64_t line_number = reader.line();
    KILN_CHECK(error.empty(), DataError, path, ":", line_number, ": ", error);
    auto number = [&](int column, const std::string& name) {
      KILN_CHECK(column < static_cast<int>(cells.size()), DataError, path, ":", line_number,
                 ": missing column '", name, "'");
      const std::string text = trimmed(cells[static_cast<std::size_t>(column)]);
      double value = 0;
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
      KILN_CHECK(ec == std::errc() && end == text.data() + text.size(), DataError, path, ":",
                 line_number, ": column '", name, "' is '", text, "', not a number");
      KILN_CHECK(std::isfinite(value), DataError, path, ":", line_number, ": column '", name,
                 "' is ", text, "; values must be finite");
      return value;
    };
    out.scores.push_back(number(score, columns.score));
    if (label < 0) continue;
    const double y = number(label, columns.label);
    KILN_CHECK(y == 0 || y == 1, DataError, path, ":", line_number, ": column '", columns.label,
               "' is ", trimmed(cells[static_cast<std::size_t>(label)]),
               "; binary labels must be 0 or 1");
    out.labels.push_back(static_cast<float>(y));
    if (weight >= 0) {
      out.weights.push_back(number(weight, columns.weight));
      KILN_CHECK(out.weights.back() >= 0, DataError, path, ":", line_number, ": column '",
                 columns.weight, "' is ", trimmed(cells[static_cast<std::size_t>(weight)]),
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
  KILN_CHECK(label >= 0 || !columns.need_labels, DataError, path,
             ": no label column to evaluate against");
  Scores out;
  out.path = path;
  auto column = [](const data::Block& b, int c) {
    return static_cast<const float*>(b.columns[static_cast<std::size_t>(c)]);
  };
  data::for_each_block(*dataset, 65536, nullptr, [&](const data::Block& b) {
    const float* s = column(b, score);
    const float* y = label >= 0 ? column(b, label) : nullptr;
    for (int64_t i = 0; i < b.rows; ++i) {
      KILN_CHECK(std::isfinite(s[i]), DataError, b.shard.path(), ": column '", columns.score,
                 "' row ", b.start + i, " is ", s[i], "; scores must be finite");
      out.scores.push_back(s[i]);
      if (y == nullptr) continue;
      KILN_CHECK(y[i] == 0 || y[i] == 1, DataError, b.shard.path(), ": column '",
                 schema.columns[static_cast<std::size_t>(label)].name, "' row ", b.start + i,
                 " is ", y[i], "; binary labels must be 0 or 1");
      out.labels.push_back(y[i]);
    }
    if (weight >= 0) {
      const float* w = column(b, weight);
      out.weights.insert(out.weights.end(), w, w + b.rows);
    }
  });
  return out;
}

}  // namespace

Scores read_scores(const std::string& path, const ScoreColumns& columns) {
  KILN_CHECK(std::filesystem::exists(path), InputError, "scores file '", path, "' does not exist");
  return is_dataset(path) ? read_dataset(path, columns) : read_csv(path, columns);
}

}  // namespace kiln::eval
