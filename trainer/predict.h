// `kiln predict` as a library function: a checkpoint scores a dataset, in order, with its
// own transform plan, into a scores file. No LibTorch in this header.
#pragma once

#include <cstdint>
#include <string>

#include "trainer/options.h"

namespace kiln::trainer {

struct PredictOptions {
  std::string model;           // a checkpoint, a run (its model), or registry:NAME@ALIAS|/vN
  std::string registry;        // the registry of a registry: model; "": $KILN_REGISTRY or registry/
  std::string data;            // the dataset to score
  std::string out;             // FILE.csv: CSV; else a Kiln shard file
  int64_t batch_rows = 65536;  // rows per batch
  int threads = 0;             // 0: one per core
  DeviceChoice device = DeviceChoice::kAuto;  // where the model runs
};

struct PredictResult {
  int64_t rows = 0;
  std::string checkpoint;  // the checkpoint that scored
  std::string model;       // what scored: "fraud/v7 (champion at ...)" for a registry model, else
                           // the checkpoint
};

// Writes one row per input row, in order: id (when the data has one), label (when it has
// one) and score (the probability), atomically: CSV for a name ending in .csv (scores with
// 17 significant digits), else a Kiln shard (float32 scores) that `kiln eval --scores` and
// `kiln data inspect` read. DataError/InputError for a bad checkpoint or dataset (naming
// it), OutputError when the file cannot be written.
PredictResult predict(const PredictOptions& options);

}  // namespace kiln::trainer
