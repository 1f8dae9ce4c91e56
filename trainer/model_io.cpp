#include "trainer/model_io.h"

#include <filesystem>

#include "core/errors.h"
#include "core/files.h"
#include "core/safetensors.h"
#include "trainer/auto_config.h"
#include "trainer/training_state.h"

namespace kiln::trainer {
namespace {

namespace fs = std::filesystem;

// The tensors of a file to write: views of CPU copies (no copy for CPU tensors), kept alive
// until the file's bytes are made.
struct FileTensors {
  std::vector<torch::Tensor> keep;
  std::vector<core::TensorView> views;

  void add(const std::string& name, const torch::Tensor& tensor) {
    torch::Tensor t = tensor.detach().to(torch::kCPU).contiguous();
    KILN_ASSERT(t.scalar_type() == torch::kFloat32 || t.scalar_type() == torch::kInt64,
                "unexpected tensor type for ", name);
    views.push_back({name,
                     t.scalar_type() == torch::kFloat32 ? core::DType::kF32 : core::DType::kI64,
                     t.sizes().vec(), t.data_ptr(), t.nbytes()});
    keep.push_back(std::move(t));
  }
  std::string bytes(const std::string& format) {
    return core::to_safetensors({{"format", format}}, std::move(views));
  }
};

// Copies a file tensor into `into` (same shape, float32), checking both as untrusted.
void copy_into(const core::Tensor& from, torch::Tensor into, const std::string& where) {
  KILN_CHECK(from.dtype == core::DType::kF32, DataError, where, ": tensor '", from.name, "' is ",
             core::dtype_name(from.dtype), ", expected F32");
  KILN_CHECK(from.shape == into.sizes().vec(), DataError, where, ": tensor '", from.name,
             "' has another shape than the model's");
  torch::Tensor cpu =
      torch::from_blob(const_cast<uint8_t*>(from.data.data()), into.sizes(), torch::kFloat32);
  torch::NoGradGuard no_grad;
  into.copy_(cpu);
}

std::map<std::string, const core::Tensor*> by_name(const core::TensorFile& file) {
  std::map<std::string, const core::Tensor*> out;
  for (const auto& t : file.tensors)
    out[t.name] = &t;
  return out;
}

const core::Tensor& find_tensor(const std::map<std::string, const core::Tensor*>& tensors,
                                const std::string& name, const std::string& where) {
  auto it = tensors.find(name);
  KILN_CHECK(it != tensors.end(), DataError, where, ": no tensor '", name, "'");
  return *it->second;
}

}  // namespace

std::string model_file(TabularModelImpl& model) {
  FileTensors file;
  for (const auto& p : model.named_parameters())
    file.add(p.key(), p.value());
  return file.bytes("kiln.model");
}

// AdamW: exp_avg/<name>, exp_avg_sq/<name>; SGD: momentum_buffer/<name>; the per-parameter
// step counts go into state.json.
std::string optimizer_file(TabularModelImpl& model, torch::optim::Optimizer& optimizer,
                           std::map<std::string, int64_t>& steps) {
  FileTensors file;
  auto& state = optimizer.state();
  for (const auto& p : model.named_parameters()) {
    auto it = state.find(p.value().unsafeGetTensorImpl());
    if (it == state.end()) continue;
    if (auto* adam = dynamic_cast<torch::optim::AdamWParamState*>(it->second.get())) {
      file.add("exp_avg/" + p.key(), adam->exp_avg());
      file.add("exp_avg_sq/" + p.key(), adam->exp_avg_sq());
      steps[p.key()] = adam->step();
    } else if (auto* sgd = dynamic_cast<torch::optim::SGDParamState*>(it->second.get())) {
      if (sgd->momentum_buffer().defined())
        file.add("momentum_buffer/" + p.key(), sgd->momentum_buffer());
    }
  }
  return file.bytes("kiln.optimizer");
}

void load_model(TabularModelImpl& model, const std::string& path) {
  core::TensorFile file = core::read_safetensors(path);
  auto tensors = by_name(file);
  auto params = model.named_parameters();
  KILN_CHECK(tensors.size() == params.size(), DataError, path, ": ", tensors.size(),
             " tensors, the model has ", params.size(), " parameters (another model config?)");
  for (const auto& p : params)
    copy_into(find_tensor(tensors, p.key(), path), p.value(), path);
}

void load_optimizer(TabularModelImpl& model, torch::optim::Optimizer& optimizer,
                    const std::string& path, const std::map<std::string, int64_t>& steps,
                    bool adamw) {
  core::TensorFile file = core::read_safetensors(path);
  auto tensors = by_name(file);
  auto& state = optimizer.state();
  for (const auto& p : model.named_parameters()) {
    const torch::Tensor& param = p.value();
    if (adamw) {
      if (!tensors.count("exp_avg/" + p.key())) continue;  // never stepped
      auto s = std::make_unique<torch::optim::AdamWParamState>();
      s->exp_avg(torch::zeros_like(param));
      s->exp_avg_sq(torch::zeros_like(param));
      copy_into(find_tensor(tensors, "exp_avg/" + p.key(), path), s->exp_avg(), path);
      copy_into(find_tensor(tensors, "exp_avg_sq/" + p.key(), path), s->exp_avg_sq(), path);
      const auto step = steps.find(p.key());
      KILN_CHECK(step != steps.end(), DataError, path, ": state.json has no optimizer step for '",
                 p.key(), "'");
      s->step(step->second);
      state[param.unsafeGetTensorImpl()] = std::move(s);
    } else {
      if (!tensors.count("momentum_buffer/" + p.key())) continue;
      auto s = std::make_unique<torch::optim::SGDParamState>();
      s->momentum_buffer(torch::zeros_like(param));
      copy_into(find_tensor(tensors, "momentum_buffer/" + p.key(), path), s->momentum_buffer(),
                path);
      state[param.unsafeGetTensorImpl()] = std::move(s);
    }
  }
}

ModelInput model_input(const transform::FittedPlan& plan) {
  ModelInput input{static_cast<int64_t>(plan.features.size()), {}, 0};
  const auto rows = plan.fitted_on.find("rows");
  if (rows != plan.fitted_on.end() && rows->is_number_integer()) input.rows = rows->get<int64_t>();
  for (const auto& c : plan.categoricals)
    input.cardinality.push_back(c.cardinality());
  return input;
}

CheckpointModel load_checkpoint_model(const std::string& path, torch::Device device) {
  CheckpointModel m;
  m.checkpoint = core::verify_checkpoint(core::model_checkpoint(path));
  const fs::path dir = m.checkpoint.path;
  m.config = checkpoint_config(dir.string());
  m.plan = transform::FittedPlan::read((dir / "transform.json").string());
  m.dictionaries = data::checkpoint_dictionaries(dir.string());
  m.model = make_model(m.config.model, model_input(m.plan));
  load_model(*m.model, (dir / "model.safetensors").string());
  m.model->to(device);
  m.model->eval();
  m.logit_shift = std::log(TrainingState::read(m.checkpoint.path).pos_weight);
  return m;
}

kernels::CompiledPlan compile_for(const CheckpointModel& m, const data::Dataset& dataset) {
  return transform::compile(m.plan, dataset, m.dictionaries, m.checkpoint.path);
}

}  // namespace kiln::trainer
