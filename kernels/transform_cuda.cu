// The fused transform kernels (kernels/transform.h), each a tiled transpose;
// DevicePlan::Tiling picks one.
//
// The column tiling (kColumnTiles, fused_transform; the one that gathers rows through a
// RowMap): a block owns one tile of 32 output columns and walks row tiles of 32 rows
// (grid-stride, so each block loads its 32 column programs once): its threads load their input
// cells coalesced along rows (each output column is one input column), transform them with
// transform_math.h's functions, stage the tile in shared memory and write it out along the
// output rows (coalesced). The next tile's cells are loaded before the current one is
// transformed, so loads stay in flight while it is written. Blocks are numbered with the
// column tiles of one walker next to each other (float tiles first, then the int64 tiles): the
// blocks that read the same input column (a feature and its missing indicator) go through the
// rows together, so the second read is from L2. Gathering rows through a RowMap (a second
// instantiation) makes the loads scattered: each cell costs a 32-byte sector instead of 4
// bytes.
//
// The row tiling (kRowTiles, the default; fused_transform_rows below) divides the work the
// other way: a block owns whole output rows, so each input column is read once per row
// and the outputs are written as contiguous rows.
#include <cuda_pipeline.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <limits>
#include <map>
#include <string>

#include "core/errors.h"
#include "kernels/cuda_check.h"
#include "kernels/transform.h"

