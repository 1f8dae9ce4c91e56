#include "data/dataset.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <span>
#include <sstream>
#include <string_view>
#include <unordered_map>

#include "core/build_info.h"
#include "core/errors.h"
#include "core/files.h"
#include "core/process.h"
#include "core/sha256.h"
#include "data/csv.h"

namespace kiln::data {
namespace fs = std::filesystem;
namespace {

// A dictionary's strings from a JSON array; DataError naming `where` and the first entry
// that is not a string or repeats an earlier one (two codes for one string would make the
// string's code depend on which of them an import took).
std::vector<std::string> string_list(const nlohmann::json& array, const std::string& where) {
  std::vector<std::string> strings;
  strings.reserve(array.size());
  for (const auto& v : array) {
    KILN_CHECK(v.is_string(), DataError, where, ": entry ", strings.size(), " is not a string");
    strings.push_back(v.get<std::string>());
  }
  std::unordered_map<std::string_view, std::size_t> first;
  first.reserve(strings.size());
  for (std::size_t i = 0; i < strings.size(); ++i) {
    const auto [at, added] = first.emplace(strings[i], i);
    KILN_CHECK(added, DataError, where, ": entry ", i, " '", strings[i], "' repeats entry ",
               at->second, "; a dictionary lists each string once");
  }
  return strings;
}

constexpr const char* kFormat = "kiln.dataset";
constexpr int64_t kVersion = 1;
constexpr std::size_t kMaxManifestBytes = 64 << 20;

bool is_hdf5_name(const fs::path& p) {
  std::string ext = p.extension().string();
  return ext == ".h5" || ext == ".hdf5" || ext == ".hdf";
}

// A shard path from dataset.json: relative, inside the directory, no "..".
std::string inside_dataset(const std::string& dir, const std::string& rel,
                           const std::string& where) {
  fs::path p(rel);
  bool ok = !rel.empty() && p.is_relative();
  for (const auto& part : p)
    ok = ok && part != ".." && part != ".";
  KILN_CHECK(ok, DataError, where, ": path '", rel,
             "' must be a plain relative path inside the dataset directory");
  return (fs::path(dir) / p).string();
}

}  // namespace

std::string fingerprint_of(const std::vector<ShardEntry>& shards) {
  core::Sha256 hash;
  for (const auto& s : shards)
    hash.update(s.sha256);
  return hash.hex_digest();
}

DatasetManifest read_manifest(const std::string& dir) {
  std::string path = (fs::path(dir) / "dataset.json").string();
  std::error_code ec;
  KILN_CHECK(fs::exists(path, ec), InputError, "'", path, "' does not exist");
  auto size = fs::file_size(path, ec);
  KILN_CHECK(!ec && size <= kMaxManifestBytes, DataError, path, ": larger than ", kMaxManifestBytes,
             " bytes");
  std::ifstream in(path);
  KILN_CHECK(in.good(), InputError, "'", path, "' cannot be read");
  nlohmann::ordered_json j;
  try {
    j = nlohmann::ordered_json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw DataError(detail::concat(path, ": not valid JSON: ", e.what()));
  }
  KILN_CHECK(j.is_object(), DataError, path, ": expected a JSON object");
  KILN_CHECK(j.value("format", "") == kFormat, DataError, path, ": 'format' should be '", kFormat,
             "'");
  KILN_CHECK(j.contains("version") && j["version"].is_number_integer(), DataError, path,
             ": missing integer 'version' (expected ", kVersion, ")");
  int64_t version = j["version"];
  KILN_CHECK(version <= kVersion, DataError, path, ": version ", version,
             " was written by a newer Kiln; this one reads version ", kVersion);
  KILN_CHECK(version == kVersion, DataError, path, ": unknown version ", version);
  KILN_CHECK(j.contains("columns"), DataError, path, ": missing 'columns'");

  DatasetManifest m;
  m.schema = schema_from_json(j["columns"], path);
  m.schema.validate(path);
  KILN_CHECK(j.contains("shards") && j["shards"].is_array() && !j["shards"].empty(), DataError,
             path, ": 'shards' should be a non-empty list");
  for (std::size_t i = 0; i < j["shards"].size(); ++i) {
    const auto& s = j["shards"][i];
    std::string at = path + ": shards[" + std::to_string(i) + "]";
    KILN_CHECK(s.is_object() && s.contains("path") && s["path"].is_string() && s.contains("rows") &&
                   s["rows"].is_number_integer() && s.contains("sha256") && s["sha256"].is_string(),
               DataError, at, ": expected {path: string, rows: integer, sha256: string}");
    ShardEntry e{s["path"], s["rows"], s["sha256"]};
    KILN_CHECK(e.rows >= 1, DataError, at, ": rows must be at least 1, got ", e.rows);
    KILN_CHECK(e.sha256.size() == 64, DataError, at, ": sha256 should be 64 hex characters");
    inside_dataset(dir, e.path, at);
    m.rows += e.rows;
    m.shards.push_back(e);
  }
  KILN_CHECK(j.value("rows", int64_t{-1}) == m.rows, DataError, path, ": 'rows' is ",
             j.value("rows", int64_t{-1}), " but the shards hold ", m.rows);
  m.fingerprint = j.value("fingerprint", "");
  KILN_CHECK(m.fingerprint == fingerprint_of(m.shards), DataError, path,
             ": 'fingerprint' does not match the shards' checksums (edited by hand?)");
  if (j.contains("dictionaries")) {
    KILN_CHECK(j["dictionaries"].is_object(), DataError, path,
               ": 'dictionaries' should be an object");
    for (const auto& [k, v] : j["dictionaries"].items()) {
      const int column = m.schema.find(k);
      KILN_CHECK(v.is_string() && column >= 0 &&
                     m.schema.columns[static_cast<std::size_t>(column)].role == Role::kCategorical,
                 DataError, path, ": dictionaries.", k,
                 " should name a file for a categorical column of the schema");
      inside_dataset(dir, v, path + ": dictionaries." + k);
      m.dictionaries[k] = v;
    }
  }
  m.created_by = j.value("created_by", "");
  return m;
}

void write_manifest(const std::string& dir, const DatasetManifest& m) {
  nlohmann::ordered_json j;
  j["format"] = kFormat;
  j["version"] = kVersion;
  j["layout"] = "columnar";
  j["rows"] = m.rows;
  j["columns"] = to_json(m.schema);
  if (!m.dictionaries.empty()) j["dictionaries"] = m.dictionaries;
  j["shards"] = nlohmann::ordered_json::array();
  for (const auto& s : m.shards) {
    j["shards"].push_back({{"path", s.path}, {"rows", s.rows}, {"sha256", s.sha256}});
  }
  j["fingerprint"] = m.fingerprint;
  j["created_by"] = m.created_by;
  core::atomic_write((fs::path(dir) / "dataset.json").string(), j.dump(2) + "\n");
}

std::shared_ptr<const Dataset> Dataset::open(const std::string& path, const MatrixLayout& matrix) {
  auto ds = std::make_shared<Dataset>();
  ds->path_ = path;
  std::error_code ec;
  KILN_CHECK(fs::exists(path, ec), InputError, "'", path, "' does not exist");
  std::vector<std::string> files;
  if (fs::is_directory(path, ec) && fs::exists(fs::path(path) / "dataset.json", ec)) {
    ds->manifest_ = read_manifest(path);
    const DatasetManifest& m = *ds->manifest_;
    ds->schema_ = m.schema;
    ds->fingerprint_ = m.fingerprint;
    for (const auto& e : m.shards) {
      files.push_back(inside_dataset(path, e.path, path));
      KILN_CHECK(fs::exists(files.back(), ec), InputError, path, ": shard '", e.path,
                 "' listed in dataset.json does not exist");
    }
    for (auto& shard : ShardFile::open_all(files, &ds->schema_, matrix)) {
      const int64_t listed = m.shards[ds->shards_.size()].rows;
      KILN_CHECK(shard->rows() == listed, DataError, shard->path(), ": holds ", shard->rows(),
                 " rows, dataset.json says ", listed);
      ds->rows_ += shard->rows();
      ds->shards_.push_back(std::move(shard));
    }
    return ds;
  }
  if (fs::is_directory(path, ec)) {
    for (const auto& entry : fs::directory_iterator(path)) {
      if (entry.is_regular_file() && is_hdf5_name(entry.path())) files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    KILN_CHECK(!files.empty(), InputError, "'", path,
               "' has neither dataset.json nor any .h5/.hdf5 file");
  } else {
    files.push_back(path);
  }
  core::Sha256 fingerprint;
  for (auto& shard : ShardFile::open_all(files, nullptr, matrix)) {
    if (ds->shards_.empty()) ds->schema_ = shard->schema();
    KILN_CHECK(shard->schema().columns.size() == ds->schema_.columns.size(), DataError,
               shard->path(), ": has ", shard->schema().columns.size(), " columns, ", files.front(),
               " has ", ds->schema_.columns.size());
    ds->rows_ += shard->rows();
    fingerprint.update(core::sha256_file(shard->path()));
    ds->shards_.push_back(std::move(shard));
  }
  ds->fingerprint_ = fingerprint.hex_digest();
  return ds;
}

void Dataset::verify_checksum(std::size_t shard) const {
  if (!manifest_) return;
  const std::string& want = manifest_->shards[shard].sha256;
  std::string have = core::sha256_file(shards_[shard]->path());
  KILN_CHECK(have == want, DataError, shards_[shard]->path(), ": SHA-256 is ", have,
             ", dataset.json says ", want, " (the shard changed or is corrupt)");
}

void Dataset::verify_checksums() const {
  for (std::size_t i = 0; i < shards_.size(); ++i)
    verify_checksum(i);
}

std::vector<std::string> Dataset::dictionary(const std::string& column) const {
  if (!manifest_ || !manifest_->dictionaries.count(column)) return {};
  const std::string file = inside_dataset(path_, manifest_->dictionaries.at(column), path_);
  nlohmann::json j =
      nlohmann::json::parse(core::read_file(file, "category dictionary"), nullptr, false);
  const int index = schema_.find(column);
  const int64_t cardinality = schema_.columns[static_cast<std::size_t>(index)].cardinality;
  KILN_CHECK(j.is_array() && static_cast<int64_t>(j.size()) <= cardinality, DataError, file,
             ": expected a JSON list of at most ", cardinality, " strings (column '", column, "')");
  return string_list(j, file);
}

void check_not_csv(const std::string& path, const std::string& like) {
  KILN_CHECK(!csv_file_name(path) || std::filesystem::is_directory(path), DataError, "'", path,
             "' is a CSV file, where a dataset is expected; import it first, with the columns "
             "and category codes it must have: kiln data import --csv ",
             core::shell_word(path), " --out DIR --like ", like);
}

namespace {

// DataError at the first code that names another string in `data` (its dictionary `here`)
// than in `there`, the dictionary in `source`; `remedy` ends the message.
void check_same_strings(const Dataset& data, const std::string& column,
                        const std::vector<std::string>& here, std::span<const std::string> there,
                        const std::string& source, const std::string& remedy) {
  for (std::size_t code = 0; code < std::min(here.size(), there.size()); ++code)
    KILN_CHECK(here[code] == there[code], DataError, data.path(), ": column '", column, "': code ",
               code, " is '", here[code], "' here but '", there[code], "' in ", source,
               ", so the two disagree on what the codes mean; ", remedy);
}

}  // namespace

void check_same_codes(const Dataset& reference, const Dataset& other) {
  if (reference.manifest() == nullptr || other.manifest() == nullptr) return;
  for (const auto& [column, file] : reference.manifest()->dictionaries) {
    if (!other.manifest()->dictionaries.count(column)) continue;
    check_same_strings(other, column, other.dictionary(column), reference.dictionary(column),
                       reference.path(),
                       "import " + other.path() + " with --like " + reference.path());
  }
}

namespace {

std::string dictionary_sha256(const std::vector<std::string>& strings, std::size_t count) {
  core::Sha256 hash;
  for (std::size_t i = 0; i < count; ++i) {
    unsigned char length[8];
    for (int b = 0; b < 8; ++b)
      length[b] = static_cast<unsigned char>(static_cast<uint64_t>(strings[i].size()) >> (8 * b));
    hash.update(length, sizeof length);
    hash.update(strings[i]);
  }
  return hash.hex_digest();
}

}  // namespace

nlohmann::ordered_json CodeDictionary::to_json() const {
  return {{"strings", strings}, {"sha256", sha256}};
}

CodeDictionary CodeDictionary::from_json(const nlohmann::json& json, const std::string& where) {
  const bool ok =
      json.is_object() && json.size() == 2 && json.contains("strings") &&
      json["strings"].is_number_integer() && json["strings"].get<int64_t>() >= 0 &&
      json.contains("sha256") && json["sha256"].is_string() &&
      json["sha256"].get<std::string>().size() == 64 &&
      json["sha256"].get<std::string>().find_first_not_of("0123456789abcdef") == std::string::npos;
  KILN_CHECK(ok, DataError, where, ": expected {\"strings\": N, \"sha256\": 64 hex digits}, not ",
             json.dump());
  return {json["strings"].get<int64_t>(), json["sha256"].get<std::string>()};
}

bool CodeDictionary::begins(const std::vector<std::string>& list) const {
  const auto n = static_cast<std::size_t>(strings);
  return list.size() >= n && dictionary_sha256(list, n) == sha256;
}

std::string dictionaries_json(const std::vector<std::shared_ptr<const Dataset>>& datasets,
                              const Dictionaries& model) {
  Dictionaries longest = model;
  for (const auto& dataset : datasets) {
    if (dataset->manifest() == nullptr) continue;
    for (const auto& [column, file] : dataset->manifest()->dictionaries) {
      std::vector<std::string> strings = dataset->dictionary(column);
      if (strings.size() >= longest[column].size()) longest[column] = std::move(strings);
    }
  }
  nlohmann::ordered_json columns = nlohmann::ordered_json::object();
  for (const auto& [column, strings] : longest)
    columns[column] = strings;
  return nlohmann::ordered_json{
             {"format", "kiln.dictionaries"}, {"version", 1}, {"columns", columns}}
             .dump() +
         "\n";
}

Dictionaries read_dictionaries(const std::string& path) {
  const nlohmann::json j =
      nlohmann::json::parse(core::read_file(path, "category dictionaries"), nullptr, false);
  KILN_CHECK(j.is_object() && j.contains("format") && j["format"] == "kiln.dictionaries" &&
                 j.contains("version") && j["version"] == 1 && j.contains("columns") &&
                 j["columns"].is_object(),
             DataError, path,
             ": not category dictionaries (format kiln.dictionaries, version 1, 'columns')");
  Dictionaries out;
  for (const auto& [column, strings] : j["columns"].items()) {
    const std::string where = path + ": column '" + column + "'";
    KILN_CHECK(strings.is_array(), DataError, where, ": expected a list of strings");
    out[column] = string_list(strings, where);
  }
  return out;
}

bool check_codes_with_model(const Dataset& data, const std::string& column,
                            const CodeDictionary& recorded, const Dictionaries& model,
                            const std::string& model_dir) {
  const auto strings = model.find(column);
  if (strings == model.end() || !recorded.begins(strings->second)) return false;
  if (data.manifest() == nullptr || !data.manifest()->dictionaries.count(column)) return true;
  check_same_strings(data, column, data.dictionary(column),
                     std::span(strings->second).first(static_cast<std::size_t>(recorded.strings)),
                     (fs::path(model_dir) / "dictionaries.json").string(),
                     "import the CSV with `kiln data import --like " + model_dir +
                         "`, which gives each string the code it has there");
  return true;
}

Dictionaries checkpoint_dictionaries(const std::string& checkpoint) {
  const std::filesystem::path file = std::filesystem::path(checkpoint) / "dictionaries.json";
  return std::filesystem::exists(file) ? read_dictionaries(file.string()) : Dictionaries{};
}

std::optional<CodeDictionary> code_dictionary(const Dataset& dataset, const std::string& column) {
  if (dataset.manifest() == nullptr || !dataset.manifest()->dictionaries.count(column))
    return std::nullopt;
  const std::vector<std::string> strings = dataset.dictionary(column);
  return CodeDictionary{static_cast<int64_t>(strings.size()),
                        dictionary_sha256(strings, strings.size())};
}

void check_codes(const Dataset& data, const std::string& column, const CodeDictionary& recorded,
                 const std::string& what, const std::string& made_from) {
  if (data.manifest() == nullptr || !data.manifest()->dictionaries.count(column)) return;
  const std::vector<std::string> strings = data.dictionary(column);
  const auto n = static_cast<std::size_t>(recorded.strings);
  std::string why;
  if (strings.size() < n)
    why = detail::concat("its dictionary lists fewer strings, ", strings.size(), " against ", n);
  else if (!recorded.begins(strings))
    why = detail::concat("codes 0 to ", n - 1, " do not name the same strings in both");
  const std::string source = made_from.empty() ? "the data" : "'" + made_from + "'";
  KILN_CHECK(why.empty(), DataError, data.path(), ": column '", column,
             "': its codes may mean other strings than in ", source, ", which ", what,
             " was made from (", why, "); import the CSV with `kiln data import --like ",
             made_from.empty() ? "DATASET" : made_from,
             "`, which gives each string the code it has there");
}

DatasetWriter::DatasetWriter(std::string dir, Schema schema, ShardWriteOptions options,
                             int64_t rows_per_shard)
    : dir_(std::move(dir)),
      schema_(std::move(schema)),
      options_(options),
      rows_per_shard_(rows_per_shard) {
  KILN_ASSERT(rows_per_shard_ >= 1, "rows_per_shard must be positive");
  // A chunk taller than a shard only wastes disk and reads: HDF5 allocates an uncompressed
  // chunk whole (and a shard's first chunk waits for its rows: pending_).
  options_.chunk_rows = std::min(options_.chunk_rows, rows_per_shard_);
  pending_.resize(schema_.columns.size());
  schema_.validate(dir_);
  std::error_code ec;
  KILN_CHECK(!fs::exists(fs::path(dir_) / "dataset.json", ec), OutputError, "'", dir_,
             "' already holds a dataset; remove it or choose another output directory");
  for (fs::path missing = dir_; !missing.empty() && !fs::exists(missing, ec);
       missing = missing.parent_path())
    created_.insert(created_.begin(), missing.string());
  fs::create_directories(dir_, ec);
  KILN_CHECK(!ec, OutputError, "cannot create directory '", dir_, "': ", ec.message());
  manifest_.schema = schema_;
  const auto& build = core::build_info();
  manifest_.created_by = "kiln " + build.version + " (git " + build.git_revision + ")";
}

DatasetWriter::~DatasetWriter() {
  if (finished_) return;
  writer_.reset();  // removes its temporary file
  std::error_code ec;
  for (auto it = created_.rbegin(); it != created_.rend(); ++it)
    fs::remove(*it, ec);  // a directory only where empty
}

void DatasetWriter::start_shard(int64_t chunk_rows) {
  char name[32];
  std::snprintf(name, sizeof name, "part-%05zu.h5", manifest_.shards.size());
  manifest_.shards.push_back({name, 0, ""});
  const std::string path = (fs::path(dir_) / name).string();
  ShardWriteOptions options = options_;
  options.chunk_rows = chunk_rows;
  writer_ = std::make_unique<ShardWriter>(path, schema_, options);
  created_.push_back(path);
}

void DatasetWriter::end_shard() {
  ShardEntry& entry = manifest_.shards.back();
  entry.rows = writer_->rows();
  entry.sha256 = writer_->finish();
  writer_.reset();
}

void DatasetWriter::append(int64_t count, const std::vector<const void*>& columns) {
  int64_t done = 0;
  std::vector<const void*> part(columns.size());
  auto at = [&](std::size_t c, int64_t row) {
    return static_cast<const char*>(columns[c]) +
           row * static_cast<int64_t>(mem_size(schema_.columns[c].role));
  };
  while (done < count) {
    if (!writer_) {  // a new shard's rows wait until they fill its first chunk
      const int64_t n = std::min(count - done, options_.chunk_rows - pending_rows_);
      for (std::size_t c = 0; c < columns.size(); ++c)
        pending_[c].insert(pending_[c].end(), at(c, done), at(c, done + n));
      pending_rows_ += n;
      done += n;
      rows_ += n;
      if (pending_rows_ == options_.chunk_rows) flush_pending();
      continue;
    }
    int64_t n = std::min(count - done, rows_per_shard_ - writer_->rows());
    for (std::size_t c = 0; c < columns.size(); ++c)
      part[c] = at(c, done);
    writer_->append(n, part);
    done += n;
    rows_ += n;
    if (writer_->rows() == rows_per_shard_) end_shard();
  }
}

void DatasetWriter::flush_pending() {
  start_shard(pending_rows_);
  std::vector<const void*> part;
  for (const auto& column : pending_)
    part.push_back(column.data());
  writer_->append(pending_rows_, part);
  for (auto& column : pending_)
    column.clear();
  pending_rows_ = 0;
  if (writer_->rows() == rows_per_shard_) end_shard();
}

void DatasetWriter::set_dictionary(const std::string& column,
                                   const std::vector<std::string>& values) {
  KILN_ASSERT(schema_.find(column) >= 0, "dictionary for an unknown column");
  std::string rel = "dictionaries/" + column + ".json";
  const fs::path directory = fs::path(dir_) / "dictionaries";
  std::error_code ec;
  if (fs::create_directories(directory, ec)) created_.push_back(directory.string());
  KILN_CHECK(!ec, OutputError, "cannot create directory '", directory.string(),
             "': ", ec.message());
  const std::string path = (fs::path(dir_) / rel).string();
  core::atomic_write(path, nlohmann::json(values).dump() + "\n");
  created_.push_back(path);
  manifest_.dictionaries[column] = rel;
}

DatasetManifest DatasetWriter::finish() {
  if (pending_rows_ > 0) flush_pending();
  if (writer_) end_shard();
  KILN_CHECK(rows_ > 0, OutputError, "no rows to write to '", dir_, "'");
  manifest_.rows = rows_;
  manifest_.fingerprint = fingerprint_of(manifest_.shards);
  write_manifest(dir_, manifest_);
  finished_ = true;
  return manifest_;
}

}  // namespace kiln::data
