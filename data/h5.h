// A small RAII wrapper over the HDF5 C API. Every HDF5 call Kiln makes goes through here.
//
// - Thread safety: all calls are serialized behind one process-wide recursive mutex (HDF5
//   serializes internally anyway; this also covers non-thread-safe builds). Hold H5Lock
//   around any sequence of calls.
// - Errors: HDF5's own error printing is silenced; a failed call throws DataError (65)
//   naming the file, the object, what Kiln was doing and HDF5's innermost message. Files
//   that do not exist or cannot be opened for reading throw InputError (66); files that
//   cannot be created or written throw OutputError (74).
// - Untrusted files: dynamically loaded filter plugins are disabled.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace kiln::data::h5 {

// Takes the process-wide HDF5 lock (recursive) and initializes the library once.
class H5Lock {
 public:
  H5Lock();

 private:
  std::unique_lock<std::recursive_mutex> lock_;
};

// In a child just forked while the parent held H5Lock: makes the lock usable again (the
// child has one thread, and no HDF5 call was in progress when the parent forked).
void reset_lock_after_fork();

// Owns one HDF5 identifier of any kind and releases it with H5Idec_ref.
class Id {
 public:
  Id() = default;
  explicit Id(hid_t id) : id_(id) {}
  ~Id() { reset(); }
  Id(Id&& other) noexcept : id_(other.id_) { other.id_ = H5I_INVALID_HID; }
  Id& operator=(Id&& other) noexcept {
    if (this != &other) {
      reset();
      id_ = other.id_;
      other.id_ = H5I_INVALID_HID;
    }
    return *this;
  }
  Id(const Id&) = delete;
  Id& operator=(const Id&) = delete;
  hid_t get() const { return id_; }
  explicit operator bool() const { return id_ >= 0; }
  void reset();
  // Gives up ownership without closing (for a handle closed explicitly, e.g. H5Fclose).
  hid_t release() {
    hid_t id = id_;
    id_ = H5I_INVALID_HID;
    return id;
  }

 private:
  hid_t id_ = H5I_INVALID_HID;
};

// Where a call was made, for messages: "file.h5: /columns/amount: reading rows: <hdf5>".
struct Where {
  std::string file;
  std::string object;  // "" for the file itself

  // "file: object", or the file alone: how error messages name the place.
  std::string text() const;
};

// Throws DataError when `result` is negative; returns it otherwise.
hid_t check(hid_t result, const Where& where, const char* doing);
herr_t check_status(herr_t result, const Where& where, const char* doing);

// HDF5's innermost error message of the current error stack ("" when empty).
std::string last_error();

// Opens an existing file read-only. InputError when missing or unreadable, DataError when
// it is not an HDF5 file or is damaged (e.g. truncated).
Id open_file(const std::string& path);
// Creates (truncates) a file for writing. OutputError on failure.
Id create_file(const std::string& path);

bool exists(hid_t loc, const std::string& path);
std::optional<std::string> read_string_attribute(hid_t object, const char* name,
                                                 const Where& where);
std::optional<int64_t> read_int_attribute(hid_t object, const char* name, const Where& where);
// A 1-D string-array attribute (e.g. feature_names), or nullopt when absent.
std::optional<std::vector<std::string>> read_string_list_attribute(hid_t object, const char* name,
                                                                   const Where& where);
void write_string_attribute(hid_t object, const char* name, const std::string& value,
                            const Where& where);
void write_int_attribute(hid_t object, const char* name, int64_t value, const Where& where);
// A 1-D array of UTF-8 strings (fixed size, as h5py reads them back).
void write_string_list_attribute(hid_t object, const char* name,
                                 const std::vector<std::string>& values, const Where& where);
void write_int_list_attribute(hid_t object, const char* name, const std::vector<int64_t>& values,
                              const Where& where);

// Closes a file written under the temporary name `temp`, fsyncs it, renames it to `path`
// and fsyncs the directory. OutputError naming the step; the temporary file is left for
// the caller's cleanup on failure.
void commit_file(Id& file, const std::string& temp, const std::string& path);

enum class ScalarKind { kFloat, kSignedInt, kUnsignedInt, kString, kOther };

// What a dataset is, read from its metadata only (no data).
struct DatasetInfo {
  std::vector<hsize_t> dims;
  ScalarKind kind = ScalarKind::kOther;
  std::size_t element_size = 0;  // bytes
  bool chunked = false;
  std::vector<hsize_t> chunk_dims;
  std::vector<std::pair<int, std::string>> filters;  // (filter id, name) in pipeline order
  std::string dtype_name() const;                    // "float32", "int64", "uint8", "string", ...
};
DatasetInfo describe(hid_t dataset, const Where& where);

// The HDF5 memory type for a C++ element type.
template <class T>
hid_t memory_type();

}  // namespace kiln::data::h5