namespace kiln::kernels {
namespace {

constexpr int kTile = 32;      // rows and output columns per tile
constexpr int kPasses = 4;     // blockDim.y: each thread handles kTile / kPasses cells per tile
constexpr int kMinBlocks = 8;  // resident per multiprocessor (caps the registers)
constexpr int64_t kTilesPerWalker = 16;  // at most, where the rows give several waves

template <class T>
T* upload(const std::vector<T>& host, const char* what) {
  if (host.empty()) return nullptr;
  void* device = nullptr;
  cuda_check(cudaMalloc(&device, host.size() * sizeof(T)), what);
  cuda_check(cudaMemcpy(device, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice),
             what);
  return static_cast<T*>(device);
}

constexpr int kPerThread = kTile / kPasses;

// The row tiles walker, walker + walkers, ... of one column tile [col0, col0 + 32) of an
// output matrix `out` [rows, width]. `transform(program, cell)` maps one input cell, given as
// its 4 raw bytes, to an output value. With kGather, row r is read at row map(r) of the input
// columns: the same 32 rows of every column of the tile, so each thread looks its row up once
// per tile. Row r of a column is `row_stride` cells after row r - 1 (1: a column of its own;
// the row's width: a column of a row-major matrix, whose gathered rows are whole sectors).
template <bool kGather, class Program, class Out, class Transform>
__device__ __forceinline__ void transform_tiles(const Program* __restrict__ all_programs,
                                                int32_t width, int32_t col0,
                                                const void* const* __restrict__ columns,
                                                int64_t rows, int64_t row_stride, const RowMap& map,
                                                int64_t walker, int64_t walkers,
                                                Out* __restrict__ out, int64_t* tile_memory,
                                                Transform transform) {
  __shared__ Program programs[kTile];
  __shared__ const uint32_t* inputs[kTile];
  const int tx = threadIdx.x, ty = threadIdx.y;
  if (ty == 0 && col0 + tx < width) {
    programs[tx] = all_programs[col0 + tx];
    inputs[tx] = static_cast<const uint32_t*>(columns[programs[tx].input]);
  }
  __syncthreads();
  auto load = [&](int64_t row0, uint32_t(&cells)[kPerThread]) {
    int64_t source = row0 + tx;
    if constexpr (kGather) source = source < rows ? map(source) : 0;
    source *= row_stride;
#pragma unroll
    for (int k = 0; k < kPerThread; ++k) {
      const int j = ty + k * kPasses;
      cells[k] = col0 + j < width && row0 + tx < rows ? inputs[j][source] : 0u;
    }
  };
  auto tile = reinterpret_cast<Out(*)[kTile + 1]>(tile_memory);  // +1: no bank conflicts
  const int64_t row_tiles = (rows + kTile - 1) / kTile;
  uint32_t next[kPerThread];
  if (walker < row_tiles) load(walker * kTile, next);
  for (int64_t t = walker; t < row_tiles; t += walkers) {
    const int64_t row0 = t * kTile;
    uint32_t cells[kPerThread];
#pragma unroll
    for (int k = 0; k < kPerThread; ++k)
      cells[k] = next[k];
    if (t + walkers < row_tiles) load((t + walkers) * kTile, next);
#pragma unroll
    for (int k = 0; k < kPerThread; ++k) {
      const int j = ty + k * kPasses;
      if (col0 + j < width && row0 + tx < rows) tile[j][tx] = transform(programs[j], cells[k]);
    }
    __syncthreads();
#pragma unroll
    for (int k = 0; k < kPerThread; ++k) {
      const int j = ty + k * kPasses;
      if (col0 + tx < width && row0 + j < rows) out[(row0 + j) * width + col0 + tx] = tile[tx][j];
    }
    __syncthreads();  // the tile is free again
  }
}

static_assert(kMaxColumnCopies <= kPasses, "a warp per copy");

// The float32 columns apply() copies beside the transform (ColumnCopy), as one argument.
struct Copies {
  int32_t column[kMaxColumnCopies];
  float* out[kMaxColumnCopies];
  int32_t count;
};

// The copy tile's work: its walker's row tiles of every copy, out[r] = column[map(r)]; the
// warps of the block take one copy each.
template <bool kGather>
__device__ void copy_tiles(const Copies& copies, const void* const* __restrict__ columns,
                           int64_t rows, int64_t row_stride, const RowMap& map, int64_t walker,
                           int64_t walkers) {
  const int tx = threadIdx.x, ty = threadIdx.y;
  if (ty >= copies.count) return;
  int32_t index = copies.column[0];
  float* out = copies.out[0];
  // Constant indices, so that `copies` is not copied to the stack.
#pragma unroll
  for (int i = 1; i < kMaxColumnCopies; ++i) {
    if (ty == i) {
      index = copies.column[i];
      out = copies.out[i];
    }
  }
  const auto* column = static_cast<const float*>(columns[index]);
  for (int64_t r = walker * kTile + tx; r < rows; r += walkers * kTile) {
    int64_t source = r;
    if constexpr (kGather) source = map(r);
    out[r] = column[source * row_stride];
  }
}

// Blocks column_tiles apart take the same column tile: feature tiles first, then the
// categorical tiles, then (where there are copies) the copy tile.
template <bool kGather>
__global__ void __launch_bounds__(kTile* kPasses, kMinBlocks)
    fused_transform(const FeatureProgram* __restrict__ features, int32_t width,
                    const CategoricalProgram* __restrict__ categoricals, int32_t categorical_width,
                    const void* const* __restrict__ columns, const int32_t* __restrict__ tables,
                    const float* __restrict__ edges, int64_t rows, int64_t row_stride, RowMap map,
                    int32_t feature_tiles, int32_t column_tiles, Copies copies,
                    float* __restrict__ out, int64_t* __restrict__ categorical_out) {
  __shared__ int64_t tile_memory[kTile * (kTile + 1)];
  const auto column_tile = static_cast<int32_t>(blockIdx.x % column_tiles);
  const int64_t walker = blockIdx.x / column_tiles, walkers = gridDim.x / column_tiles;
  if (copies.count > 0 && column_tile == column_tiles - 1) {
    copy_tiles<kGather>(copies, columns, rows, row_stride, map, walker, walkers);
  } else if (column_tile < feature_tiles) {
    transform_tiles<kGather>(features, width, column_tile * kTile, columns, rows, row_stride, map,
                             walker, walkers, out, tile_memory,
                             [](const FeatureProgram& p, uint32_t cell) {
                               float x[1] = {__uint_as_float(cell)};
                               apply_steps(p, x);
                               return x[0];
                             });
  } else {
    transform_tiles<kGather>(categoricals, categorical_width, (column_tile - feature_tiles) * kTile,
                             columns, rows, row_stride, map, walker, walkers, categorical_out,
                             tile_memory, [=](const CategoricalProgram& p, uint32_t cell) {
                               return transform_categorical(p, cell, tables, edges);
                             });
  }
}

// The row tiling. A block walks tiles of kRowTileRows rows (grid-stride). Per tile, each input
// column the plan reads ("staged" column) is copied once into shared memory, [staged]
// [kRowTilePitch] words, by 16-byte asynchronous copies (cp.async); the next tile's copies
// are in flight while this one is transformed. Then the block's threads take "quads" (an
// output column c and rows 4k..4k+3 of the tile) of the features in turn: one 16-byte
// shared-memory load of the 4 cells, the transform, 4 stores to 4 output rows; and single
// cells of the categorical indices, whose lookups wait on memory, so that every thread gets
// as few of them as any other and no warp holds the others at the tile's barrier for long.
// Consecutive threads take consecutive output columns, so each store of a warp is
// contiguous.
constexpr int kRowTileRows = 64;
constexpr int kQuads = kRowTileRows / 4;  // per output column and tile
// Words per staged column: 16-byte aligned for the copies, and 17 16-byte units, so that 8
// threads reading the same rows of 8 consecutive staged columns use 8 different bank groups.
constexpr int kRowTilePitch = kRowTileRows + 4;
constexpr int kRowTileThreads = 256;
constexpr int kRowStages = 2;  // tile buffers: one tile in flight while one is transformed
static_assert(kRowTileThreads % kQuads == 0, "a thread stages the same rows of its columns");

// Dynamic shared memory of a block, as byte offsets: the stages, each staged column's
// pointer, then the plan (programs, and the staged column of each output), so that the 32
// threads of a warp, which read the programs of 32 different output columns, read shared
// memory: a FeatureProgram is 7 words (an odd stride, so no bank conflicts).
struct RowTileLayout {
  std::size_t sources, features, categoricals, slots, bytes;
};

__host__ __device__ RowTileLayout row_tile_layout(int32_t staged, int32_t width,
                                                  int32_t categorical_width, int stages) {
  RowTileLayout l{};
  l.sources = static_cast<std::size_t>(staged) * stages * kRowTilePitch * 4;
  l.features = l.sources + static_cast<std::size_t>(staged) * sizeof(void*);
  l.categoricals = l.features + static_cast<std::size_t>(width) * sizeof(FeatureProgram);
  l.slots =
      l.categoricals + static_cast<std::size_t>(categorical_width) * sizeof(CategoricalProgram);
  l.bytes = l.slots + static_cast<std::size_t>(width + categorical_width) * sizeof(int32_t);
  return l;
}

// Which items of an output matrix of `width` columns a thread takes, the same in every tile:
// items t, t + kRowTileThreads, ... (item i: column i % width, row group i / width; a group
// is a quad's 4 rows or a cell's 1), stepped from the first without a division per item.
struct Walk {
  int32_t column, group, column_step, group_step;
};

__device__ Walk walk_of(int32_t width) {
  if (width == 0) return {0, kRowTileRows, 0, 0};
  const auto t = static_cast<int32_t>(threadIdx.x);
  return {t % width, t / width, kRowTileThreads % width, kRowTileThreads / width};
}

__device__ __forceinline__ void advance(const Walk& w, int32_t& c, int32_t& group, int32_t width) {
  c += w.column_step;
  group += w.group_step;
  if (c >= width) {
    c -= width;
    ++group;
  }
}

// The features [rows, width] of the tile of `valid` rows staged in `tile`, written from `out`
// (the tile's first row), by quads; `programs` and `slots` (the staged column output c
// reads) are in shared memory. The cells past `valid` (zeros) are transformed too and not
// stored. Offsets within the tile fit int32: the plan fits a block's shared memory, so width
// is small.
__device__ __forceinline__ void transform_feature_quads(Walk walk, const FeatureProgram* programs,
                                                        const int32_t* slots, int32_t width,
                                                        const uint32_t* tile, int32_t valid,
                                                        float* __restrict__ out) {
  for (int32_t c = walk.column, k = walk.group; k < kQuads; advance(walk, c, k, width)) {
    const FeatureProgram p = programs[c];
    const uint4 cells = *reinterpret_cast<const uint4*>(tile + slots[c] * kRowTilePitch + 4 * k);
    float v[4] = {__uint_as_float(cells.x), __uint_as_float(cells.y), __uint_as_float(cells.z),
                  __uint_as_float(cells.w)};
    apply_steps(p, v);
    float* o = out + (4 * k * width + c);
    const int32_t left = valid - 4 * k;  // rows of the quad that exist
    if (left > 0) o[0] = v[0];
    if (left > 1) o[width] = v[1];
    if (left > 2) o[2 * width] = v[2];
    if (left > 3) o[3 * width] = v[3];
  }
}

// A thread's first two categorical cells of a tile (by cells, as transform_feature_quads
// takes quads), looked up by look_up_cells() before the feature quads and stored by
// store_cells() after them: nothing reads a lookup's result in between, so its load (which
// waits on memory) stays in flight while the quads run. Past `valid` rows, a cell is none.
struct HeldCells {
  int32_t column[2], row[2];
  uint32_t index[2];
};

__device__ __forceinline__ HeldCells look_up_cells(Walk walk, const CategoricalProgram* programs,
                                                   const int32_t* slots, int32_t width,
                                                   const uint32_t* tile, int32_t valid,
                                                   const int32_t* __restrict__ tables,
                                                   const float* __restrict__ edges) {
  HeldCells h{{walk.column, walk.column}, {walk.group, walk.group}, {0, 0}};
  advance(walk, h.column[1], h.row[1], width);
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    const int32_t c = h.column[i], r = h.row[i];
    if (r < valid)
      h.index[i] =
          transform_categorical(programs[c], tile[slots[c] * kRowTilePitch + r], tables, edges);
  }
  return h;
}

// The held cells' indices, then the thread's other cells of the tile, one after another.
__device__ __forceinline__ void store_cells(
    const HeldCells& h, Walk walk, const CategoricalProgram* programs, const int32_t* slots,
    int32_t width, const uint32_t* tile, int32_t valid, const int32_t* __restrict__ tables,
    const float* __restrict__ edges, int64_t* __restrict__ out) {
#pragma unroll
  for (int i = 0; i < 2; ++i)
    if (h.row[i] < valid) out[h.row[i] * width + h.column[i]] = h.index[i];
  int32_t c = h.column[1], r = h.row[1];
  for (advance(walk, c, r, width); r < valid; advance(walk, c, r, width))
    out[r * width + c] =
        transform_categorical(programs[c], tile[slots[c] * kRowTilePitch + r], tables, edges);
}

__global__ void __launch_bounds__(kRowTileThreads, 4)
    fused_transform_rows(const FeatureProgram* __restrict__ features, int32_t width,
                         const CategoricalProgram* __restrict__ categoricals,
                         int32_t categorical_width, const void* const* __restrict__ columns,
                         const int32_t* __restrict__ staged_inputs, int32_t staged,
                         const int32_t* __restrict__ slots, const int32_t* __restrict__ tables,
                         const float* __restrict__ edges, int64_t rows, float* __restrict__ out,
                         int64_t* __restrict__ categorical_out) {
  extern __shared__ __align__(16) uint32_t shared[];
  const int32_t stage_words = staged * kRowTilePitch;
  const RowTileLayout layout = row_tile_layout(staged, width, categorical_width, kRowStages);
  char* const base = reinterpret_cast<char*>(shared);
  auto sources = reinterpret_cast<const uint32_t**>(base + layout.sources);
  auto feature_programs = reinterpret_cast<FeatureProgram*>(base + layout.features);
  auto categorical_programs = reinterpret_cast<CategoricalProgram*>(base + layout.categoricals);
  auto slot_of = reinterpret_cast<int32_t*>(base + layout.slots);
  const auto first = static_cast<int32_t>(threadIdx.x);
  for (int32_t s = first; s < staged; s += kRowTileThreads)
    sources[s] = static_cast<const uint32_t*>(columns[staged_inputs[s]]);
  for (int32_t c = first; c < width; c += kRowTileThreads)
    feature_programs[c] = features[c];
  for (int32_t c = first; c < categorical_width; c += kRowTileThreads)
    categorical_programs[c] = categoricals[c];
  for (int32_t c = first; c < width + categorical_width; c += kRowTileThreads)
    slot_of[c] = slots[c];
  __syncthreads();
  // Starts filling `tile` with row tile t: one commit group per call, an empty one past the
  // last tile, so that waiting for all but the newest kRowStages - 1 groups waits for the
  // oldest tile in flight.
  auto stage = [&](int64_t t, uint32_t* tile) {
    const int64_t row0 = t * kRowTileRows;
    if (row0 + kRowTileRows <= rows) {
      // Copy q = s * kQuads + k of the tile is thread q % kRowTileThreads's: its k is the
      // same in every turn, and its s goes up by a constant.
      const int32_t k = static_cast<int32_t>(threadIdx.x) % kQuads;
      for (int32_t s = static_cast<int32_t>(threadIdx.x) / kQuads; s < staged;
           s += kRowTileThreads / kQuads)
        __pipeline_memcpy_async(tile + s * kRowTilePitch + 4 * k, sources[s] + row0 + 4 * k, 16);
    } else if (row0 < rows) {  // the last tile, partial: plain loads, zeros past the end
      for (int32_t q = static_cast<int32_t>(threadIdx.x); q < staged * kRowTileRows;
           q += kRowTileThreads) {
        const int32_t s = q / kRowTileRows, r = q % kRowTileRows;
        tile[s * kRowTilePitch + r] = row0 + r < rows ? sources[s][row0 + r] : 0u;
      }
    }
    __pipeline_commit();
  };
  const int64_t row_tiles = (rows + kRowTileRows - 1) / kRowTileRows;
  const Walk feature_walk = walk_of(width), categorical_walk = walk_of(categorical_width);
  int64_t t = blockIdx.x;
  for (int i = 0; i < kRowStages - 1; ++i)
    stage(t + i * static_cast<int64_t>(gridDim.x), shared + i * stage_words);
  for (int i = 0; t < row_tiles; t += gridDim.x, i = (i + 1) % kRowStages) {
    const uint32_t* tile = shared + i * stage_words;
    // Into the buffer freed at the end of the last turn.
    stage(t + (kRowStages - 1) * static_cast<int64_t>(gridDim.x),
          shared + (i + kRowStages - 1) % kRowStages * stage_words);
    __pipeline_wait_prior(kRowStages - 1);
    __syncthreads();  // every thread's copies and stores of this tile have landed
    const int64_t row0 = t * kRowTileRows;
    const auto valid =
        static_cast<int32_t>(rows - row0 < kRowTileRows ? rows - row0 : kRowTileRows);
    const HeldCells held = look_up_cells(categorical_walk, categorical_programs, slot_of + width,
                                         categorical_width, tile, valid, tables, edges);
    transform_feature_quads(feature_walk, feature_programs, slot_of, width, tile, valid,
                            out + row0 * width);
    store_cells(held, categorical_walk, categorical_programs, slot_of + width, categorical_width,
                tile, valid, tables, edges, categorical_out + row0 * categorical_width);
    __syncthreads();  // the tile is free again
  }
}

int64_t tiles(int64_t n) {
  return (n + kTile - 1) / kTile;
}

}  // namespace

