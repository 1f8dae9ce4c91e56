#include "core/tfevents.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <optional>

#include "core/errors.h"
#include "core/files.h"
#include "core/topology.h"

namespace kiln::core {
namespace {

namespace fs = std::filesystem;

constexpr std::array<uint32_t, 256> crc32c_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k)
      c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;  // the reflected Castagnoli polynomial
    table[i] = c;
  }
  return table;
}
constexpr std::array<uint32_t, 256> kCrc32cTable = crc32c_table();

uint32_t masked_crc(std::string_view data) {
  const uint32_t crc = crc32c(data);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

template <class T>
void put_le(std::string& out, T value) {
  for (std::size_t i = 0; i < sizeof(T); ++i)
    out.push_back(static_cast<char>((static_cast<uint64_t>(value) >> (8 * i)) & 0xff));
}

template <class T>
T get_le(const char* p) {
  uint64_t v = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i)
    v |= static_cast<uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return static_cast<T>(v);
}

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void put_tag(std::string& out, int field, int wire_type) {
  put_varint(out, static_cast<uint64_t>((field << 3) | wire_type));
}

void put_bytes(std::string& out, int field, std::string_view bytes) {
  put_tag(out, field, 2);
  put_varint(out, bytes.size());
  out.append(bytes);
}

void put_double(std::string& out, int field, double v) {
  put_tag(out, field, 1);
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  put_le(out, bits);
}

double now_unix() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// A protocol buffer's fields, read one at a time; nullopt at the end or at bytes that are
// not a field (the caller treats the message as damaged).
class Fields {
 public:
  explicit Fields(std::string_view bytes) : p_(bytes) {}
  struct Field {
    int number = 0, wire_type = 0;
    uint64_t scalar = 0;    // varint, fixed64, fixed32
    std::string_view body;  // length-delimited
  };
  std::optional<Field> next() {
    if (p_.empty()) return std::nullopt;
    Field f;
    const auto key = varint();
    if (!key) return fail();
    f.number = static_cast<int>(*key >> 3);
    f.wire_type = static_cast<int>(*key & 7);
    switch (f.wire_type) {
      case 0: {
        const auto v = varint();
        if (!v) return fail();
        f.scalar = *v;
        return f;
      }
      case 1:
      case 5: {
        const std::size_t n = f.wire_type == 1 ? 8 : 4;
        if (p_.size() < n) return fail();
        f.scalar = n == 8 ? get_le<uint64_t>(p_.data()) : get_le<uint32_t>(p_.data());
        p_.remove_prefix(n);
        return f;
      }
      case 2: {
        const auto n = varint();
        if (!n || *n > p_.size()) return fail();
        f.body = p_.substr(0, *n);
        p_.remove_prefix(*n);
        return f;
      }
      default:
        return fail();
    }
  }
  bool failed() const { return failed_; }

 private:
  std::optional<uint64_t> varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64 && !p_.empty(); shift += 7) {
      const auto byte = static_cast<unsigned char>(p_.front());
      p_.remove_prefix(1);
      v |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return v;
    }
    return std::nullopt;
  }
  std::nullopt_t fail() {
    failed_ = true;
    p_ = {};
    return std::nullopt;
  }
  std::string_view p_;
  bool failed_ = false;
};

// One record of an event file: its bytes in the file and its event's step and scalars.
struct Record {
  std::size_t begin = 0, end = 0;
  int64_t step = 0;
  double wall_time = 0;
  std::vector<std::pair<std::string, float>> scalars;
};

// The event in `payload`, or nullopt when it is not one.
std::optional<Record> parse_event(std::string_view payload) {
  Record r;
  Fields event(payload);
  while (const auto f = event.next()) {
    if (f->number == 1 && f->wire_type == 1) {
      std::memcpy(&r.wall_time, &f->scalar, sizeof r.wall_time);
    } else if (f->number == 2 && f->wire_type == 0) {
      r.step = static_cast<int64_t>(f->scalar);
    } else if (f->number == 5 && f->wire_type == 2) {
      Fields summary(f->body);
      while (const auto v = summary.next()) {
        if (v->number != 1 || v->wire_type != 2) continue;
        std::pair<std::string, float> scalar;
        bool simple = false;
        Fields value(v->body);
        while (const auto g = value.next()) {
          if (g->number == 1 && g->wire_type == 2) scalar.first = std::string(g->body);
          if (g->number == 2 && g->wire_type == 5) {
            const auto bits = static_cast<uint32_t>(g->scalar);
            std::memcpy(&scalar.second, &bits, sizeof scalar.second);
            simple = true;
          }
        }
        if (value.failed()) return std::nullopt;
        if (simple) r.scalars.push_back(std::move(scalar));
      }
      if (summary.failed()) return std::nullopt;
    }
  }
  if (event.failed()) return std::nullopt;
  return r;
}

