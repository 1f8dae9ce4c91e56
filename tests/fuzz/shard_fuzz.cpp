// libFuzzer harness over the path every shard takes: open and prove it (format, schema,
// shapes, dtypes, filters, chunk index), then read every row through both read paths.
// Any input must end in success or a kiln::Error — never a crash, a leak or UB.
// Built by the `fuzz` preset; scripts/test runs it for a fixed number of runs from the
// seed corpus in tests/fuzz/corpus/.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/thread_pool.h"
#include "data/h5.h"
#include "data/shard.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // One scratch file per process, removed when the fuzzer exits.
  static const struct Scratch {
    std::string path = "/tmp/kiln_fuzz_" + std::to_string(::getpid()) + ".h5";
    ~Scratch() { ::unlink(path.c_str()); }
  } scratch;
  const std::string& path = scratch.path;
  static kiln::core::ThreadPool pool(2);
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  try {
    auto shard = kiln::data::ShardFile::open(path, nullptr);
    const int64_t rows = std::min<int64_t>(shard->rows(), 1 << 16);
    kiln::data::ColumnBuffers buffers(shard->schema(), rows);
    shard->read(0, rows, buffers.pointers());
    if (rows > 3) shard->read(1, rows - 2, buffers.pointers(), &pool);
  } catch (const kiln::Error&) {
    // Refused with a message: the outcome we want for a bad file.
  }
  // HDF5 keeps freed blocks on its own free lists; give them back so that libFuzzer's
  // per-input leak check sees only real leaks.
  kiln::data::h5::H5Lock lock;
  if (H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) != 0) __builtin_trap();  // an id left open
  H5garbage_collect();
  return 0;
}