DevicePlan::DevicePlan(const CompiledPlan& plan, Tiling tiling)
    : width_(plan.width()), categorical_width_(plan.categorical_width()), tiling_(tiling) {
  KILN_CHECK(width_ + categorical_width_ <= std::numeric_limits<int32_t>::max() / 2, DataError,
             "transform plan too wide for the GPU kernel: ", width_, " + ", categorical_width_,
             " output columns");
  int device = 0, processors = 0, per_processor = 0, gathering = 0;
  cuda_check(cudaGetDevice(&device), "finding the current GPU");
  cuda_check(cudaDeviceGetAttribute(&processors, cudaDevAttrMultiProcessorCount, device),
             "reading the GPU's multiprocessor count");
  cuda_check(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_processor, fused_transform<false>,
                                                           kTile * kPasses, 0),
             "reading the transform kernel's occupancy");
  cuda_check(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&gathering, fused_transform<true>,
                                                           kTile * kPasses, 0),
             "reading the transform kernel's occupancy");
  resident_blocks_ = std::max(1, processors * std::min(per_processor, gathering));
  // The row tiling's staged columns: each input column once, in order of first use.
  std::vector<int32_t> inputs, slots;
  std::map<int32_t, int32_t> slot_of;
  auto slot = [&](int32_t input) {
    auto [at, added] = slot_of.emplace(input, static_cast<int32_t>(inputs.size()));
    if (added) inputs.push_back(input);
    return at->second;
  };
  for (const FeatureProgram& p : plan.features)
    slots.push_back(slot(p.input));
  for (const CategoricalProgram& p : plan.categoricals)
    slots.push_back(slot(p.input));
  staged_ = static_cast<int32_t>(inputs.size());
  row_tile_shared_ = row_tile_layout(staged_, static_cast<int32_t>(width_),
                                     static_cast<int32_t>(categorical_width_), kRowStages)
                         .bytes;
  int shared_limit = 0;
  cuda_check(cudaDeviceGetAttribute(&shared_limit, cudaDevAttrMaxSharedMemoryPerBlockOptin, device),
             "reading the GPU's shared memory per block");
  // The plan is in shared memory too, so the limit also bounds the outputs (and the quads'
  // indices, to int32).
  if (tiling_ != Tiling::kColumnTiles &&
      row_tile_shared_ <= static_cast<std::size_t>(shared_limit)) {
    // Raised only: the attribute is the kernel's, shared by every plan.
    const auto kernel = fused_transform_rows;
    cudaFuncAttributes attributes{};
    cuda_check(cudaFuncGetAttributes(&attributes, kernel),
               "reading the transform kernel's attributes");
    if (static_cast<std::size_t>(attributes.maxDynamicSharedSizeBytes) < row_tile_shared_)
      cuda_check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                      static_cast<int>(row_tile_shared_)),
                 "raising the transform kernel's shared memory");
    cuda_check(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_processor, kernel,
                                                             kRowTileThreads, row_tile_shared_),
               "reading the transform kernel's occupancy");
    resident_row_blocks_ = processors * per_processor;
  }
  try {
    std::vector<FeatureProgram> features;  // in the form the kernels read: apply_steps()
    for (const FeatureProgram& p : plan.features)
      features.push_back(neutral_steps(p));
    features_ = upload(features, "uploading the transform plan");
    categoricals_ = upload(plan.categoricals, "uploading the transform plan");
    tables_ = upload(plan.tables, "uploading vocabularies");
    edges_ = upload(plan.edges, "uploading bucket edges");
    if (resident_row_blocks_ > 0) {
      staged_inputs_ = upload(inputs, "uploading the transform plan");
      slots_ = upload(slots, "uploading the transform plan");
    }
  } catch (...) {
    release();
    throw;
  }
}

