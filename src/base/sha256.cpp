#include "base/sha256.hpp"

#include <openssl/evp.h>

#include <fmt/format.h>

namespace ringload {

struct Sha256::Ctx {
  struct Free {
    void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
  };
  std::unique_ptr<EVP_MD_CTX, Free> md;
};

Sha256::Sha256(std::unique_ptr<Ctx> ctx) : ctx_(std::move(ctx)) {}
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;
Sha256::~Sha256() = default;

Result<Sha256> Sha256::create() {
  auto ctx = std::make_unique<Ctx>();
  ctx->md.reset(EVP_MD_CTX_new());
  if (!ctx->md || EVP_DigestInit_ex(ctx->md.get(), EVP_sha256(), nullptr) != 1) {
    return make_error(ErrorKind::out_of_memory, "cannot initialise SHA-256 (OpenSSL EVP)");
  }
  return Sha256(std::move(ctx));
}

void Sha256::update(std::span<const std::byte> bytes) {
  if (!bytes.empty()) EVP_DigestUpdate(ctx_->md.get(), bytes.data(), bytes.size());
}

std::string Sha256::finish_hex() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(ctx_->md.get(), digest, &length);
  std::string hex;
  hex.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) hex += fmt::format("{:02x}", digest[i]);
  return hex;
}

std::string sha256_hex(std::span<const std::byte> bytes) {
  auto sha = Sha256::create();
  if (!sha) return {};
  sha->update(bytes);
  return sha->finish_hex();
}

}  // namespace ringload
