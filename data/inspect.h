// What `kiln data inspect` and `kiln data validate` report about a dataset.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/stats.h"

namespace kiln::data {

// Schema, rows, shards, storage (chunking, filters), fingerprint and per-column
// statistics (missing %, min, max, mean, std, quartiles, top categories).
nlohmann::ordered_json describe(const Dataset& dataset, const DatasetStats& stats);
// The same as readable text.
std::string describe_text(const nlohmann::ordered_json& description);

// Reads a schema file: JSON with a "columns" list as in dataset.json (a dataset.json is a
// valid schema file); the list may name only some columns (see schema_from_json).
// InputError when missing, DataError when malformed.
Schema read_schema_file(const std::string& path);

// Every way the dataset at `path` differs from `expected` or is damaged: missing, extra or
// mistyped columns, cardinalities, unreadable or corrupt shards, checksum mismatches and bad
// values. Empty when the dataset is valid. Reads every byte.
std::vector<std::string> validate_dataset(const std::string& path, const Schema& expected,
                                          const MatrixLayout& matrix = {});

}  // namespace kiln::data
