// Precompiled header of the trainer: LibTorch is large, and every trainer file includes it.
#pragma once

#include <torch/torch.h>
