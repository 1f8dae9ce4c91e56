#include "core/sha256.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "core/errors.h"
#include "core/hex.h"

namespace kiln::core {

namespace {

EVP_MD_CTX* new_context() {
  // Kiln's first call into OpenSSL: without this, OpenSSL frees its tables in an atexit
  // handler, work at every hashing process's exit that the exit itself does.
  static const bool initialized = OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, nullptr) == 1;
  (void)initialized;
  return EVP_MD_CTX_new();
}

}  // namespace

struct Sha256::Impl {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx{new_context(), &EVP_MD_CTX_free};
  bool finished = false;
};

Sha256::Sha256() : impl_(std::make_unique<Impl>()) {
  KILN_ASSERT(impl_->ctx && EVP_DigestInit_ex(impl_->ctx.get(), EVP_sha256(), nullptr) == 1,
              "EVP SHA-256 init");
}

Sha256::~Sha256() = default;

void Sha256::update(const void* data, std::size_t size) {
  KILN_ASSERT(!impl_->finished, "update after hex_digest");
  KILN_ASSERT(EVP_DigestUpdate(impl_->ctx.get(), data, size) == 1, "EVP SHA-256 update");
}

std::string Sha256::hex_digest() {
  KILN_ASSERT(!impl_->finished, "hex_digest called twice");
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  KILN_ASSERT(EVP_DigestFinal_ex(impl_->ctx.get(), digest, &length) == 1, "EVP SHA-256 final");
  impl_->finished = true;
  return to_hex(std::string_view(reinterpret_cast<const char*>(digest), length));
}

std::string sha256_hex(std::string_view data) {
  Sha256 hash;
  hash.update(data);
  return hash.hex_digest();
}

std::string sha256_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  KILN_CHECK(fd >= 0, InputError, "cannot open '", path, "' to hash it: ", errno_text(errno));
  std::unique_ptr<int, void (*)(int*)> guard(&fd, [](int* f) { ::close(*f); });
  Sha256 hash;
  std::vector<char> block(1 << 20);
  while (true) {
    ssize_t n = ::read(fd, block.data(), block.size());
    if (n < 0 && errno == EINTR) continue;
    KILN_CHECK(n >= 0, InputError, "cannot read '", path, "' to hash it: ", errno_text(errno));
    if (n == 0) break;
    hash.update(block.data(), static_cast<std::size_t>(n));
  }
  return hash.hex_digest();
}

}  // namespace kiln::core
