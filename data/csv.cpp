#include "data/csv.h"

#include <cctype>
#include <filesystem>
#include <streambuf>
#include <vector>

#include <zlib.h>

#include "core/config.h"
#include "core/errors.h"
#include "core/utf8.h"

namespace kiln::data {

// A gzip file's text, inflated as it is read (zlib's gzFile; concatenated members too).
class GzipBuf : public std::streambuf {
 public:
  explicit GzipBuf(const std::string& path) : file_(gzopen(path.c_str(), "rb")) {
    KILN_CHECK(file_ != nullptr, InputError, "CSV file '", path, "' cannot be read");
    gzbuffer(file_, 1 << 17);
  }
  ~GzipBuf() override { gzclose(file_); }
  GzipBuf(const GzipBuf&) = delete;
  GzipBuf& operator=(const GzipBuf&) = delete;

  // Why inflating stopped before the end of the data; "" when it did not.
  const std::string& error() const { return error_; }

 protected:
  int_type underflow() override {
    if (gptr() < egptr()) return traits_type::to_int_type(*gptr());
    const int n = gzread(file_, buffer_.data(), static_cast<unsigned>(buffer_.size()));
    int code = Z_OK;
    const char* message = gzerror(file_, &code);
    if (n < 0 || (code != Z_OK && code != Z_STREAM_END)) error_ = message;
    if (n <= 0) return traits_type::eof();
    setg(buffer_.data(), buffer_.data(), buffer_.data() + n);
    return traits_type::to_int_type(*gptr());
  }

