#include "feed/device_batches.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <iterator>

#include "core/errors.h"
#include "kernels/cuda_check.h"
#include "kernels/transpose.h"

namespace kiln::feed {

using kernels::cuda_check;
using kernels::DevicePlan;
using kernels::RowMap;

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
  Event consumed;                    // on the transform stream, after the last read of `memory`
};

// A set of outputs push() has written, and the compute work that read them last.
struct DeviceBatches::Outputs {
  DeviceBatchOutputs where;
  // On the compute stream, after that work. Until it is first recorded, an event stands
  // for no work (cudaEventRecord), so the first wait for it waits for nothing.
  Event consumed = make_event();
};

// The GPU's copy of a gather-mode loader's ring (its 4-byte columns and the order), and of
// its rows as a row-major matrix, which the transform gathers from.
struct DeviceBatches::Mirror {
  const char* host = nullptr;  // Ring::narrow
  int64_t rows = 0;
  int columns = 0;
  std::unique_ptr<void, DeviceFree> memory;       // [columns][rows], as the host's
  std::unique_ptr<void, DeviceFree> rows_memory;  // [rows][columns]
  std::unique_ptr<DevicePlan> plan;               // its columns: those of rows_memory
  const int32_t* order = nullptr;                 // in memory
  std::deque<std::pair<uint64_t, Event>> copies;  // per window: after its copy
  // (f, event on the transform stream): no transform after the event reads a window older
  // than f. Recorded when a batch's oldest window is newer than the previous batch's.
  std::deque<std::pair<uint64_t, Event>> passed;
  bool pushed = false;
  uint64_t first = 0;     // the oldest window the previous batch read
  uint64_t previous = 0;  // the newest window the previous batch read
};

DeviceBatches::DeviceBatches(const kernels::CompiledPlan& plan, const data::Schema& schema,
                             int64_t batch_size)
    : plan_(plan), offsets_(data::batch_offsets(schema, batch_size)) {
  slot_bytes_ = offsets_.back();  // the loader's layout, so a batch is one copy
  offsets_.pop_back();
  for (const data::Column& column : schema.columns)
    sizes_.push_back(data::mem_size(column.role));
  cudaStream_t stream = nullptr;
  cuda_check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "creating the copy stream");
  copy_stream_ = stream;
  try {
    // At the priority of the training step's stream (TrainStep), so that a transform beside
    // a step is not kept waiting behind the step's blocks.
    int least = 0, greatest = 0;
    cuda_check(cudaDeviceGetStreamPriorityRange(&least, &greatest), "reading stream priorities");
    cudaStream_t transform = nullptr;
    cuda_check(cudaStreamCreateWithPriority(&transform, cudaStreamNonBlocking, greatest),
               "creating the transform stream");
    transform_stream_ = transform;
    ready_ = make_event().release();
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
    release();
    throw;
  }
}

DeviceBatches::~DeviceBatches() {
  release();
}

void DeviceBatches::release() {
  for (void* stream : {copy_stream_, transform_stream_})
    if (stream != nullptr) cudaStreamSynchronize(static_cast<cudaStream_t>(stream));
  slots_.clear();
  mirror_.reset();
  outputs_.clear();
  if (ready_ != nullptr) cudaEventDestroy(static_cast<cudaEvent_t>(ready_));
  for (void* stream : {copy_stream_, transform_stream_})
    if (stream != nullptr) cudaStreamDestroy(static_cast<cudaStream_t>(stream));
  ready_ = copy_stream_ = transform_stream_ = nullptr;
  last_ = nullptr;
}

void DeviceBatches::synchronize() {
  for (void* stream : {copy_stream_, transform_stream_})
    cuda_check(cudaStreamSynchronize(static_cast<cudaStream_t>(stream)), "finishing batch copies");
}