DevicePlan::~DevicePlan() {
  release();
}

void DevicePlan::release() {
  cudaFree(features_);
  cudaFree(categoricals_);
  cudaFree(tables_);
  cudaFree(edges_);
  cudaFree(columns_);
  cudaFree(staged_inputs_);
  cudaFree(slots_);
  staged_inputs_ = nullptr;
  slots_ = nullptr;
  features_ = nullptr;
  categoricals_ = nullptr;
  tables_ = nullptr;
  edges_ = nullptr;
  columns_ = nullptr;
}

void DevicePlan::set_columns(const std::vector<const void*>& device_columns, int64_t row_stride) {
  KILN_ASSERT(row_stride >= 1, "row stride ", row_stride);
  row_stride_ = row_stride;
  aligned_ = true;
  for (const void* column : device_columns)
    aligned_ = aligned_ && reinterpret_cast<std::uintptr_t>(column) % 16 == 0;
  if (device_columns.size() != column_count_) {
    cudaFree(columns_);
    columns_ = nullptr;
    column_count_ = 0;
    columns_ = upload(device_columns, "uploading column pointers");
    column_count_ = device_columns.size();
    return;
  }
  cuda_check(cudaMemcpy(columns_, device_columns.data(), device_columns.size() * sizeof(void*),
                        cudaMemcpyHostToDevice),
             "uploading column pointers");
}

