#include "core/sha256.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/errors.h"
#include "tests/temp_dir.h"

namespace kiln::core {
namespace {

// Test vectors published with FIPS 180-2 (and NIST's SHA-256 examples).
TEST(Sha256, MatchesPublishedTestVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjkl"
                       "mnopqklmnopqrlmnopqrsmnopqrstnopqrstu"),
            "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, IncrementalUpdatesEqualOneShot) {
  std::string data;
  for (int i = 0; i < 100000; ++i)
    data.push_back(static_cast<char>(i * 7919 % 251));
  Sha256 hash;
  std::size_t at = 0;
  for (std::size_t step = 1; at < data.size(); step = step * 3 % 1021 + 1) {
    std::size_t n = std::min(step, data.size() - at);
    hash.update(data.data() + at, n);
    at += n;
  }
  EXPECT_EQ(hash.hex_digest(), sha256_hex(data));
}

TEST(Sha256, HashesFilesLikeBuffersAndReportsMissingOnes) {
  kiln::testing::TempDir dir;
  std::string path = dir / "blob";
  std::string data(3 * (1 << 20) + 17, 'q');  // crosses the 1 MiB block boundary
  std::ofstream(path, std::ios::binary) << data;
  EXPECT_EQ(sha256_file(path), sha256_hex(data));
  std::filesystem::remove(path);
  try {
    sha256_file(path);
    ADD_FAILURE() << "hashed a missing file";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos);
  }
}

}  // namespace
}  // namespace kiln::core
