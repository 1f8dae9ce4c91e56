// A dataset transformed by a fitted plan into one HDF5 file for inspection and other tools
// (`kiln data transform`): the CPU reference, in dataset order.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "data/dataset.h"
#include "transform/plan.h"

namespace kiln::transform {

struct ExportOptions {
  int64_t batch_rows = 65536;  // rows per batch
  int threads = 0;             // 0: one per usable core
};

struct ExportResult {
  int64_t rows = 0;
  int64_t width = 0;              // float features
  int64_t categorical_width = 0;  // categorical columns
};

// Writes `out` atomically: X (float32 rows x features, attribute feature_names), categorical
// (int64 rows x columns, attributes feature_names and cardinality; only when the plan has
// categorical outputs), y (the label) and id when the dataset has them, and the plan and
// source dataset as the root attributes kiln_transform_plan and kiln_source. DataError when
// the plan does not fit the dataset (naming it); OutputError when `out` cannot be written.
ExportResult export_transformed(const FittedPlan& plan,
                                const std::shared_ptr<const data::Dataset>& dataset,
                                const std::string& out, const ExportOptions& options = {});

}  // namespace kiln::transform
