// DeviceGridCounter (kernels/grid_count.h): one launch counts a block of rows of every column.
//
// The grid is (columns, chunks of rows). A block stages its column's tables in shared memory
// (the search's part of GridIndex's bucket table, the distinct points, the counts at or below
// them) and counts its chunk into shared counters (cells, atoms, each cell's smallest and
// largest value as order-preserving keys), which it adds to the column's global counters at
// the end: integer atomics, so the counts are exact and independent of the order. The search
// is GridIndex's, step for step (the same table, the same halvings, float against double
// compared exactly), so a value lands in the same cell as on the CPU.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/errors.h"
#include "kernels/cuda_check.h"
#include "kernels/grid_count.h"

namespace kiln::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kChunkRows = 65536;  // per block: its tables are read once per 256 KB
constexpr int kUnroll = 4;             // values per thread in flight

// One column's tables and counters, offsets into the counter's arrays.
struct Column {
  int64_t cells;           // its m + 1 cells in cells_all, low_all and high_all
  int64_t atoms;           // its m atoms in atoms_all
  int64_t distinct;        // its distinct points (with padding) in distinct_all
  int64_t at_or_below;     // its m_distinct + 1 counts in at_or_below_all
  int64_t table;           // its bucket table's entries in table_all
  uint32_t points;         // m
  uint32_t distinct_size;  // with padding
  uint32_t n_distinct;     // without
  uint32_t table_low;      // the first bucket in the table: below, a search starts at 0
  uint32_t table_size;     // buckets in the table: above, a search starts at n_distinct
  uint32_t top_step;
  float center;            // the bucket table's (GridIndex::center)
};

__global__ void __launch_bounds__(kThreads)
    count_kernel(const float* __restrict__ values, int64_t rows, int64_t column_stride,
                 const Column* __restrict__ columns, const uint32_t* __restrict__ table_all,
                 const double* __restrict__ distinct_all,
                 const uint32_t* __restrict__ at_or_below_all, unsigned long long* cells_all,
                 unsigned long long* atoms_all, uint32_t* low_all, uint32_t* high_all,
                 unsigned long long* specials_all) {
  extern __shared__ double shared[];
  const Column col = columns[blockIdx.x];
  // Shared layout: distinct (double) | table | at_or_below | cells | atoms | low | high.
  double* distinct = shared;
  uint32_t* table = reinterpret_cast<uint32_t*>(distinct + col.distinct_size);
  uint32_t* at_or_below = table + col.table_size;
  uint32_t* cells = at_or_below + col.n_distinct + 1;
  uint32_t* atoms = cells + col.points + 1;
  uint32_t* low = atoms + col.points;
  uint32_t* high = low + col.points + 1;
  for (uint32_t i = threadIdx.x; i < col.distinct_size; i += kThreads)
    distinct[i] = distinct_all[col.distinct + i];
  for (uint32_t i = threadIdx.x; i < col.table_size; i += kThreads)
    table[i] = table_all[col.table + i];
  for (uint32_t i = threadIdx.x; i <= col.n_distinct; i += kThreads)
    at_or_below[i] = at_or_below_all[col.at_or_below + i];
  for (uint32_t i = threadIdx.x; i <= col.points; i += kThreads) {
    cells[i] = 0;
    low[i] = 0xffffffffu;
    high[i] = 0;
    if (i < col.points) atoms[i] = 0;
  }
  __syncthreads();

  const float* v = values + blockIdx.x * column_stride;
  const int64_t begin = static_cast<int64_t>(blockIdx.y) * kChunkRows;
  const int64_t end = min(rows, begin + kChunkRows);
  uint32_t nan = 0, pos_inf = 0, neg_inf = 0;
  auto count_value = [&](float x) {
    if (isnan(x)) {
      ++nan;
      return;
    }
    if (isinf(x)) {
      ++(x > 0 ? pos_inf : neg_inf);
      return;
    }
    const uint32_t b = GridIndex::bucket(x, col.center);
    uint32_t at = b < col.table_low                     ? 0
                  : b - col.table_low >= col.table_size ? col.n_distinct
                                                        : table[b - col.table_low];
    for (uint32_t step = col.top_step; step > 0; step >>= 1)
      at = distinct[at + step - 1] <= static_cast<double>(x) ? at + step : at;
    const uint32_t cell = at_or_below[at];
    atomicAdd(&cells[cell], 1u);
    if (at > 0 && distinct[at - 1] == static_cast<double>(x)) atomicAdd(&atoms[cell - 1], 1u);
    const uint32_t key = GridIndex::order_key(x);
    if (key < low[cell]) atomicMin(&low[cell], key);  // a stale read costs one more atomic
    if (key > high[cell]) atomicMax(&high[cell], key);
  };
  int64_t i = begin + threadIdx.x;
  for (; i + (kUnroll - 1) * kThreads < end; i += kUnroll * kThreads) {
    float x[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u)
      x[u] = __ldg(v + i + u * kThreads);
#pragma unroll
    for (int u = 0; u < kUnroll; ++u)
      count_value(x[u]);
  }
  for (; i < end; i += kThreads)
    count_value(__ldg(v + i));

  // The block's NaN and infinities: warps by shuffles, then thread 0 over the warps.
  __shared__ uint32_t warp_specials[kThreads / 32][3];
  for (int offset = 16; offset > 0; offset >>= 1) {
    nan += __shfl_down_sync(0xffffffffu, nan, offset);
    pos_inf += __shfl_down_sync(0xffffffffu, pos_inf, offset);
    neg_inf += __shfl_down_sync(0xffffffffu, neg_inf, offset);
  }
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) {
    warp_specials[warp][0] = nan;
    warp_specials[warp][1] = pos_inf;
    warp_specials[warp][2] = neg_inf;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    unsigned long long special[3] = {0, 0, 0};
    for (int w = 0; w < kThreads / 32; ++w)
      for (int k = 0; k < 3; ++k)
        special[k] += warp_specials[w][k];
    for (int k = 0; k < 3; ++k)
      if (special[k] > 0) atomicAdd(&specials_all[3 * blockIdx.x + k], special[k]);
  }
  // The shared counters into the column's.
  for (uint32_t k = threadIdx.x; k <= col.points; k += kThreads) {
    if (cells[k] == 0) continue;
    atomicAdd(&cells_all[col.cells + k], static_cast<unsigned long long>(cells[k]));
    atomicMin(&low_all[col.cells + k], low[k]);
    atomicMax(&high_all[col.cells + k], high[k]);
  }
  for (uint32_t k = threadIdx.x; k < col.points; k += kThreads)
    if (atoms[k] > 0)
      atomicAdd(&atoms_all[col.atoms + k], static_cast<unsigned long long>(atoms[k]));
}

