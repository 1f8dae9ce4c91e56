#include "data/csv.h"

#include <filesystem>

#include "core/config.h"
#include "core/errors.h"

namespace kiln::data {

CsvReader::CsvReader(const std::string& path) : path_(path), in_(path, std::ios::binary) {
  std::error_code ec;
  KILN_CHECK(std::filesystem::exists(path, ec), InputError, "CSV file '", path, "' does not exist");
  KILN_CHECK(in_.good(), InputError, "CSV file '", path, "' cannot be read");
}

bool CsvReader::next(std::vector<std::string>& fields, std::string& raw, std::string& error) {
  fields.clear();
  raw.clear();
  error.clear();
  std::string line;
  do {  // blank lines are no records (pandas writes a one-column file's missing value as "")
    if (!std::getline(in_, line)) return false;
    // Excel's "CSV UTF-8" starts the file with a byte order mark: not part of the first name.
    if (++line_ == 1 && line.compare(0, 3, "\xEF\xBB\xBF") == 0) line.erase(0, 3);
  } while (line.empty() || line == "\r");
  first_line_ = line_;
  raw = line;
  std::string field;
  bool quoted = false, was_quoted = false;
  std::size_t i = 0;
  while (true) {
    if (i == line.size()) {
      if (quoted) {  // a newline inside quotes: the record continues
        if (!std::getline(in_, line)) {
          error = "a quoted field is not closed before the end of the file";
          return true;
        }
        ++line_;
        raw += "\n" + line;
        field += '\n';
        i = 0;
        continue;
      }
      if (!field.empty() && field.back() == '\r' && !was_quoted) field.pop_back();
      fields.push_back(field);
      return true;
    }
    char c = line[i++];
    if (quoted) {
      if (c == '"') {
        if (i < line.size() && line[i] == '"') {
          field += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        field += c;
      }
    } else if (c == '"') {
      if (!field.empty()) {
        error = "a quote inside an unquoted field";
        return true;
      }
      quoted = was_quoted = true;
    } else if (c == ',') {
      fields.push_back(field);
      field.clear();
      was_quoted = false;
    } else if (c == '\r' && i == line.size()) {
      // CRLF line ending
    } else {
      if (was_quoted) {
        error = "text after a closing quote";
        return true;
      }
      field += c;
    }
  }
}

std::string missing_column_hint(const std::vector<std::string>& header, const std::string& name) {
  for (const char* delimiter : {";", "\t", "|"}) {
    if (header.size() != 1 || header[0].find(delimiter) == std::string::npos) continue;
    return std::string("; the header is one field holding '") +
           (delimiter[0] == '\t' ? "\\t" : delimiter) +
           "': Kiln reads comma-separated files (convert it, e.g. with pandas: "
           "pd.read_csv(f, sep=...).to_csv(out, index=False))";
  }
  return "; nearest: '" + core::nearest_key(name, header) + "'";
}

}  // namespace kiln::data