void DevicePlan::apply(int64_t rows, float* features, int64_t* categorical, void* stream,
                       const RowMap& map, const std::vector<ColumnCopy>& copies) const {
  KILN_ASSERT(copies.size() <= static_cast<std::size_t>(kMaxColumnCopies), copies.size(),
              " column copies");
  KILN_ASSERT(copies.empty() || tiling(map) == Tiling::kColumnTiles,
              "column copies need the column tiling");
  KILN_ASSERT(columns_ != nullptr || (width_ == 0 && categorical_width_ == 0 && copies.empty()),
              "DevicePlan::apply before set_columns");
  if (rows == 0 || width_ + categorical_width_ + static_cast<int64_t>(copies.size()) == 0) return;
  const auto cuda_stream = static_cast<cudaStream_t>(stream);
  if (tiling(map) != Tiling::kColumnTiles) {  // one wave of resident blocks
    const int64_t row_tiles = (rows + kRowTileRows - 1) / kRowTileRows;
    const auto blocks = static_cast<unsigned>(std::min<int64_t>(row_tiles, resident_row_blocks_));
    fused_transform_rows<<<blocks, kRowTileThreads, row_tile_shared_, cuda_stream>>>(
        features_, static_cast<int32_t>(width_), categoricals_,
        static_cast<int32_t>(categorical_width_), columns_, staged_inputs_, staged_, slots_,
        tables_, edges_, rows, features, categorical);
    cuda_check(cudaGetLastError(), "launching the fused transform");
    return;
  }
  Copies copy{};
  for (const ColumnCopy& c : copies) {
    KILN_ASSERT(c.column >= 0 && static_cast<std::size_t>(c.column) < column_count_,
                "copy of column ", c.column);
    copy.column[copy.count] = c.column;
    copy.out[copy.count++] = c.out;
  }
  // Whole walkers of every column tile: at least one wave of resident blocks where the rows
  // allow, else at most kTilesPerWalker row tiles each, so that blocks that finish early
  // (narrow column tiles) leave room for others.
  const auto column_tiles =
      static_cast<int32_t>(tiles(width_) + tiles(categorical_width_) + (copy.count > 0 ? 1 : 0));
  const int64_t row_tiles = tiles(rows);
  const int64_t one_wave = std::max<int64_t>(1, resident_blocks_ / column_tiles);
  const int64_t walkers =
      std::min(row_tiles, std::max(one_wave, (row_tiles + kTilesPerWalker - 1) / kTilesPerWalker));
  KILN_CHECK(walkers <= std::numeric_limits<int32_t>::max() / column_tiles, DataError, "batch of ",
             rows, " rows is too large for one launch");
  const auto blocks = static_cast<unsigned>(walkers * column_tiles);
  auto kernel = map.order != nullptr ? fused_transform<true> : fused_transform<false>;
  kernel<<<blocks, dim3(kTile, kPasses), 0, cuda_stream>>>(
      features_, static_cast<int32_t>(width_), categoricals_,
      static_cast<int32_t>(categorical_width_), columns_, tables_, edges_, rows, row_stride_, map,
      static_cast<int32_t>(tiles(width_)), column_tiles, copy, features, categorical);
  cuda_check(cudaGetLastError(), "launching the fused transform");
}

DevicePlan::Tiling DevicePlan::tiling(const RowMap& map) const {
  return tiling_ != Tiling::kColumnTiles && resident_row_blocks_ > 0 && aligned_ &&
                 row_stride_ == 1 && map.order == nullptr
             ? tiling_
             : Tiling::kColumnTiles;
}

}  // namespace kiln::kernels