// A grid's tables as the kernel stages them: the bucket table's entries between its
// constant ends (0 below, the distinct points above), and the shared memory they and the
// counters take.
struct Staged {
  std::size_t table_low = 0, table_high = 0;  // [low, high): the entries staged
  std::size_t bytes = 0;
};

Staged staged(const GridIndex& g) {
  Staged s;
  s.table_low = g.table_low();
  s.table_high = g.table_high() + std::size_t{1};
  s.bytes = g.distinct().size() * sizeof(double) +
            (s.table_high - s.table_low + g.at_or_below().size() + 4 * (g.points() + 1)) *
                sizeof(uint32_t);
  return s;
}

// The shared memory a block of the current GPU may have, less the kernel's static shared
// memory (its reduction of the NaN and infinities: under 1 KB).
std::size_t shared_limit() {
  int device = 0, limit = 0;
  cuda_check(cudaGetDevice(&device), "finding the current GPU");
  cuda_check(cudaDeviceGetAttribute(&limit, cudaDevAttrMaxSharedMemoryPerBlockOptin, device),
             "asking the GPU's shared memory");
  return static_cast<std::size_t>(std::max(limit - 1024, 0));
}

template <class T>
T* device_array(std::size_t n, const char* what) {
  void* p = nullptr;
  cuda_check(cudaMalloc(&p, std::max<std::size_t>(n, 1) * sizeof(T)), what);
  return static_cast<T*>(p);
}

template <class T>
T* upload(const std::vector<T>& host, const char* what) {
  T* device = device_array<T>(host.size(), what);
  if (!host.empty())
    cuda_check(cudaMemcpy(device, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice),
               what);
  return device;
}

}  // namespace

DeviceColumns::DeviceColumns(int columns, int64_t max_rows) : columns_(columns), stride_(max_rows) {
  const std::size_t bytes = static_cast<std::size_t>(std::max(columns, 1)) *
                            static_cast<std::size_t>(std::max<int64_t>(max_rows, 1)) *
                            sizeof(float);
  void* host = nullptr;
  cuda_check(cudaMallocHost(&host, bytes), "allocating pinned memory for the columns");
  host_ = static_cast<float*>(host);
  void* device = nullptr;
  const cudaError_t status = cudaMalloc(&device, bytes);
  if (status != cudaSuccess) cudaFreeHost(host_);
  cuda_check(status, "allocating GPU memory for the columns");
  device_ = static_cast<float*>(device);
}

