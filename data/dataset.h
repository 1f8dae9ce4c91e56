// A dataset: dataset.json plus its shards (data/FORMAT.md), or h5py-style matrix files.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "data/schema.h"
#include "data/shard.h"

namespace kiln::data {

struct ShardEntry {
  std::string path;  // relative to the dataset directory
  int64_t rows = 0;
  std::string sha256;
};

// The content of dataset.json.
struct DatasetManifest {
  Schema schema;
  std::vector<ShardEntry> shards;
  int64_t rows = 0;
  std::string fingerprint;
  std::map<std::string, std::string> dictionaries;  // categorical column -> JSON file
  std::string created_by;
};

// SHA-256 of the shards' hex digests concatenated in order.
std::string fingerprint_of(const std::vector<ShardEntry>& shards);

// Reads and checks dataset.json in `dir` (format, version, schema, shard list, rows and
// fingerprint consistent, shard paths inside the directory). DataError / InputError.
DatasetManifest read_manifest(const std::string& dir);
// Writes dataset.json atomically.
void write_manifest(const std::string& dir, const DatasetManifest& manifest);

// A dataset opened for reading. `path` is a dataset directory (with dataset.json), one
// HDF5 file, or a directory of HDF5 files in the matrix layout. Every shard is opened and
// proved before this returns; a shard whose row count or schema differs from dataset.json
// is refused. Immutable after open: shareable by threads.
class Dataset {
 public:
  static std::shared_ptr<const Dataset> open(const std::string& path,
                                             const MatrixLayout& matrix = {});

  const std::string& path() const { return path_; }
  const Schema& schema() const { return schema_; }
  int64_t rows() const { return rows_; }
  const std::vector<std::shared_ptr<const ShardFile>>& shards() const { return shards_; }
  // dataset.json's fingerprint; for matrix files, the SHA-256 of the files' hashes.
  const std::string& fingerprint() const { return fingerprint_; }
  // The manifest, or nullptr for matrix-layout files.
  const DatasetManifest* manifest() const { return manifest_ ? &*manifest_ : nullptr; }
  // Re-hashes every shard and compares with dataset.json; DataError naming the first
  // mismatch. Reads every byte.
  void verify_checksums() const;
  // The same for one shard.
  void verify_checksum(std::size_t shard) const;
  // The strings of a categorical column's codes (code i is strings[i]) from its dictionary
  // file (written by `kiln data import`); empty when the dataset has none for the column.
  // DataError naming the file when it is not a list of at most cardinality strings.
  std::vector<std::string> dictionary(const std::string& column) const;

