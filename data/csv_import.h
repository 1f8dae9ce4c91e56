// kiln data import: CSV files to a Kiln dataset, streaming.
//
// Two passes over the files, each holding one row at a time: the first infers each
// column's type (a column whose every non-missing value parses as a number is numeric,
// else categorical) unless a schema file says it, collects the categorical dictionaries
// (codes in order of first appearance; a column keeps strings only from its first text, and
// one whose numbers came before it is read once more for its codes) and counts the label's
// values; the second writes the shards. Memory is bounded by the dictionaries, not the row
// count.
//
// Infinities ("inf", "-Infinity", any case) and numbers beyond float32's range are stored as
// +-Inf in numeric columns (inspect counts them), numbers too small for it as 0 or a
// subnormal; a label and a weight must be finite float32 numbers. An id is an integer; a
// time (a column a schema file or `roles` gives the role "time") is integer seconds since the
// epoch or an ISO 8601 date or date and time (parse_time).
//
// CSV: RFC 4180, as data/csv.h reads it. Header names become column names with every
// character outside [A-Za-z0-9_.-] replaced by '_' (reported). Missing values: an empty
// field, NA, NaN, null (any case), and the texts in `missing_values`. A malformed row
// (wrong field count, an unclosed quote, a value that does not fit its column, a missing or
// unmappable label) fails the import naming file and line, or with skip_bad_rows is counted
// and copied to the reject file.
//
// `like` (kiln data import --like DATASET) imports a further split of the same data: the
// columns take DATASET's roles, and each categorical column starts from DATASET's
// dictionary, so that a string has the same code in both (new strings get the next codes).
// Imported separately, two splits would number their strings each in its own order. With
// `like_checkpoint`, the roles and dictionaries are a model's training data's, as its
// checkpoint records them (profile.json's columns, dictionaries.json): rows to score with it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "data/dataset.h"

namespace kiln::data {

struct CsvImportOptions {
  std::vector<std::string> files;  // read in order, each with its own header (all equal)
  std::string out;                 // the dataset directory to create
  std::string label;               // the label column
  std::string schema_file;         // optional: roles of some or all columns (JSON "columns")
  std::string like;                // optional: a dataset whose roles and category codes to keep
  // With `like` naming a model: its verified checkpoint directory, whose profile.json and
  // dictionaries.json (the training data's roles and codes) are kept instead.
  std::string like_checkpoint;
  // "COLUMN=ROLE" (the CSV's column names; numeric, categorical, weight, id or time): roles
  // given on the command line, over the schema file's; with `like`, for columns it does not
  // have (an id or a time column of rows to score).
  std::vector<std::string> roles;
  std::string positive;                     // the label value that means 1; "" to infer
  std::vector<std::string> missing_values;  // texts that mean missing besides "", NA, NaN, null
  bool skip_bad_rows = false;               // count and copy bad rows instead of failing
  std::string reject_file;                  // where skipped rows go; "" for <out>/rejects.csv
  // A validation split cut from the rows: `valid_fraction` of each label value's rows, drawn
  // at random (`split_seed`), go to the dataset `valid_out` instead of `out`, with the same
  // roles and category codes. "" for none.
  std::string valid_out;
  double valid_fraction = 0.2;
  uint64_t split_seed = 0;
  int64_t rows_per_shard = 1 << 20;
  ShardWriteOptions write;
};

struct CsvImportSummary {
  int64_t rows_read = 0;
  int64_t rows_written = 0;
  int64_t rows_rejected = 0;
  int64_t valid_rows = 0;                      // written to valid_out (not in rows_written)
  std::string reject_file;                     // "" when nothing was rejected
  std::map<std::string, float> label_map;      // label text -> value written (empty: numeric)
  std::map<std::string, std::string> renamed;  // CSV header -> column name, where they differ
  // Categorical columns whose every value is an ISO 8601 date or time: their values seldom
  // recur in later data, so they are better a time column or left out of training.
  std::vector<std::string> time_like;
  // Columns that are categorical for a few texts among numbers (at least 95% numbers): the
  // column -> its first (up to 3) distinct texts, most often a missing-value marker such as
  // "?" that missing_values would read as missing.
  std::map<std::string, std::vector<std::string>> text_in_numbers;
  DatasetManifest manifest;
  DatasetManifest valid_manifest;  // with valid_out
};

// A value of a numeric column: a decimal number (from_chars' forms: digits, a point, an
// exponent; "inf" or "infinity" in any case), with an optional sign; spaces around it are
// ignored. Beyond double's range it is +-Inf or 0. nullopt for anything else, NaN included
// (missing values are told apart before).
std::optional<double> parse_number(std::string_view text);

// Whether parse_number reads `text`, faster where its form alone says so (pass 1 of an
// import tells numeric columns from categorical ones by it).
bool is_number(std::string_view text);

// A time column's value as seconds since 1970-01-01T00:00:00Z: an integer, or ISO 8601's
// YYYY-MM-DD, optionally followed by 'T' or ' ' and hh:mm, :ss, a fraction of a second
// (.f, 1 to 9 digits, dropped: the result is the floor) and an offset (Z, +hh:mm, +hhmm or
// +hh, or '-'); a time without an offset is UTC. Years 0001 to 9999; a date that does not
// exist, hour 24 and second 60 are refused. Spaces around the text are ignored. nullopt for
// anything else.
std::optional<int64_t> parse_time(std::string_view text);

// Throws InputError for a missing file, DataError for a malformed file or row (unless
// skipped), ConfigError for contradictory options (e.g. an unknown --label column).
CsvImportSummary import_csv(const CsvImportOptions& options);

}  // namespace kiln::data
