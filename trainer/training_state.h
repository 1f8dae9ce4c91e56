// state.json of a checkpoint: where a run stands, typed, written at every checkpoint and read
// back on resume (docs/CHECKPOINTS.md). The file is untrusted input: read() checks every
// field. No LibTorch: the RNG state is LibTorch's bytes, kept here as they are.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "data/loader.h"

namespace kiln::trainer {

struct TrainingState {
  int64_t step = 0;                        // optimizer steps done
  data::LoaderCursor cursor;               // the next batch the loader gives
  double pos_weight = 1;                   // the class weight the run trains with (> 0)
  std::optional<double> best_value;        // of train.metric; none yet (saved: finite or null)
  int64_t best_step = -1;                  // the step of best_value; -1: none yet
  int64_t evals_without_gain = 0;          // evaluations since best_value improved
  double lr = 0;                           // the learning rate of the next step (for readers)
  std::string rng_cpu;                     // LibTorch's CPU generator state (bytes); "": none
  int world_size = 1;                      // ranks of the data-parallel job that wrote it
  std::vector<std::string> rng_cpu_ranks;  // ranks 1 to world_size - 1: their rng_cpu
  std::map<std::string, int64_t> optimizer_steps;  // AdamW's step count of each parameter

  // The JSON text of state.json (the RNG state as hexadecimal).
  std::string to_json_text() const;

  // `checkpoint`/state.json. DataError naming the file and the key that is missing, of the
  // wrong type or out of range (step >= 0; best_step in [-1, step]; evals_without_gain,
  // epoch and batch in [0, step]; pos_weight positive and finite; each optimizer step
  // >= 0; world_size - 1 generator states of the other ranks); InputError when the file is
  // missing.
  static TrainingState read(const std::string& checkpoint);
};

}  // namespace kiln::trainer
