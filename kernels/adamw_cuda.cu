#include "kernels/adamw_cuda.h"

#include <cuda_runtime.h>

#include "core/errors.h"
#include "kernels/adamw_math.h"
#include "kernels/cuda_check.h"

namespace kiln::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxTensors = 32;  // per launch: their pointers travel as kernel arguments

// The tensors of one launch: tensor t takes the launch's blocks [first_block[t],
// first_block[t + 1]); `first_sum` is the index of the launch's first block among all the
// step's blocks (where its sums go).
struct Group {
  AdamWTensor tensors[kMaxTensors];
  int32_t first_block[kMaxTensors + 1];
  int32_t count;
  int64_t first_sum;
};

struct Hyper {
  float beta1, beta2, weight_decay, eps;
};

int64_t blocks_of(int64_t numel) {  // at least one, which counts the tensor's step
  return numel > kAdamWChunk ? (numel + kAdamWChunk - 1) / kAdamWChunk : 1;
}

// The tensor that block `b` of the launch works on, and the block's range of its elements.
struct Work {
  AdamWTensor tensor;
  int64_t begin, end;
  bool first;  // the tensor's first block
};

__device__ Work work_of(const Group& g, int32_t b) {
  int32_t t = 0;
  while (t + 1 < g.count && g.first_block[t + 1] <= b)
    ++t;
  const AdamWTensor x = g.tensors[t];
  const int64_t begin = static_cast<int64_t>(b - g.first_block[t]) * kAdamWChunk;
  return {x, begin, begin + kAdamWChunk < x.numel ? begin + kAdamWChunk : x.numel,
          b == g.first_block[t]};
}

// The block's sum of `value`, returned to every thread, added in a fixed order (the same
// bits every run).
__device__ float block_sum(float value) {
  __shared__ float shared[kThreads];
  shared[threadIdx.x] = value;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) shared[threadIdx.x] += shared[threadIdx.x + half];
    __syncthreads();
  }
  return shared[0];
}

__global__ void __launch_bounds__(kThreads)
    adamw_sums(const Group g, float* __restrict__ sums, bool clip) {
  const auto b = static_cast<int32_t>(blockIdx.x);
  const Work w = work_of(g, b);
  if (w.first && threadIdx.x == 0) *w.tensor.step += 1.0f;
  if (!clip) return;
  float sum = 0;
  for (int64_t i = w.begin + threadIdx.x; i < w.end; i += kThreads) {
    const float v = w.tensor.grad[i];
    sum += v * v;
  }
  sum = block_sum(sum);
  if (threadIdx.x == 0) sums[g.first_sum + b] = sum;
}

// One block: scratch[blocks] = clip_scale() of the blocks' sums of squares.
__global__ void __launch_bounds__(kThreads)
    adamw_scale(float* __restrict__ scratch, int64_t blocks, float max_norm) {
  float sum = 0;
  for (int64_t i = threadIdx.x; i < blocks; i += kThreads)
    sum += scratch[i];
  sum = block_sum(sum);
  if (threadIdx.x == 0) scratch[blocks] = clip_scale(sum, max_norm);
}

// adamw_update() on every element, with the gradient times *scale (none when scale is
// null).
__global__ void __launch_bounds__(kThreads)
    adamw_update(const Group g, const float* __restrict__ lr, const float* __restrict__ scale_in,
                 const Hyper h) {
  const Work w = work_of(g, static_cast<int32_t>(blockIdx.x));
  const AdamWTensor& x = w.tensor;
  const AdamWStep s = adamw_step(*lr, h.beta1, h.beta2, h.weight_decay, h.eps, *x.step);
  for (int64_t i = w.begin + threadIdx.x; i < w.end; i += kThreads) {
    float param = x.param[i], grad = x.grad[i], exp_avg = x.exp_avg[i],
          exp_avg_sq = x.exp_avg_sq[i];
    if (scale_in != nullptr) grad *= *scale_in;
    adamw_update(s, grad, param, exp_avg, exp_avg_sq);
    x.param[i] = param;
    x.exp_avg[i] = exp_avg;
    x.exp_avg_sq[i] = exp_avg_sq;
  }
}

__global__ void record_step_kernel(const LrSchedule schedule, int64_t* __restrict__ step,
                                   float* __restrict__ lr, const float* __restrict__ loss,
                                   float* __restrict__ ring, int64_t ring_size) {
  const int64_t s = *step;
  *lr = static_cast<float>(scheduled_lr(schedule, s));
  ring[s % ring_size] = *loss;
  *step = s + 1;
}

}  // namespace

void record_step(const LrSchedule& schedule, int64_t* step, float* lr, const float* loss,
                 float* ring, int64_t ring_size, void* stream) {
  record_step_kernel<<<1, 1, 0, static_cast<cudaStream_t>(stream)>>>(schedule, step, lr, loss, ring,
                                                                     ring_size);
  cuda_check(cudaGetLastError(), "launching the step's bookkeeping");
}

ClippedAdamW::ClippedAdamW(const AdamWOptions& options, const std::vector<int64_t>& numels)
    : options_(options), numels_(numels) {
  for (int64_t n : numels)
    blocks_ += blocks_of(n);
  cuda_check(cudaMalloc(&scratch_, static_cast<std::size_t>(blocks_ + 1) * sizeof(float)),
             "allocating the optimizer's scratch memory");
}

ClippedAdamW::~ClippedAdamW() {
  cudaFree(scratch_);
}

void ClippedAdamW::step(const std::vector<AdamWTensor>& tensors, const float* lr,
                        void* stream) const {
  KILN_ASSERT(tensors.size() == numels_.size(), "ClippedAdamW::step with ", tensors.size(),
              " tensors, made for ", numels_.size());
  const auto cuda_stream = static_cast<cudaStream_t>(stream);
  const bool clip = options_.max_norm > 0;
  std::vector<Group> groups;
  std::vector<unsigned> grid;
  int64_t first_sum = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    KILN_ASSERT(tensors[i].numel == numels_[i], "ClippedAdamW::step: tensor ", i, " has ",
                tensors[i].numel, " elements, made for ", numels_[i]);
    if (groups.empty() || groups.back().count == kMaxTensors) {
      groups.emplace_back();
      groups.back().count = 0;
      groups.back().first_block[0] = 0;
      groups.back().first_sum = first_sum;
      grid.push_back(0);
    }
    Group& g = groups.back();
    const int64_t blocks = blocks_of(tensors[i].numel);
    KILN_ASSERT(grid.back() + blocks < (int64_t{1} << 31), "too many elements for one launch");
    g.tensors[g.count] = tensors[i];
    grid.back() += static_cast<unsigned>(blocks);
    g.first_block[++g.count] = static_cast<int32_t>(grid.back());
    first_sum += blocks;
  }
  for (std::size_t k = 0; k < groups.size(); ++k)
    adamw_sums<<<grid[k], kThreads, 0, cuda_stream>>>(groups[k], scratch_, clip);
  if (clip)
    adamw_scale<<<1, kThreads, 0, cuda_stream>>>(scratch_, blocks_,
                                                 static_cast<float>(options_.max_norm));
  const Hyper hyper{static_cast<float>(options_.beta1), static_cast<float>(options_.beta2),
                    static_cast<float>(options_.weight_decay), static_cast<float>(options_.eps)};
  for (std::size_t k = 0; k < groups.size(); ++k)
    adamw_update<<<grid[k], kThreads, 0, cuda_stream>>>(groups[k], lr,
                                                        clip ? scratch_ + blocks_ : nullptr, hyper);
  cuda_check(cudaGetLastError(), "launching the optimizer step");
}

}  // namespace kiln::kernels
