// TensorBoard event files written by Kiln itself: TFRecord framing around Event protocol
// buffers with scalar summaries, encoded by hand (no protobuf compiler, no TensorFlow).
// TensorBoard, TensorFlow's summary iterator and anything else that reads event files reads
// them (docs/TRAINING.md, "Watching a run").
//
// A record: u64le length, u32le masked CRC32C of those 8 bytes, the bytes, u32le masked
// CRC32C of the bytes. An Event: wall_time (field 1, double), step (2, int64), file_version
// (3, "brain.Event:2", the file's first record) or summary (5): Summary.Value entries of
// tag (1, string) and simple_value (2, float).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kiln::core {

// CRC-32C (Castagnoli) of `data`, continuing `crc` (0 to start).
uint32_t crc32c(std::string_view data, uint32_t crc = 0);

// One scalar of an event file read back.
struct TfScalar {
  std::string tag;
  int64_t step = 0;
  float value = 0;
  double wall_time = 0;
};

// The scalars of an event file, in file order, up to its first record that is cut short or
// fails its CRC (a writer killed mid-record); `records_ok` says how many records were whole.
struct TfEventFile {
  std::vector<TfScalar> scalars;
  int64_t records_ok = 0;
  bool damaged = false;  // something after the last whole record
};
// Throws InputError when the file cannot be read.
TfEventFile read_tfevents(const std::string& path);

// Appends scalar events to a run's event file. One per run directory: open() continues the
// newest events.out.tfevents.* file there (after dropping its events of steps after
// `keep_through`, and a record cut short), else creates one. Each add() is one write(2) of
// whole records, so a reader never sees half of one unless the process dies inside it.
class TfEventsWriter {
 public:
  // `keep_through`: the step the run resumes at (events of later steps are dropped: the run
  // writes them again); -1 keeps every event. Throws OutputError naming the file.
  static TfEventsWriter open(const std::string& dir, int64_t keep_through);
  TfEventsWriter(TfEventsWriter&&) noexcept;
  TfEventsWriter& operator=(TfEventsWriter&&) noexcept;
  ~TfEventsWriter();

  // One event at `step` with these (tag, value) scalars, stamped with the current time.
  void add(int64_t step, const std::vector<std::pair<std::string, double>>& scalars);
  const std::string& path() const { return path_; }

 private:
  TfEventsWriter() = default;
  void append(const std::string& records);

  std::string path_;
  int fd_ = -1;
};

// The bytes of one TFRecord holding `payload`, and of an Event with these fields (for tests
// and the writer).
std::string tfrecord(std::string_view payload);
std::string tf_scalar_event(double wall_time, int64_t step,
                            const std::vector<std::pair<std::string, double>>& scalars);

}  // namespace kiln::core