 private:
  std::string path_;
  Schema schema_;
  int64_t rows_ = 0;
  std::string fingerprint_;
  std::vector<std::shared_ptr<const ShardFile>> shards_;
  std::optional<DatasetManifest> manifest_;
};

// DataError when a code of a categorical column means different strings in the two
// datasets' dictionaries (two splits imported one by one, each numbering its strings in its
// own order; `kiln data import --like` keeps them the same). Columns without a dictionary in
// either are not compared.
void check_same_codes(const Dataset& reference, const Dataset& other);

// What a transform plan or a profile records of a categorical column's dictionary in the
// data it was made from, so that data it is later applied to can be checked to give each
// string the same code (check_codes) without the strings themselves.
struct CodeDictionary {
  int64_t strings = 0;  // the dictionary's length
  std::string sha256;   // of its strings in code order, each its length (8 bytes, little-endian)
                        // then its bytes
  // Whether `strings` begin with the strings this records (as many or more, the first that
  // many with its digest).
  bool begins(const std::vector<std::string>& strings) const;
  nlohmann::ordered_json to_json() const;
  // DataError naming `where` when not {"strings": N, "sha256": 64 hex digits}.
  static CodeDictionary from_json(const nlohmann::json& json, const std::string& where);
};

// DataError when `path`, where a dataset is expected, is a CSV file (csv_file_name): it is
// imported first, with `kiln data import --like` `like` (shell words: the model or dataset
// whose columns and category codes the data must have). Nothing for other paths.
void check_not_csv(const std::string& path, const std::string& like);

// Categorical columns' strings in code order: column -> its dictionary.
using Dictionaries = std::map<std::string, std::vector<std::string>>;

// Where `model` (the dictionaries.json of the checkpoint `model_dir`) has the column's strings
// and they begin with those `recorded` records (a plan's or profile's record of the data it
// was made from), checks `data`'s codes of those strings against them and returns true; else
// checks nothing and returns false, leaving the record to decide. DataError at the first code
// that names another string in `data` than in the model's strings, naming it and the
// `--like` that imports data with the model's codes; `data`'s dictionary may be shorter
// (categories it has not seen), and nothing is checked when it has none for the column.
// The codes past the record's are not compared: the plan or profile knows none of
// them (to a plan each is a category it was not fitted on, to a profile a new one), so data
// imported `--like` the train split scores, though its new strings took other codes than the
// validation split's new strings in dictionaries.json.
bool check_codes_with_model(const Dataset& data, const std::string& column,
                            const CodeDictionary& recorded, const Dictionaries& model,
                            const std::string& model_dir);

// Datasets' category dictionaries in one file, as a checkpoint keeps its training data's
// (dictionaries.json: {"format": "kiln.dictionaries", "version": 1, "columns": {"city":
// ["Paris", ...]}}), so that data to score can be imported with the model's codes. Of a
// column's dictionaries in `datasets` and `model` (a fine-tuning run's start's: they agree on
// their codes, check_same_codes and check_codes), the longest.
std::string dictionaries_json(const std::vector<std::shared_ptr<const Dataset>>& datasets,
                              const Dictionaries& model = {});
// DataError naming the file and the column when it is not such a file.
Dictionaries read_dictionaries(const std::string& path);
// A checkpoint's dictionaries.json (read_dictionaries); none for a checkpoint of a Kiln that
// did not write it.
Dictionaries checkpoint_dictionaries(const std::string& checkpoint);

// The record of the dataset's dictionary of `column`; nullopt when it has none.
std::optional<CodeDictionary> code_dictionary(const Dataset& dataset, const std::string& column);

// DataError when `data`'s codes of `column` may mean other strings than in the data
// `recorded` was made from (`made_from`, a dataset path; `what`, the thing made: "the model's
// transform plan"): its dictionary is shorter, or its first `recorded.strings` strings are not
// those. Nothing is checked when `data` has no dictionary for the column.
void check_codes(const Dataset& data, const std::string& column, const CodeDictionary& recorded,
                 const std::string& what, const std::string& made_from);

// Writes a dataset: rows are appended in blocks and split into shards of at most
// `rows_per_shard`; finish() writes dataset.json last, so a directory with dataset.json is
// always complete. Refuses a directory that already holds a dataset. Destroyed unfinished
// (an import that failed), it removes the files it wrote, and the directories it created
// where they are left empty. Not thread-safe.
class DatasetWriter {
 public:
  DatasetWriter(std::string dir, Schema schema, ShardWriteOptions options, int64_t rows_per_shard);
  ~DatasetWriter();
  void append(int64_t count, const std::vector<const void*>& columns);
  // Saves a categorical column's category strings (code i = values[i]).
  void set_dictionary(const std::string& column, const std::vector<std::string>& values);
  int64_t rows() const { return rows_; }
  DatasetManifest finish();

 private:
  void start_shard(int64_t chunk_rows);
  void end_shard();
  void flush_pending();

  std::string dir_;
  Schema schema_;
  ShardWriteOptions options_;
  int64_t rows_per_shard_;
  std::unique_ptr<ShardWriter> writer_;
  DatasetManifest manifest_;
  int64_t rows_ = 0;
  // A new shard's first rows, held until they fill a chunk or the dataset ends: a shard that
  // ends sooner (a small table's only one) gets chunks of its rows, not room for rows it
  // never has (HDF5 allocates an uncompressed chunk whole).
  std::vector<std::vector<char>> pending_;
  int64_t pending_rows_ = 0;
  std::vector<std::string> created_;  // the files and directories written, in order
  bool finished_ = false;
};

}  // namespace kiln::data