 private:
  gzFile file_;
  std::vector<char> buffer_ = std::vector<char>(1 << 16);
  std::string error_;
};

CsvReader::CsvReader(const std::string& path) : path_(path), file_(path, std::ios::binary) {
  std::error_code ec;
  KILN_CHECK(std::filesystem::exists(path, ec), InputError, "CSV file '", path, "' does not exist");
  KILN_CHECK(file_.good(), InputError, "CSV file '", path, "' cannot be read");
  char magic[2] = {0, 0};
  file_.read(magic, 2);
  if (file_.gcount() == 2 && magic[0] == '\x1f' && magic[1] == '\x8b') {
    gzip_ = std::make_unique<GzipBuf>(path);
    in_.rdbuf(gzip_.get());
  } else {
    file_.clear();
    file_.seekg(0);
    in_.rdbuf(file_.rdbuf());
  }
}

CsvReader::~CsvReader() = default;

void CsvReader::check_end() const {
  KILN_CHECK(!gzip_ || gzip_->error().empty(), DataError, path_,
             ": the gzip data is damaged or cut short after line ", line_,
             " (zlib: ", gzip_->error(), ")");
}

bool CsvReader::next(std::vector<std::string>& fields, std::string& raw, std::string& error) {
  error.clear();
  std::string& line = raw;
  do {  // blank lines are no records (pandas writes a one-column file's missing value as "")
    const bool read = static_cast<bool>(std::getline(in_, line));
    check_end();  // a line cut short by damaged gzip data is not read as a record
    if (!read) {
      fields.clear();
      return false;
    }
    // Excel's "CSV UTF-8" starts the file with a byte order mark: not part of the first name.
    if (++line_ == 1 && line.compare(0, 3, "\xEF\xBB\xBF") == 0) line.erase(0, 3);
  } while (line.empty() || line == "\r");
  first_line_ = line_;
  // The fields are assigned into `fields`' strings, which keep their room from record to
  // record; `n` counts them.
  std::size_t n = 0;
  auto put = [&](std::string_view text) {
    if (n == fields.size()) fields.emplace_back();
    fields[n++].assign(text);
  };
  if (line.find('"') == std::string::npos) {  // no quotes: the fields lie between commas
    std::string_view rest(line);
    if (rest.back() == '\r') rest.remove_suffix(1);  // CRLF
    for (std::size_t comma; (comma = rest.find(',')) != std::string_view::npos;) {
      put(rest.substr(0, comma));
      rest.remove_prefix(comma + 1);
    }
    if (!rest.empty() && rest.back() == '\r') rest.remove_suffix(1);
    put(rest);
    fields.resize(n);
    return true;
  }
  std::string text = line;  // the record's lines; `raw` grows with them
  std::string field;
  bool quoted = false, was_quoted = false;
  std::size_t i = 0;
  while (true) {
    if (i == text.size()) {
      if (quoted) {  // a newline inside quotes: the record continues
        const bool read = static_cast<bool>(std::getline(in_, text));
        check_end();
        if (!read) {
          error = "a quoted field is not closed before the end of the file";
          fields.resize(n);
          return true;
        }
        ++line_;
        raw += "\n" + text;
        field += '\n';
        i = 0;
        continue;
      }
      if (!field.empty() && field.back() == '\r' && !was_quoted) field.pop_back();
      put(field);
      fields.resize(n);
      return true;
    }
    char c = text[i++];
    if (quoted) {
      if (c == '"') {
        if (i < text.size() && text[i] == '"') {
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
        fields.resize(n);
        return true;
      }
      quoted = was_quoted = true;
    } else if (c == ',') {
      put(field);
      field.clear();
      was_quoted = false;
    } else if (c == '\r' && i == text.size()) {
      // CRLF line ending
    } else {
      if (was_quoted) {
        error = "text after a closing quote";
        fields.resize(n);
        return true;
      }
      field += c;
    }
  }
}

struct CsvRecordStream::Batch {
  std::vector<CsvRecord> records;  // the first `size` are this batch's; the rest keep their room
  std::size_t size = 0;
  bool last = false;         // the file ends with this batch
  std::exception_ptr error;  // what reading the record after the batch's last threw
};

CsvRecordStream::CsvRecordStream(const std::string& path) : reader_(path) {
  for (int i = 0; i < 2; ++i)
    free_.push_back(std::make_unique<Batch>());
  thread_ = std::thread([this] { read_ahead(); });
}

CsvRecordStream::~CsvRecordStream() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void CsvRecordStream::read_ahead() {
  constexpr std::size_t kBatchRecords = 2048;
  for (bool last = false; !last;) {
    std::unique_ptr<Batch> batch;
    {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [this] { return stop_ || !free_.empty(); });
      if (stop_) return;
      batch = std::move(free_.front());
      free_.pop_front();
    }
    batch->size = 0;
    batch->last = false;
    batch->error = nullptr;
    try {
      while (batch->size < kBatchRecords && !batch->last) {
        if (batch->records.size() == batch->size) batch->records.emplace_back();
        CsvRecord& r = batch->records[batch->size];
        if (reader_.next(r.fields, r.raw, r.error)) {
          r.line = reader_.line();
          r.utf8 = core::invalid_utf8_at(r.raw) == std::string_view::npos;
          ++batch->size;
        } else {
          batch->last = true;
        }
      }
    } catch (...) {
      batch->error = std::current_exception();
      batch->last = true;
    }
    last = batch->last;
    {
      std::lock_guard lock(mutex_);
      full_.push_back(std::move(batch));
    }
    changed_.notify_all();
  }
}

const CsvRecord* CsvRecordStream::next() {
  while (!current_ || at_ == current_->size) {
    if (current_ && current_->last) {
      if (current_->error) std::rethrow_exception(current_->error);
      return nullptr;
    }
    std::unique_lock lock(mutex_);
    if (current_) free_.push_back(std::move(current_));
    changed_.notify_all();
    changed_.wait(lock, [this] { return !full_.empty(); });
    current_ = std::move(full_.front());
    full_.pop_front();
    at_ = 0;
  }
  return &current_->records[at_++];
}

bool csv_file_name(const std::string& path) {
  std::string name = std::filesystem::path(path).filename().string();
  for (char& c : name)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name.ends_with(".csv") || name.ends_with(".csv.gz");
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
