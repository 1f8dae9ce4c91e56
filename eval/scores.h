// Scores files: what `kiln eval --scores` and a scores baseline read. Either a CSV file
// with a header row, or a Kiln dataset (a directory with dataset.json, or one shard file:
// what `kiln predict` writes) with a label column and a numeric score column.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kiln::eval {

struct ScoreColumns {
  std::string label = "label";  // CSV: the label column's name; a dataset uses its label role
  std::string score = "score";  // the score column's name
  std::string weight;  // CSV: an optional weight column ("": none); a dataset uses its weight role
  bool need_labels = true;  // false: labels are read when the file has them (kiln drift)
};

struct Scores {
  std::string path;
  std::vector<double> scores;
  std::vector<float> labels;    // empty only when the file has none and none were needed
  std::vector<double> weights;  // empty: all 1
  int64_t rows() const { return static_cast<int64_t>(scores.size()); }
};

// Reads every row. InputError (66) when missing; DataError (65) naming the file, the
// column and the line or row for a missing column, an unparsable, NaN or infinite value.
Scores read_scores(const std::string& path, const ScoreColumns& columns = {});

}  // namespace kiln::eval
