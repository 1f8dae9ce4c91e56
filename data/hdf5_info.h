// The HDF5 library Kiln runs against.
#pragma once

#include <string>

namespace kiln::data {

// "major.minor.release" of the HDF5 library loaded at run time.
std::string hdf5_version();

}  // namespace kiln::data