// The whole records of `bytes`, in order, up to the first that is cut short or damaged.
std::vector<Record> split_records(std::string_view bytes) {
  std::vector<Record> records;
  std::size_t at = 0;
  while (bytes.size() - at >= 12) {
    const std::string_view header = bytes.substr(at, 8);
    const auto length = get_le<uint64_t>(header.data());
    if (get_le<uint32_t>(bytes.data() + at + 8) != masked_crc(header)) break;
    if (bytes.size() - at < 16 || length > bytes.size() - at - 16) break;
    const std::string_view payload = bytes.substr(at + 12, length);
    if (get_le<uint32_t>(bytes.data() + at + 12 + length) != masked_crc(payload)) break;
    auto record = parse_event(payload);
    if (!record) break;
    record->begin = at;
    record->end = at + 16 + length;
    at = record->end;
    records.push_back(std::move(*record));
  }
  return records;
}

// The newest event file in `dir` (by name: names start with their creation time), or "".
std::string newest_event_file(const std::string& dir) {
  std::string newest;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(dir, error)) {
    const std::string name = entry.path().filename().string();
    std::error_code stat_error;
    if (name.rfind("events.out.tfevents.", 0) == 0 && entry.is_regular_file(stat_error) &&
        entry.path().string() > newest)
      newest = entry.path().string();
  }
  return newest;
}

}  // namespace

uint32_t crc32c(std::string_view data, uint32_t crc) {
  crc = ~crc;
  for (const char c : data)
    crc = kCrc32cTable[(crc ^ static_cast<unsigned char>(c)) & 0xff] ^ (crc >> 8);
  return ~crc;
}

std::string tfrecord(std::string_view payload) {
  std::string out;
  out.reserve(payload.size() + 16);
  put_le(out, static_cast<uint64_t>(payload.size()));
  put_le(out, masked_crc(out));
  out.append(payload);
  put_le(out, masked_crc(payload));
  return out;
}

std::string tf_scalar_event(double wall_time, int64_t step,
                            const std::vector<std::pair<std::string, double>>& scalars) {
  std::string summary;
  for (const auto& [tag, value] : scalars) {
    std::string v;
    put_bytes(v, 1, tag);
    put_tag(v, 2, 5);
    const auto f = static_cast<float>(value);
    uint32_t bits;
    std::memcpy(&bits, &f, sizeof bits);
    put_le(v, bits);
    put_bytes(summary, 1, v);
  }
  std::string event;
  put_double(event, 1, wall_time);
  put_tag(event, 2, 0);
  put_varint(event, static_cast<uint64_t>(step));
  put_bytes(event, 5, summary);
  return event;
}

TfEventFile read_tfevents(const std::string& path) {
  const std::string bytes = read_file(path, "event file");
  const std::vector<Record> records = split_records(bytes);
  TfEventFile out;
  out.records_ok = static_cast<int64_t>(records.size());
  out.damaged = (records.empty() ? 0 : records.back().end) != bytes.size();
  for (const Record& r : records)
    for (const auto& [tag, value] : r.scalars)
      out.scalars.push_back({tag, r.step, value, r.wall_time});
  return out;
}

TfEventsWriter TfEventsWriter::open(const std::string& dir, int64_t keep_through) {
  TfEventsWriter w;
  w.path_ = newest_event_file(dir);
  if (!w.path_.empty()) {
    // Keep the whole records of steps up to keep_through: a run resumed there writes the
    // later ones again, and a record cut short by a kill would hide everything after it.
    const std::string bytes = read_file(w.path_, "event file");
    std::string kept;
    for (const Record& r : split_records(bytes))
      if (keep_through < 0 || r.step <= keep_through) kept.append(bytes, r.begin, r.end - r.begin);
    if (kept.size() != bytes.size()) atomic_write(w.path_, kept);
  } else {
    char name[96];
    std::snprintf(name, sizeof name, "events.out.tfevents.%010lld.",
                  static_cast<long long>(now_unix()));
    w.path_ = (fs::path(dir) / (name + host_name() + ".kiln")).string();
  }
  std::error_code error;
  const bool fresh = fs::file_size(w.path_, error) == 0 || error;  // new, or nothing kept
  w.fd_ = ::open(w.path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  KILN_CHECK(w.fd_ >= 0, OutputError, "cannot open event file '", w.path_,
             "': ", std::strerror(errno));
  if (fresh) {
    std::string version;
    put_double(version, 1, now_unix());
    put_bytes(version, 3, "brain.Event:2");
    w.append(tfrecord(version));
  }
  return w;
}

TfEventsWriter::TfEventsWriter(TfEventsWriter&& other) noexcept
    : path_(std::move(other.path_)), fd_(std::exchange(other.fd_, -1)) {}

TfEventsWriter& TfEventsWriter::operator=(TfEventsWriter&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    path_ = std::move(other.path_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

TfEventsWriter::~TfEventsWriter() {
  if (fd_ >= 0) ::close(fd_);
}

void TfEventsWriter::add(int64_t step, const std::vector<std::pair<std::string, double>>& scalars) {
  append(tfrecord(tf_scalar_event(now_unix(), step, scalars)));
}

void TfEventsWriter::append(const std::string& records) {
  std::size_t done = 0;
  while (done < records.size()) {
    const ssize_t n = ::write(fd_, records.data() + done, records.size() - done);
    if (n < 0 && errno == EINTR) continue;
    KILN_CHECK(n > 0, OutputError, "cannot write event file '", path_, "': ", std::strerror(errno));
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace kiln::core
