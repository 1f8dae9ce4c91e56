// Reading RFC 4180 CSV files one record at a time: `kiln data import` and the scores files
// of `kiln eval --scores`.
//
// A header row, ',' between fields, fields optionally in double quotes with "" for a quote
// inside, newlines allowed inside quotes, CRLF or LF line endings. Blank lines are skipped (a
// one-column file writes a missing value as "" or NA), and so is a UTF-8 byte order mark
// before the header. A gzip-compressed file reads as its text.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace kiln::data {

class GzipBuf;

// Tracks physical line numbers, so that messages can name `file:line`. A gzip file (by its
// first two bytes, whatever its name) is inflated as it is read.
class CsvReader {
 public:
  // InputError naming the file when it does not exist or cannot be read.
  explicit CsvReader(const std::string& path);
  ~CsvReader();
  // The next record's fields and its raw text (its lines, joined by '\n'); false at the end.
  // On a malformed record (an unclosed quote, text after a closing quote, a quote inside an
  // unquoted field), `error` says why and `fields` is unusable.
  bool next(std::vector<std::string>& fields, std::string& raw, std::string& error);
  // The line the last record started on (1: the header).
  int64_t line() const { return first_line_; }
  const std::string& path() const { return path_; }

 private:
  // After each line read: DataError when gzip data was damaged or cut short.
  void check_end() const;

  std::string path_;
  std::ifstream file_;
  std::unique_ptr<GzipBuf> gzip_;
  std::istream in_{nullptr};  // file_'s or gzip_'s text
  int64_t line_ = 0;
  int64_t first_line_ = 0;
};

// One record as CsvReader::next gives it, with the line it started on.
struct CsvRecord {
  std::vector<std::string> fields;
  std::string raw, error;
  int64_t line = 0;
  bool utf8 = true;  // whether `raw` is valid UTF-8 (checked on the reading thread)
};

// A CsvReader on a thread of its own, reading ahead in batches of records (two in flight), so
// that finding a file's fields overlaps with what the caller does with them (`kiln data
// import`'s passes). The same records, and the reader's exceptions (damaged gzip data) where
// they happened, in order; one consumer.
class CsvRecordStream {
 public:
  // InputError naming the file when it does not exist or cannot be read (on the caller's
  // thread, before anything is read ahead).
  explicit CsvRecordStream(const std::string& path);
  ~CsvRecordStream();  // stops the reader and waits for it
  CsvRecordStream(const CsvRecordStream&) = delete;
  CsvRecordStream& operator=(const CsvRecordStream&) = delete;

  // The next record, valid until the next call; nullptr at the end of the file.
  const CsvRecord* next();

 private:
  struct Batch;
  void read_ahead();

  CsvReader reader_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::unique_ptr<Batch>> full_, free_;
  bool stop_ = false;
  std::unique_ptr<Batch> current_;
  std::size_t at_ = 0;
  std::thread thread_;
};

// Whether `path` is named as a CSV file: it ends in .csv or .csv.gz, in any case.
bool csv_file_name(const std::string& path);

// The end of an error about a header without the column `name`: "; the header is one field
// holding ';' ..." when the file looks separated by ';', a tab or '|' rather than ',', else
// "; nearest: '<the header's name closest to name>'".
std::string missing_column_hint(const std::vector<std::string>& header, const std::string& name);

}  // namespace kiln::data
