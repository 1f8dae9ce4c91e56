// libFuzzer harness over `kiln data import` (CSV files are untrusted): the input after its
// first byte is a CSV file with a "label" column, imported with bad rows failing or skipped
// and with or without --positive (the first byte's bits). Any input must end in a dataset
// that opens with the rows the import wrote, or in a kiln::Error that leaves neither
// dataset.json nor a shard behind. Never a crash, a leak or UB.
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/errors.h"
#include "data/csv_import.h"
#include "data/dataset.h"

namespace fs = std::filesystem;

namespace {

// A directory of its own for the run, removed at exit.
struct ScratchDir {
  fs::path path;
  ScratchDir() {
    std::string pattern = (fs::temp_directory_path() / "kiln-csv-fuzz-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) __builtin_trap();
    path = pattern;
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const ScratchDir scratch;
  const fs::path& dir = scratch.path;
  if (size == 0) return 0;
  std::ofstream(dir / "in.csv", std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(data + 1), static_cast<std::streamsize>(size - 1));
  kiln::data::CsvImportOptions o;
  o.files = {(dir / "in.csv").string()};
  o.out = (dir / "ds").string();
  o.label = "label";
  o.skip_bad_rows = (data[0] & 1) != 0;
  if ((data[0] & 2) != 0) o.positive = "yes";
  o.rows_per_shard = 3;  // several shards from a few rows
  try {
    const kiln::data::CsvImportSummary summary = kiln::data::import_csv(o);
    if (kiln::data::Dataset::open(o.out)->rows() != summary.rows_written) __builtin_trap();
  } catch (const kiln::Error&) {
    // Refused with a message; what the import wrote is gone (a reject file may stay).
    if (fs::exists(dir / "ds/dataset.json")) __builtin_trap();
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir / "ds", ec))
      if (entry.path().extension() == ".h5") __builtin_trap();
  }
  fs::remove_all(dir / "ds");
  return 0;
}
