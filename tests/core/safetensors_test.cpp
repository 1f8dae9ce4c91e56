#include "core/safetensors.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "core/errors.h"
#include "core/sha256.h"
#include "tests/error_of.h"
#include "tests/temp_dir.h"

namespace kiln::core {
namespace {

using kiln::testing::TempDir;

const std::string kScript = std::string(KILN_SOURCE_DIR) + "/tests/core/safetensors_check.py";

nlohmann::json run_script(const std::string& args, const std::string& output) {
  std::string cmd = std::string(KILN_PYTHON) + " " + kScript + " " + args + " > " + output;
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  return nlohmann::json::parse(std::ifstream(output));
}

Tensor tensor(const std::string& name, DType dtype, std::vector<int64_t> shape, uint8_t seed) {
  Tensor t{name, dtype, std::move(shape), {}};
  int64_t bytes = static_cast<int64_t>(dtype_size(dtype));
  for (int64_t d : t.shape)
    bytes *= d;
  std::mt19937 rng(seed);
  for (int64_t i = 0; i < bytes; ++i)
    t.data.push_back(static_cast<uint8_t>(dtype == DType::kBool ? rng() % 2 : rng() % 256));
  if (dtype == DType::kF32) {  // finite floats, so numpy sees ordinary values
    for (std::size_t i = 0; i < t.data.size(); i += 4) {
      float f = static_cast<float>(i) * 0.25f - 3.0f;
      std::memcpy(&t.data[i], &f, 4);
    }
  }
  return t;
}

std::string digest(const Tensor& t) {
  return sha256_hex(std::string_view(reinterpret_cast<const char*>(t.data.data()), t.data.size()));
}

TEST(Safetensors, PythonLoadsWhatKilnWritesWithIdenticalBytes) {
  TempDir dir;
  TensorFile file;
  file.metadata = {{"format", "pt"}, {"step", "1200"}};
  file.tensors = {tensor("mlp.0.weight", DType::kF32, {64, 33}, 1),
                  tensor("mlp.0.bias", DType::kF32, {33}, 2),
                  tensor("optimizer.step", DType::kI64, {1}, 3),
                  tensor("codes", DType::kI32, {2, 3, 4}, 4),
                  tensor("mask", DType::kBool, {9}, 5),
                  tensor("raw", DType::kU8, {7}, 6),
                  tensor("half", DType::kF16, {5, 3}, 7),
                  tensor("empty", DType::kF32, {0, 4}, 8),
                  tensor("scalar", DType::kF64, {}, 9)};
  write_safetensors(dir / "model.safetensors", file);
  nlohmann::json seen = run_script("load " + dir / "model.safetensors", dir / "out.json");
  EXPECT_EQ(seen["metadata"], nlohmann::json(file.metadata));
  ASSERT_EQ(seen["tensors"].size(), file.tensors.size());
  for (const Tensor& t : file.tensors) {
    SCOPED_TRACE(t.name);
    const auto& s = seen["tensors"][t.name];
    EXPECT_EQ(s["dtype"], std::string(dtype_name(t.dtype)));
    EXPECT_EQ(s["shape"].get<std::vector<int64_t>>(), t.shape);
    EXPECT_EQ(s["sha256"], digest(t));
  }
  // And back: Kiln reads its own file identically.
  TensorFile back = read_safetensors(dir / "model.safetensors");
  EXPECT_EQ(back.metadata, file.metadata);
  ASSERT_EQ(back.tensors.size(), file.tensors.size());
  for (const Tensor& t : back.tensors) {
    auto it = std::find_if(file.tensors.begin(), file.tensors.end(),
                           [&](const Tensor& o) { return o.name == t.name; });
    ASSERT_NE(it, file.tensors.end());
    EXPECT_EQ(t.data, it->data);
    EXPECT_EQ(t.shape, it->shape);
    EXPECT_EQ(t.dtype, it->dtype);
  }
}

TEST(Safetensors, KilnReadsWhatPythonWritesWithIdenticalBytes) {
  TempDir dir;
  nlohmann::json written = run_script("save " + dir / "py.safetensors", dir / "out.json");
  TensorFile file = read_safetensors(dir / "py.safetensors");
  EXPECT_EQ(nlohmann::json(file.metadata), written["metadata"]);
  ASSERT_EQ(file.tensors.size(), written["tensors"].size());
  for (const Tensor& t : file.tensors) {
    SCOPED_TRACE(t.name);
    const auto& w = written["tensors"][t.name];
    EXPECT_EQ(std::string(dtype_name(t.dtype)), w["dtype"]);
    EXPECT_EQ(t.shape, w["shape"].get<std::vector<int64_t>>());
    EXPECT_EQ(digest(t), w["sha256"]);
  }
}

// A valid file's bytes with its header replaced.
std::string with_header(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  for (int b = 0; b < 8; ++b)
    out[static_cast<std::size_t>(b)] = static_cast<char>((header.size() >> (8 * b)) & 0xff);
  return out + header + data;
}

std::string write_bytes(const TempDir& dir, const std::string& bytes) {
  std::ofstream(dir / "m.safetensors", std::ios::binary) << bytes;
  return dir / "m.safetensors";
}

// parse_safetensors' message for `bytes`, which check_safetensors_file must give for them in a
// file (naming the file's path).
std::string parse_error(const std::string& bytes, std::size_t limit = 100000000) {
  const std::string in_memory =
      kiln::testing::error_of<DataError>([&] { parse_safetensors(bytes, "m.safetensors", limit); });
  TempDir dir;
  const std::string path = write_bytes(dir, bytes);
  EXPECT_EQ(kiln::testing::error_of<DataError>([&] { check_safetensors_file(path, limit); }),
            dir.path() + "/" + in_memory);
  return in_memory;
}

TEST(Safetensors, TheReaderRefusesUntrustedFilesNamingTheProblem) {
  const std::string data(24, 'x');  // room for 6 F32 values
  auto entry = [](const std::string& dtype, const std::string& shape, const std::string& offsets) {
    return "{\"a\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape +
           ",\"data_offsets\":" + offsets + "}}";
  };
  EXPECT_NO_THROW(parse_safetensors(with_header(entry("F32", "[2,3]", "[0,24]"), data), "ok"));
  TempDir ok;
  EXPECT_NO_THROW(
      check_safetensors_file(write_bytes(ok, with_header(entry("F32", "[2,3]", "[0,24]"), data))));
  EXPECT_NE(parse_error("short").find("too short"), std::string::npos);
  std::string huge(8, '\0');
  huge[4] = 1;  // 2^32-byte header
  EXPECT_NE(parse_error(huge + "{}").find("over the limit"), std::string::npos);
  EXPECT_NE(parse_error(with_header("{}", ""), 1).find("over the limit of 1"), std::string::npos);
  std::string past(8, '\0');
  past[0] = 100;
  EXPECT_NE(parse_error(past + "{}").find("runs past the end"), std::string::npos);
  EXPECT_NE(parse_error(with_header("[1]", "")).find("not a JSON object"), std::string::npos);
  EXPECT_NE(parse_error(with_header("{\"a\":", "")).find("not valid JSON"), std::string::npos);
  EXPECT_NE(parse_error(with_header(entry("F33", "[2,3]", "[0,24]"), data))
                .find("tensor 'a': unknown dtype"),
            std::string::npos);
  EXPECT_NE(parse_error(with_header(entry("F32", "[2,-3]", "[0,24]"), data))
                .find("dimensions must be integers >= 0"),
            std::string::npos);
  EXPECT_NE(
      parse_error(with_header(entry("F32", "[2,3]", "[0,48]"), data)).find("outside the 24 bytes"),
      std::string::npos);
  EXPECT_NE(parse_error(with_header(entry("F32", "[2,3]", "[8,4]"), data)).find("outside"),
            std::string::npos);
  EXPECT_NE(parse_error(with_header(entry("F32", "[2,2]", "[0,24]"), data)).find("needs 16"),
            std::string::npos);
  EXPECT_NE(parse_error(with_header(entry("F32", "[4611686018427387904,4]", "[0,24]"), data))
                .find("needs -1"),
            std::string::npos);  // elements x size overflows
  EXPECT_NE(parse_error(with_header(entry("F32", "[2,3]", "[0,24]"), data + "tail"))
                .find("4 bytes after the last tensor"),
            std::string::npos);
  std::string two =
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
      "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}";
  EXPECT_NE(parse_error(with_header(two, data)).find("overlaps at byte 8"), std::string::npos);
  std::string gap =
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
      "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]}}";
  EXPECT_NE(parse_error(with_header(gap, data)).find("leaves a gap at byte 8"), std::string::npos);
  EXPECT_NE(parse_error(with_header("{\"__metadata__\":{\"k\":1}}", "")).find("must be a string"),
            std::string::npos);
  EXPECT_NE(parse_error(with_header("{\"a\":{\"dtype\":\"F32\"}}", ""))
                .find("needs dtype, shape and data_offsets"),
            std::string::npos);
  TempDir dir;
  EXPECT_NE(kiln::testing::error_of<InputError>([&] {
              read_safetensors(dir / "none.safetensors");
            }).find("none.safetensors"),
            std::string::npos);
  EXPECT_NE(kiln::testing::error_of<InputError>([&] {
              check_safetensors_file(dir / "none.safetensors");
            }).find("none.safetensors"),
            std::string::npos);
}

}  // namespace
}  // namespace kiln::core