void DeviceBatches::wait_copy(void* event) {
  const auto start = std::chrono::steady_clock::now();
  cuda_check(cudaEventSynchronize(static_cast<cudaEvent_t>(event)), "copying a batch to the GPU");
  copy_wait_seconds_ +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// `stream`: the transform stream.
void DeviceBatches::push_gathered(const data::Batch& batch, const DeviceBatchOutputs& out,
                                  void* stream) {
  auto copy_stream = static_cast<cudaStream_t>(copy_stream_);
  auto transform = static_cast<cudaStream_t>(stream);
  const data::Ring& ring = *batch.ring;
  const char* host = static_cast<const char*>(ring.narrow);
  if (!mirror_) {
    auto m = std::make_unique<Mirror>();
    m->host = host;
    m->rows = ring.rows;
    m->columns = ring.narrow_columns;
    const auto bytes = static_cast<std::size_t>(m->rows * m->columns) * 4;
    void* memory = nullptr;
    cuda_check(cudaMalloc(&memory, bytes), "allocating device memory for the loader's ring");
    m->memory.reset(memory);
    cuda_check(cudaMalloc(&memory, bytes), "allocating device memory for the loader's ring");
    m->rows_memory.reset(memory);
    const std::size_t pitch = static_cast<std::size_t>(m->rows) * 4;
    auto column_of = [&](const void* p) {  // the ring column at p
      const auto offset = static_cast<std::size_t>(static_cast<const char*>(p) - host);
      KILN_ASSERT(offset % pitch == 0, "a ring column at byte ", offset);
      return offset / pitch;
    };
    const auto* by_rows = static_cast<const float*>(m->rows_memory.get());
    std::vector<const void*> columns(batch.columns.size(), nullptr);
    for (std::size_t c = 0; c < columns.size(); ++c)
      if (sizes_[c] == 4) columns[c] = by_rows + column_of(batch.columns[c]);
    m->order = static_cast<const int32_t*>(m->memory.get()) + column_of(ring.order) * m->rows;
    m->plan = std::make_unique<DevicePlan>(plan_);
    m->plan->set_columns(columns, m->columns);
    mirror_ = std::move(m);
  }
  Mirror& m = *mirror_;
  KILN_ASSERT(host == m.host && ring.rows == m.rows, "a batch of another loader");
  char* device = static_cast<char*>(m.memory.get());
  const std::size_t pitch = static_cast<std::size_t>(m.rows) * 4;
  if (!m.pushed || batch.first_window != m.first) {
    Event passed = make_event();
    cuda_check(cudaEventRecord(passed.get(), transform), "recording the transforms");
    m.passed.emplace_back(batch.first_window, std::move(passed));
  }
  for (const data::RingWindow& w : batch.fresh) {
    // Its copy waits for the transforms that read the windows it overwrites, and no longer:
    // the GPU may still be on those while the host hands out later batches.
    if (w.overwrites > 0) {
      while (m.passed.size() > 1 && m.passed.front().first < w.overwrites)
        m.passed.pop_front();
      KILN_ASSERT(m.passed.front().first >= w.overwrites, "window ", w.serial,
                  " overwrites rows a later batch reads");
      cuda_check(cudaStreamWaitEvent(copy_stream, m.passed.front().second.get(), 0),
                 "ordering a window copy");
    }
    for (int64_t begin = w.begin, left = w.rows; left > 0;) {  // wraps at most once
      const int64_t n = std::min(left, m.rows - begin);
      const std::size_t offset = static_cast<std::size_t>(begin) * 4;
      cuda_check(cudaMemcpy2DAsync(
                     device + offset, pitch, host + offset, pitch, static_cast<std::size_t>(n) * 4,
                     static_cast<std::size_t>(m.columns), cudaMemcpyHostToDevice, copy_stream),
                 "copying a window of rows to the GPU");
      kernels::columns_to_rows(reinterpret_cast<const uint32_t*>(device), m.rows, m.columns, begin,
                               n, static_cast<uint32_t*>(m.rows_memory.get()), copy_stream);
      left -= n;
      begin = 0;
    }
    Event copied = make_event();
    cuda_check(cudaEventRecord(copied.get(), copy_stream), "recording a window copy");
    m.copies.emplace_back(w.serial, std::move(copied));
  }
  auto copy_of = [&](uint64_t serial) {
    for (const auto& [s, event] : m.copies)
      if (s == serial) return event.get();
    KILN_ASSERT(false, "a batch reads window ", serial, ", which was never announced");
    return static_cast<cudaEvent_t>(nullptr);
  };
  // The transforms wait for a window's copy once, at the first batch that reads it.
  if (!m.pushed || batch.last_window != m.previous)
    cuda_check(cudaStreamWaitEvent(transform, copy_of(batch.last_window), 0),
               "ordering the transform");
  const RowMap map{m.order, batch.start, m.rows};  // the order's copy on the GPU
  m.plan->apply(batch.rows, out.features, out.categorical, transform, map, out.columns);

  // Once this push returns, the caller may take its next batch, and the loader may then read
  // over the windows older than this batch's first (it releases whole windows): their
  // copies must have finished; waiting for the newest of them is enough (one stream). The
  // copies of the windows this batch reads may still be crossing the bus.
  const auto older = std::find_if(m.copies.begin(), m.copies.end(), [&](const auto& copy) {
    return copy.first >= batch.first_window;
  });
  if (older != m.copies.begin()) {
    wait_copy(std::prev(older)->second.get());
    m.copies.erase(m.copies.begin(), older);
  }
  m.pushed = true;
  m.first = batch.first_window;
  m.previous = batch.last_window;
}

DeviceBatches::Outputs& DeviceBatches::outputs_of(const DeviceBatchOutputs& out) {
  for (const auto& o : outputs_)
    if (o->where == out) return *o;
  auto& o = outputs_.emplace_back(std::make_unique<Outputs>());
  o->where = out;
  return *o;
}

void DeviceBatches::push(const data::Batch& batch, const DeviceBatchOutputs& out, void* stream) {
  KILN_ASSERT(batch.columns.size() == offsets_.size(), "batch of another schema");
  for (const ColumnCopy& c : out.columns)
    KILN_ASSERT(sizes_[static_cast<std::size_t>(c.column)] == sizeof(float),
                "not a float32 column");
  auto compute = static_cast<cudaStream_t>(stream);
  auto transform = static_cast<cudaStream_t>(transform_stream_);
  // What the compute stream was given since the last push read that push's outputs: they
  // are free again once it has run. This push's transform waits for the readers of its own.
  if (last_ != nullptr)
    cuda_check(cudaEventRecord(last_->consumed.get(), compute), "recording a batch's readers");
  Outputs& outputs = outputs_of(out);
  cuda_check(cudaStreamWaitEvent(transform, outputs.consumed.get(), 0),
             "ordering a transform after the readers of its outputs");
  if (batch.ring != nullptr)
    push_gathered(batch, out, transform);
  else
    push_copied(batch, out, transform);
  const auto ready = static_cast<cudaEvent_t>(ready_);
  cuda_check(cudaEventRecord(ready, transform), "recording a transform");
  cuda_check(cudaStreamWaitEvent(compute, ready, 0), "ordering the step after its transform");
  last_ = &outputs;
}

// `stream`: the transform stream.
void DeviceBatches::push_copied(const data::Batch& batch, const DeviceBatchOutputs& out,
                                void* stream) {
  auto copy_stream = static_cast<cudaStream_t>(copy_stream_);
  auto transform = static_cast<cudaStream_t>(stream);
  Slot& slot = *slots_[static_cast<std::size_t>(next_)];
  next_ ^= 1;
  char* device = static_cast<char*>(slot.memory.get());

  // The slot was last read by the transform two pushes ago.
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

  cuda_check(cudaStreamWaitEvent(transform, slot.copied.get(), 0), "ordering the transform");
  slot.plan->apply(batch.rows, out.features, out.categorical, transform);
  for (const auto& [column, destination] : out.columns) {
    cuda_check(cudaMemcpyAsync(destination, device + offsets_[static_cast<std::size_t>(column)],
                               static_cast<std::size_t>(batch.rows) * sizeof(float),
                               cudaMemcpyDeviceToDevice, transform),
               "copying a batch column");
  }
  cuda_check(cudaEventRecord(slot.consumed.get(), transform), "recording the transform");

  if (pushed_) wait_copy(slots_[static_cast<std::size_t>(next_)]->copied.get());  // flipped above
  pushed_ = true;
}

}  // namespace kiln::feed
