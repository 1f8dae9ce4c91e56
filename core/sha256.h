// SHA-256 (OpenSSL EVP) of buffers and files, as lower-case hex.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace kiln::core {

// Incremental hashing; not thread-safe (one object per stream).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(const void* data, std::size_t size);
  void update(std::string_view data) { update(data.data(), data.size()); }
  // The digest as 64 hex characters; the object cannot be updated afterwards.
  std::string hex_digest();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

std::string sha256_hex(std::string_view data);

// Streams the file in 1 MiB blocks. Throws InputError when it cannot be opened or read.
std::string sha256_file(const std::string& path);

}  // namespace kiln::core
