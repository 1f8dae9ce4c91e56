// Loader batches onto the GPU, transformed there: the GPU half of feed::Feed (feed/feed.h).
//
// The loader fills batches in pinned host memory (PinnedAllocator). push() copies a batch
// with one cudaMemcpyAsync on a copy stream into one of two device slots, and enqueues on a
// transform stream of its own a wait for that copy, the fused transform (one DevicePlan per
// slot, so the column pointers it reads never change) into fixed output buffers, and
// copies of the batch's float32 columns the caller asks for (label, weight); the caller's
// compute stream then waits for the transform. So batch i+1 crosses the bus while the GPU
// runs step i, and the outputs keep their addresses from step to step, as a captured CUDA
// graph needs. A caller that alternates between two sets of outputs gets batch i+1
// transformed while its step i still runs: a transform waits only for the compute work
// that read its outputs last (what the compute stream was given between the push of those
// outputs and the next push).
//
// A batch of the loader's gather mode (LoaderOptions::gather; FeedOptions::device_shuffle) is not
// copied: the loader's ring has a mirror on the GPU, each window the loader announces
// (Batch::fresh) is copied into it once, on the copy stream, as soon as push() sees it and the
// transforms that read the windows it overwrites (RingWindow::overwrites) have run (strided copies
// of the 4-byte columns and the order), and turned into a row-major copy there (columns_to_rows);
// the transform gathers the batch's rows from that copy through the order (RowMap), and the float32
// columns asked for with them in the same launch (ColumnCopy), after waiting for the copy of the
// newest window the batch reads. So the CPU only reads the files; the rows are put in order on the
// GPU, and each gathered row is read as whole sectors.
//
// CUDA-free header: streams are void* (cudaStream_t). Built only with CUDA (KILN_WITH_CUDA).
// Not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "data/loader.h"
#include "kernels/transform.h"

namespace kiln::feed {

using kernels::ColumnCopy;

// Page-locked host memory (cudaHostAlloc), so that the batch copies are asynchronous DMA.
// OutputError when the memory cannot be had.
class PinnedAllocator final : public data::HostAllocator {
 public:
  void* allocate(std::size_t bytes) override;
  void deallocate(void* pointer) override;
};

// Where push() writes a batch on the GPU: device memory for batch_size rows.
struct DeviceBatchOutputs {
  float* features = nullptr;       // [batch_size, plan width], row-major
  int64_t* categorical = nullptr;  // [batch_size, categorical width], row-major
  // float32 columns of the batch (by schema index) and where each goes ([batch_size]).
  std::vector<ColumnCopy> columns;
  bool operator==(const DeviceBatchOutputs&) const = default;
};

class DeviceBatches {
 public:
  // `plan` compiled against `schema`, the loader's; `batch_size` its batch size.
  DeviceBatches(const kernels::CompiledPlan& plan, const data::Schema& schema, int64_t batch_size);
  ~DeviceBatches();
  DeviceBatches(const DeviceBatches&) = delete;
  DeviceBatches& operator=(const DeviceBatches&) = delete;

  // Enqueues `batch` (host memory, at most batch_size rows) as above; `stream` is the
  // compute stream the outputs are read on (and only it), which waits for them. Outputs are
  // told apart by their addresses. The batch's memory must stay as it is until the
  // next push() returns (a loader with LoaderOptions::hold = 2): this push returns once the
  // copy of the batch pushed before it has finished, so that a copy overlaps the caller's
  // wait for the next batch. In gather mode it returns once the copies of the windows
  // older than this batch's have finished (the loader reads over whole windows, those no
  // held batch reads); the copies of this batch's windows may still run. The batches of
  // one gather-mode loader must all come here, in order, on one stream (a window's copy is
  // waited for once, on the GPU, at the first batch that reads it). InternalError naming
  // the CUDA error when a copy or launch fails.
  void push(const data::Batch& batch, const DeviceBatchOutputs& out, void* stream);

  // Seconds push() spent waiting for copies to finish, since construction.
  double copy_wait_seconds() const { return copy_wait_seconds_; }

  // Waits until the copies and transforms enqueued so far have finished (before the loader
  // reads over the memory they read, e.g. at a seek). InternalError naming a CUDA failure.
  void synchronize();

 private:
  struct Slot;
  struct Mirror;
  struct Outputs;
  void push_gathered(const data::Batch& batch, const DeviceBatchOutputs& out, void* stream);
  void push_copied(const data::Batch& batch, const DeviceBatchOutputs& out, void* stream);
  Outputs& outputs_of(const DeviceBatchOutputs& out);
  void wait_copy(void* event);
  void release();

  const kernels::CompiledPlan& plan_;
  std::unique_ptr<Mirror> mirror_;    // of a gather-mode loader's ring, from its first batch
  std::vector<std::size_t> offsets_;  // of each column within a slot
  std::vector<std::size_t> sizes_;    // bytes per value of each column
  std::size_t slot_bytes_ = 0;
  void* copy_stream_ = nullptr;
  void* transform_stream_ = nullptr;
  void* ready_ = nullptr;  // event: on the transform stream, after the last push's transform
  std::vector<std::unique_ptr<Outputs>> outputs_;  // each set of outputs pushed to so far
  Outputs* last_ = nullptr;                        // the last push's
  std::vector<std::unique_ptr<Slot>> slots_;
  int next_ = 0;
  bool pushed_ = false;  // a previous push's copy may be in flight
  double copy_wait_seconds_ = 0;
};

}  // namespace kiln::feed