DeviceColumns::~DeviceColumns() {
  cudaFreeHost(host_);
  cudaFree(device_);
}

void DeviceColumns::upload(int64_t rows, void* stream) {
  KILN_CHECK(rows >= 0 && rows <= stride_, InternalError, "DeviceColumns::upload: ", rows,
             " rows, at most ", stride_);
  if (rows == 0 || columns_ == 0) return;
  auto s = static_cast<cudaStream_t>(stream);
  const std::size_t pitch = static_cast<std::size_t>(stride_) * sizeof(float);
  cuda_check(cudaMemcpy2DAsync(device_, pitch, host_, pitch, rows * sizeof(float),
                               static_cast<std::size_t>(columns_), cudaMemcpyHostToDevice, s),
             "copying the columns to the GPU");
  cuda_check(cudaStreamSynchronize(s), "copying the columns to the GPU");
}

struct DeviceGridCounter::Impl {
  int columns = 0;
  int64_t max_rows = 0;
  int64_t total_cells = 0, total_atoms = 0;
  std::size_t shared_bytes = 0;  // the largest column's
  std::vector<Column> host_columns;
  Column* columns_d = nullptr;
  uint32_t* table_d = nullptr;
  double* distinct_d = nullptr;
  uint32_t* at_or_below_d = nullptr;
  unsigned long long* cells_d = nullptr;
  unsigned long long* atoms_d = nullptr;
  uint32_t* low_d = nullptr;
  uint32_t* high_d = nullptr;
  unsigned long long* specials_d = nullptr;

  void reset(cudaStream_t stream) {
    const char* what = "clearing the grid counts";
    cuda_check(cudaMemsetAsync(cells_d, 0, total_cells * sizeof(unsigned long long), stream), what);
    cuda_check(cudaMemsetAsync(atoms_d, 0, std::max<int64_t>(total_atoms, 1) * 8, stream), what);
    cuda_check(cudaMemsetAsync(low_d, 0xff, total_cells * sizeof(uint32_t), stream), what);
    cuda_check(cudaMemsetAsync(high_d, 0, total_cells * sizeof(uint32_t), stream), what);
    cuda_check(cudaMemsetAsync(specials_d, 0, 3 * columns * sizeof(unsigned long long), stream),
               what);
  }

  ~Impl() {
    for (void* p :
         {static_cast<void*>(columns_d), static_cast<void*>(table_d),
          static_cast<void*>(distinct_d), static_cast<void*>(at_or_below_d),
          static_cast<void*>(cells_d), static_cast<void*>(atoms_d), static_cast<void*>(low_d),
          static_cast<void*>(high_d), static_cast<void*>(specials_d)})
      if (p != nullptr) cudaFree(p);
  }
};

DeviceGridCounter::DeviceGridCounter(const std::vector<const GridIndex*>& grids, int64_t max_rows)
    : impl_(new Impl) {
  KILN_CHECK(max_rows > 0 && max_rows <= 65535 * kChunkRows, InternalError,
             "DeviceGridCounter: 1 to ", 65535 * kChunkRows, " rows a launch");
  Impl& m = *impl_;
  try {
    m.columns = static_cast<int>(grids.size());
    m.max_rows = max_rows;
    std::vector<uint32_t> table, at_or_below;
    std::vector<double> distinct;
    const std::size_t limit = shared_limit();
    for (std::size_t k = 0; k < grids.size(); ++k) {
      const GridIndex& g = *grids[k];
      Column c{};
      c.points = static_cast<uint32_t>(g.points());
      c.n_distinct = static_cast<uint32_t>(g.at_or_below().size() - 1);
      c.distinct_size = static_cast<uint32_t>(g.distinct().size());
      c.top_step = g.top_step();
      c.center = g.center();
      const Staged st = staged(g);
      KILN_CHECK(st.bytes <= limit, DataError, "column ", k, ": a grid of ", c.points,
                 " points needs ", st.bytes, " bytes of shared memory on the GPU, more than its ",
                 limit, "; count it on the CPU");
      c.table_low = static_cast<uint32_t>(st.table_low);
      c.table_size = static_cast<uint32_t>(st.table_high - st.table_low);
      c.cells = m.total_cells;
      c.atoms = m.total_atoms;
      c.distinct = static_cast<int64_t>(distinct.size());
      c.at_or_below = static_cast<int64_t>(at_or_below.size());
      c.table = static_cast<int64_t>(table.size());
      m.total_cells += c.points + 1;
      m.total_atoms += c.points;
      distinct.insert(distinct.end(), g.distinct().begin(), g.distinct().end());
      at_or_below.insert(at_or_below.end(), g.at_or_below().begin(), g.at_or_below().end());
      table.insert(table.end(), g.from().begin() + static_cast<std::ptrdiff_t>(st.table_low),
                   g.from().begin() + static_cast<std::ptrdiff_t>(st.table_high));
      m.shared_bytes = std::max(m.shared_bytes, st.bytes);
      m.host_columns.push_back(c);
    }
    cuda_check(cudaFuncSetAttribute(count_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    static_cast<int>(m.shared_bytes)),
               "setting the grid count's shared memory");
    m.columns_d = upload(m.host_columns, "uploading the grids");
    m.table_d = upload(table, "uploading the grids");
    m.distinct_d = upload(distinct, "uploading the grids");
    m.at_or_below_d = upload(at_or_below, "uploading the grids");
    const char* what = "allocating the grid counts";
    m.cells_d = device_array<unsigned long long>(m.total_cells, what);
    m.atoms_d = device_array<unsigned long long>(m.total_atoms, what);
    m.low_d = device_array<uint32_t>(m.total_cells, what);
    m.high_d = device_array<uint32_t>(m.total_cells, what);
    m.specials_d = device_array<unsigned long long>(3 * m.host_columns.size(), what);
    m.reset(nullptr);
    cuda_check(cudaStreamSynchronize(nullptr), "clearing the grid counts");
  } catch (...) {
    delete impl_;
    throw;
  }
}

