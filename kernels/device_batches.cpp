#include "kernels/device_batches.h"

#include <cuda_runtime.h>

#include <chrono>

#include "core/errors.h"
#include "kernels/cuda_check.h"

namespace kiln::kernels {
namespace {

struct EventDeleter {
  void operator()(CUevent_st* event) const { cudaEventDestroy(event); }
};
using Event = std::unique_ptr<CUevent_st, EventDeleter>;

Event make_event() {
  cudaEvent_t event = nullptr;
  cuda_check(cudaEventCreateWithFlags(&event, cudaEventDisableTiming), "creating an event");
  return Event(event);
}

struct DeviceFree {
  void operator()(void* memory) const { cudaFree(memory); }
};

}  // namespace

void* PinnedAllocator::allocate(std::size_t bytes) {
  void* memory = nullptr;
  const cudaError_t status = cudaHostAlloc(&memory, bytes, cudaHostAllocDefault);
  KILN_CHECK(status == cudaSuccess, OutputError, "cannot allocate ", bytes,
             " bytes of pinned host memory for batches: ", cudaGetErrorString(status));
  return memory;
}

void PinnedAllocator::deallocate(void* pointer) {
  cudaFreeHost(pointer);
}

struct DeviceBatches::Slot {
  std::unique_ptr<void, DeviceFree> memory;
  std::unique_ptr<DevicePlan> plan;  // its columns: this slot's
  Event copied;                      // on the copy stream, after the batch is in `memory`
  Event consumed;                    // on the compute stream, after the last read of `memory`
};

DeviceBatches::DeviceBatches(const CompiledPlan& plan, const data::Schema& schema,
                             int64_t batch_size) {
  for (const data::Column& column : schema.columns) {
    offsets_.push_back(slot_bytes_);
    sizes_.push_back(data::mem_size(column.role));
    slot_bytes_ += sizes_.back() * static_cast<std::size_t>(batch_size);
  }
  cudaStream_t stream = nullptr;
  cuda_check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "creating the copy stream");
  copy_stream_ = stream;
  try {
    for (int i = 0; i < 2; ++i) {
      auto slot = std::make_unique<Slot>();
      void* memory = nullptr;
      cuda_check(cudaMalloc(&memory, slot_bytes_), "allocating device memory for batches");
      slot->memory.reset(memory);
      std::vector<const void*> columns;
      for (std::size_t offset : offsets_)
        columns.push_back(static_cast<const char*>(memory) + offset);
      slot->plan = std::make_unique<DevicePlan>(plan);
      slot->plan->set_columns(columns);
      slot->copied = make_event();
      slot->consumed = make_event();
      slots_.push_back(std::move(slot));
    }
  } catch (...) {
    slots_.clear();
    cudaStreamDestroy(stream);
    throw;
  }
}

DeviceBatches::~DeviceBatches() {
  auto stream = static_cast<cudaStream_t>(copy_stream_);
  cudaStreamSynchronize(stream);
  slots_.clear();
  cudaStreamDestroy(stream);
}

void DeviceBatches::push(const data::Batch& batch, const DeviceBatchOutputs& out, void* stream) {
  KILN_ASSERT(batch.columns.size() == offsets_.size(), "batch of another schema");
  auto copy_stream = static_cast<cudaStream_t>(copy_stream_);
  auto compute = static_cast<cudaStream_t>(stream);
  Slot& slot = *slots_[static_cast<std::size_t>(next_)];
  next_ ^= 1;
  char* device = static_cast<char*>(slot.memory.get());

  // The slot was last read by the step two pushes ago.
  cuda_check(cudaStreamWaitEvent(copy_stream, slot.consumed.get(), 0), "ordering a batch copy");
  // The loader's batches are one buffer, columns at the offsets above: one copy. Else one
  // copy per column.
  const char* base = static_cast<const char*>(batch.columns[0]);
  bool one_buffer = true;
  for (std::size_t c = 0; c < offsets_.size(); ++c)
    one_buffer = one_buffer && batch.columns[c] == base + offsets_[c];
  if (one_buffer) {
    cuda_check(cudaMemcpyAsync(device, base, slot_bytes_, cudaMemcpyHostToDevice, copy_stream),
               "copying a batch to the GPU");
  } else {
    for (std::size_t c = 0; c < offsets_.size(); ++c) {
      cuda_check(cudaMemcpyAsync(device + offsets_[c], batch.columns[c],
                                 sizes_[c] * static_cast<std::size_t>(batch.rows),
                                 cudaMemcpyHostToDevice, copy_stream),
                 "copying a batch to the GPU");
    }
  }
  cuda_check(cudaEventRecord(slot.copied.get(), copy_stream), "recording a batch copy");

  cuda_check(cudaStreamWaitEvent(compute, slot.copied.get(), 0), "ordering the transform");
  slot.plan->apply(batch.rows, out.features, out.categorical, compute);
  for (const auto& [column, destination] : out.columns) {
    KILN_ASSERT(sizes_[static_cast<std::size_t>(column)] == sizeof(float), "not a float32 column");
    cuda_check(cudaMemcpyAsync(destination, device + offsets_[static_cast<std::size_t>(column)],
                               static_cast<std::size_t>(batch.rows) * sizeof(float),
                               cudaMemcpyDeviceToDevice, compute),
               "copying a batch column");
  }
  cuda_check(cudaEventRecord(slot.consumed.get(), compute), "recording the transform");

  if (pushed_) {
    const Slot& previous = *slots_[static_cast<std::size_t>(next_)];  // next_ flipped above
    const auto start = std::chrono::steady_clock::now();
    cuda_check(cudaEventSynchronize(previous.copied.get()), "copying a batch to the GPU");
    copy_wait_seconds_ +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  pushed_ = true;
}

}  // namespace kiln::kernels
