// Incremental SHA-256 (OpenSSL EVP underneath), for per-tensor digests computed on the staging
// slots as bytes pass through.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>

#include "ringload/error.hpp"

namespace ringload {

class Sha256 {
 public:
  static Result<Sha256> create();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;
  ~Sha256();

  void update(std::span<const std::byte> bytes);
  // Lower-case hex of the digest; the object is spent afterwards.
  [[nodiscard]] std::string finish_hex();

 private:
  struct Ctx;
  explicit Sha256(std::unique_ptr<Ctx> ctx);
  std::unique_ptr<Ctx> ctx_;
};

[[nodiscard]] std::string sha256_hex(std::span<const std::byte> bytes);

}  // namespace ringload
