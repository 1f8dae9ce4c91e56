#include "trainer/step_telemetry.h"

#include <ATen/detail/CUDAHooksInterface.h>
#include <c10/core/impl/VirtualGuardImpl.h>
#include <torch/csrc/autograd/profiler_kineto.h>

#include <cstdlib>
#include <filesystem>
#include <set>

#include "core/errors.h"
#include "core/log.h"

namespace kiln::trainer {
namespace {

// The thread's current stream on the CUDA device `device`.
c10::Stream cuda_stream(torch::Device device) {
  return c10::impl::VirtualGuardImpl(c10::DeviceType::CUDA).getStream(device);
}

}  // namespace

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

LossWindow::LossWindow(torch::Device device, const torch::Tensor& ring)
    : device_(device),
      ring_(ring),
      losses_(ring.defined()
                  ? torch::Tensor()
                  : torch::empty({device.is_cuda() ? kCudaWindow : 1},
                                 torch::TensorOptions().dtype(torch::kFloat32).device(device))) {
  if (device.is_cuda()) {
    copied_ = torch::empty({kCudaWindow}, torch::TensorOptions().pinned_memory(true));
    copy_done_.emplace(c10::DeviceType::CUDA);
  }
}

bool LossWindow::add(const torch::Tensor& loss, int64_t step) {
  if (count_ == 0) first_step_ = step;
  if (!ring_.defined()) losses_.select(0, count_).copy_(loss.detach());
  return ++count_ == source().size(0);  // steps per window
}

LossWindow::Sum LossWindow::read(bool all) {
  Sum out;
  const auto start = std::chrono::steady_clock::now();
  if (copying_ > 0) {  // the previous full window's copy
    copy_done_->synchronize();
    add_up(copied_.data_ptr<float>(), copy_first_, copying_, out);
    copying_ = 0;
  }
  if (device_.is_cuda() && !all && count_ > 0) {
    copied_.copy_(source(), /*non_blocking=*/true);
    copy_done_->record(cuda_stream(device_));
    copy_first_ = first_step_;
    copying_ = count_;
    count_ = 0;
  }
  if (count_ > 0) {
    const torch::Tensor host = source().to(torch::kCPU);
    add_up(host.data_ptr<float>(), first_step_, count_, out);
    count_ = 0;
  }
  wait_seconds_ += seconds_since(start);
  return out;
}

void LossWindow::add_up(const float* values, int64_t first, int64_t count, Sum& out) const {
  auto value = [&](int64_t i) {  // of step first + i (1-based); the ring's is 0-based
    return ring_.defined() ? values[(first - 1 + i) % kCudaWindow] : values[i];
  };
  for (int64_t i = 0; i < count; ++i) {
    KILN_CHECK(std::isfinite(value(i)), DivergedError, "training diverged: the loss is ", value(i),
               " at step ", first + i, " (try a lower optim.lr or optim.grad_clip)");
    out.sum += value(i);
  }
  out.count += count;
  out.last = value(count - 1);
}

void StepTimes::record(c10::Event& event) const {
  event.record(cuda_stream(device_));
}

void StepTimes::before_transform(int64_t step) {
  sampling_ = device_.is_cuda() && step % kEvery == kEvery / 2;
  if (!sampling_) return;
  if (!open_) {  // else the feed had ended an epoch instead of giving this step its batch
    add_completed();
    pending_.emplace_back();
    open_ = true;
  }
  record(pending_.back().start);
}

void StepTimes::before_step() {
  if (sampling_) record(pending_.back().transformed);
}

void StepTimes::after_step() {
  if (!sampling_) return;
  record(pending_.back().stepped);
  open_ = false;
}

void StepTimes::report(nlohmann::ordered_json& line) {
  add_completed();
  if (count_ == 0) return;
  line["gpu_transform_ms"] = transform_ms_ / static_cast<double>(count_);
  line["gpu_step_ms"] = step_ms_ / static_cast<double>(count_);
  transform_ms_ = step_ms_ = 0;
  count_ = 0;
}

void StepTimes::add_completed() {
  while (!pending_.empty() && pending_.front().stepped.query()) {
    Sample& s = pending_.front();
    transform_ms_ += s.start.elapsedTime(s.transformed);
    step_ms_ += s.transformed.elapsedTime(s.stepped);
    ++count_;
    pending_.pop_front();
  }
}

double StepTrace::after_evaluation(int64_t step) {
  if (left_ <= 0 || on_) return 0;
  const auto start = std::chrono::steady_clock::now();
  namespace prof = torch::autograd::profiler;
  using torch::profiler::impl::ActivityType;
  std::set<ActivityType> activities{ActivityType::CPU};
  if (cuda_) {
    activities.insert(ActivityType::CUDA);
    // CUPTI torn down after the trace: left in place, it slows every later launch. (With
    // CUDA graphs the teardown crashed before CUDA 12.6.)
    if (at::detail::getCUDAHooks().versionCUDART() >= 12060) ::setenv("TEARDOWN_CUPTI", "1", 0);
  } else {  // Kineto would log an error for the GPU it looks for and does not find
    ::setenv("KINETO_LOG_LEVEL", "5", 0);
  }
  try {
    const torch::profiler::impl::ProfilerConfig config(
        torch::profiler::impl::ProfilerState::KINETO);
    prof::prepareProfiler(config, activities);
    prof::enableProfiler(config, activities);
    on_ = true;
    core::log_info(
        detail::concat("tracing steps ", step + 1, " to ", step + left_, " into ", path_));
  } catch (const std::exception& e) {
    left_ = 0;
    core::log_warn(std::string("train.profile_steps: the profiler did not start: ") + e.what());
  }
  return seconds_since(start);
}

double StepTrace::finish() {
  if (!on_) return 0;
  on_ = false;
  left_ = 0;
  const auto start = std::chrono::steady_clock::now();
  try {
    const std::string partial = path_ + ".tmp";
    torch::autograd::profiler::disableProfiler()->save(partial);
    std::filesystem::rename(partial, path_);
  } catch (const std::exception& e) {
    core::log_warn(std::string("train.profile_steps: the trace was not written: ") + e.what());
  }
  return seconds_since(start);
}

}  // namespace kiln::trainer