DeviceGridCounter::~DeviceGridCounter() {
  delete impl_;
}

bool DeviceGridCounter::fits(const GridIndex& grid) {
  return staged(grid).bytes <= shared_limit();
}

void DeviceGridCounter::add(const float* values, int64_t rows, int64_t column_stride,
                            void* stream) {
  Impl& m = *impl_;
  KILN_CHECK(rows >= 0 && rows <= m.max_rows, InternalError, "DeviceGridCounter::add: ", rows,
             " rows, at most ", m.max_rows);
  if (rows == 0 || m.columns == 0) return;
  auto s = static_cast<cudaStream_t>(stream);
  const int chunks = static_cast<int>((rows + kChunkRows - 1) / kChunkRows);
  count_kernel<<<dim3(m.columns, chunks), kThreads, m.shared_bytes, s>>>(
      values, rows, column_stride, m.columns_d, m.table_d, m.distinct_d, m.at_or_below_d, m.cells_d,
      m.atoms_d, m.low_d, m.high_d, m.specials_d);
  cuda_check(cudaGetLastError(), "launching the grid count");
}

void DeviceGridCounter::take(std::vector<CellCounts>& counts, void* stream) {
  Impl& m = *impl_;
  auto s = static_cast<cudaStream_t>(stream);
  std::vector<unsigned long long> cells(m.total_cells), atoms(m.total_atoms),
      specials(3 * m.host_columns.size());
  std::vector<uint32_t> low(m.total_cells), high(m.total_cells);
  const char* what = "reading the grid counts";
  auto get = [&](auto& host, const void* device) {
    if (host.empty()) return;
    cuda_check(cudaMemcpyAsync(host.data(), device, host.size() * sizeof(host[0]),
                               cudaMemcpyDeviceToHost, s),
               what);
  };
  get(cells, m.cells_d);
  get(atoms, m.atoms_d);
  get(low, m.low_d);
  get(high, m.high_d);
  get(specials, m.specials_d);
  cuda_check(cudaStreamSynchronize(s), what);
  m.reset(s);
  counts.clear();
  for (std::size_t k = 0; k < m.host_columns.size(); ++k) {
    const Column& c = m.host_columns[k];
    CellCounts out(c.points);
    for (uint32_t i = 0; i <= c.points; ++i) {
      out.cells[i] = static_cast<int64_t>(cells[c.cells + i]);
      if (out.cells[i] > 0) {
        out.low[i] = GridIndex::key_float(low[c.cells + i]);
        out.high[i] = GridIndex::key_float(high[c.cells + i]);
      }
      if (i < c.points) out.atoms[i] = static_cast<int64_t>(atoms[c.atoms + i]);
    }
    out.nan = static_cast<int64_t>(specials[3 * k]);
    out.pos_inf = static_cast<int64_t>(specials[3 * k + 1]);
    out.neg_inf = static_cast<int64_t>(specials[3 * k + 2]);
    counts.push_back(std::move(out));
  }
}

}  // namespace kiln::kernels
