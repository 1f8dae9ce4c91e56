# Every dependency comes from the distribution or from the torch wheel in .venv.
find_package(Threads REQUIRED)
find_package(OpenSSL REQUIRED COMPONENTS Crypto)
find_package(yaml-cpp REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(CLI11 REQUIRED)
find_package(spdlog REQUIRED)
find_package(fmt REQUIRED)
find_package(HDF5 REQUIRED COMPONENTS C)
# libhdf5 is linked statically where the distribution ships libhdf5.a beside the shared one
# (Debian's and Ubuntu's libhdf5-dev do): the shared library needs libcurl, and through it
# some 30 more libraries, for its S3 driver, which Kiln never uses; loading them took 4 of
# the 10 ms `kiln drift --help` took, and forking the proving children with them mapped
# cost more. From the archive only the objects Kiln calls are linked, none of which calls
# libcurl or libcrypto (the driver's), so they are left out. The sanitizer builds keep the
# shared library: their leak suppressions (tests/fuzz/lsan.supp) name it.
set(KILN_HDF5_LIBRARIES ${HDF5_C_LIBRARIES})
if(NOT KILN_SANITIZE)
  set(_kiln_libs "")
  set(_kiln_static OFF)
  foreach(_kiln_lib IN LISTS HDF5_C_LIBRARIES)
    string(REGEX REPLACE "\\.so$" ".a" _kiln_archive "${_kiln_lib}")
    if(_kiln_lib MATCHES "/libhdf5(_serial)?\\.so$" AND EXISTS "${_kiln_archive}")
      list(APPEND _kiln_libs "${_kiln_archive}")
      set(_kiln_static ON)
    elseif(NOT _kiln_lib MATCHES "/lib(curl|crypto)[.]")  # the S3 driver's
      list(APPEND _kiln_libs "${_kiln_lib}")
    endif()
  endforeach()
  if(_kiln_static)
    # A program calling what Kiln calls must link against the archive without libcurl;
    # where it does not, the shared library is used.
    include(CheckCSourceCompiles)
    set(CMAKE_REQUIRED_INCLUDES ${HDF5_C_INCLUDE_DIRS} ${HDF5_INCLUDE_DIRS})
    set(CMAKE_REQUIRED_DEFINITIONS ${HDF5_C_DEFINITIONS} ${HDF5_DEFINITIONS})
    set(CMAKE_REQUIRED_LIBRARIES ${_kiln_libs})
    check_c_source_compiles([[
#include <hdf5.h>
int main(int argc, char** argv) {
  if (argc < 9) return 0;
  hid_t file = H5Fopen(argv[1], H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t data = H5Dopen2(file, argv[2], H5P_DEFAULT);
  hsize_t at[1] = {0}, size = 0;
  haddr_t address = 0;
  unsigned mask = 0;
  H5Dget_chunk_info_by_coord(data, at, &mask, &address, &size);
  H5Pset_deflate(H5Pcreate(H5P_DATASET_CREATE), 4);
  return H5Dread(data, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, argv) +
         H5Zfilter_avail(H5Z_FILTER_SZIP) + H5Dclose(data) + H5Fclose(file);
}]] KILN_HDF5_ARCHIVE_LINKS)
    unset(CMAKE_REQUIRED_INCLUDES)
    unset(CMAKE_REQUIRED_DEFINITIONS)
    unset(CMAKE_REQUIRED_LIBRARIES)
    if(KILN_HDF5_ARCHIVE_LINKS)
      set(KILN_HDF5_LIBRARIES ${_kiln_libs})
    endif()
  endif()
endif()
message(STATUS "kiln: HDF5 ${HDF5_VERSION}: ${KILN_HDF5_LIBRARIES}")

# yaml-cpp 0.7 exports the target "yaml-cpp"; 0.8 exports "yaml-cpp::yaml-cpp".
if(TARGET yaml-cpp::yaml-cpp)
  set(KILN_YAML_TARGET yaml-cpp::yaml-cpp)
else()
  set(KILN_YAML_TARGET yaml-cpp)
endif()
set(KILN_CRYPTO_TARGET OpenSSL::Crypto)

# The other shared libraries' start-up cost, as libhdf5's: loading and relocating libcrypto,
# libyaml-cpp, libspdlog, libfmt and libstdc++ took about 2 of the 5.6 ms `kiln drift --help`
# took (median of 60 runs). libcrypto and libyaml-cpp are linked from the archives the
# distribution ships beside them (Debian's and Ubuntu's -dev packages do) where a program
# calling them links so; else the shared ones. Kiln uses
# libcrypto for SHA-256 only (no TLS), so a rebuild is what an OpenSSL update needs of it.
# spdlog and fmt, which Kiln calls from core/log.cpp alone, are compiled into that file
# where their packages offer a header-only mode (KILN_LOG_HEADER_ONLY: core/CMakeLists.txt).
# With no C++ library left to share it, the `kiln` binary links libstdc++ statically too
# (KILN_STATIC_CXX: trainer/CMakeLists.txt; kiln-torch shares LibTorch's). The sanitizer
# builds keep the shared libraries.
set(KILN_LOG_HEADER_ONLY OFF)
set(KILN_STATIC_CXX OFF)
if(NOT KILN_SANITIZE)
  include(CheckCXXSourceCompiles)
  # kiln_archive(TARGET NAME SOURCE): NAME becomes an interface target of TARGET's headers
  # and its archive, when the archive is there and SOURCE links with it.
  function(kiln_archive target name source)
    get_target_property(_location ${target} LOCATION)
    string(REGEX REPLACE "\\.so(\\.[0-9.]+)?$" ".a" _archive "${_location}")
    if(NOT _archive MATCHES "\\.a$" OR NOT EXISTS "${_archive}")
      return()
    endif()
    get_target_property(CMAKE_REQUIRED_INCLUDES ${target} INTERFACE_INCLUDE_DIRECTORIES)
    set(CMAKE_REQUIRED_LIBRARIES "${_archive}" ${CMAKE_DL_LIBS} Threads::Threads)
    check_cxx_source_compiles("${source}" KILN_${name}_ARCHIVE_LINKS)
    if(KILN_${name}_ARCHIVE_LINKS)
      add_library(${name} INTERFACE)
      target_include_directories(${name} SYSTEM INTERFACE ${CMAKE_REQUIRED_INCLUDES})
      target_link_libraries(${name} INTERFACE "${_archive}" ${CMAKE_DL_LIBS} Threads::Threads)
      message(STATUS "kiln: ${target} from ${_archive}")
    endif()
  endfunction()
  kiln_archive(OpenSSL::Crypto kiln_crypto [[
#include <openssl/evp.h>
int main() {
  unsigned char out[32];
  unsigned int size = 0;
  return EVP_Digest("", 0, out, &size, EVP_sha256(), nullptr);
}]])
  kiln_archive(${KILN_YAML_TARGET} kiln_yaml [[
#include <yaml-cpp/yaml.h>
int main() { return YAML::Load("a: 1")["a"].as<int>(); }]])
  if(TARGET kiln_crypto)
    set(KILN_CRYPTO_TARGET kiln_crypto)
  endif()
  if(TARGET kiln_yaml)
    set(KILN_YAML_TARGET kiln_yaml)
  endif()
  if(TARGET spdlog::spdlog_header_only AND TARGET fmt::fmt-header-only)
    set(KILN_LOG_HEADER_ONLY ON)
  endif()
  if(TARGET kiln_crypto AND TARGET kiln_yaml AND KILN_LOG_HEADER_ONLY)
    set(KILN_STATIC_CXX ON)
  endif()
endif()

# LibTorch: from the torch wheel. KILN_PYTHON (default: .venv/bin/python) tells where.
# The same Python runs the reference scripts and peer benchmarks of the tests.
set(KILN_PYTHON "${CMAKE_SOURCE_DIR}/.venv/bin/python" CACHE FILEPATH "Python whose torch provides LibTorch")
if(KILN_WITH_TRAINER)
  if(NOT Torch_DIR)
    execute_process(
      COMMAND "${KILN_PYTHON}" -c "import torch.utils; print(torch.utils.cmake_prefix_path)"
      OUTPUT_VARIABLE _kiln_torch_prefix OUTPUT_STRIP_TRAILING_WHITESPACE
      RESULT_VARIABLE _kiln_torch_rc ERROR_QUIET)
    if(NOT _kiln_torch_rc EQUAL 0)
      message(FATAL_ERROR "kiln: cannot import torch from ${KILN_PYTHON}; run scripts/setup first "
                          "or pass -DKILN_PYTHON=/path/to/python")
    endif()
    list(APPEND CMAKE_PREFIX_PATH "${_kiln_torch_prefix}")
  endif()
  # The torch wheel is built with CUDA; its CMake config would try to detect the GPU by
  # compiling and running a probe. Name the architecture instead (Hopper, as the cuda preset).
  if(NOT DEFINED TORCH_CUDA_ARCH_LIST AND NOT DEFINED ENV{TORCH_CUDA_ARCH_LIST})
    set(TORCH_CUDA_ARCH_LIST "9.0")
  endif()
  find_package(Torch REQUIRED)
  message(STATUS "kiln: LibTorch ${Torch_VERSION} from ${Torch_DIR}")
endif()
