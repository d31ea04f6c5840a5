#include "tokenadm/digest.hpp"

#include "crypto_init.hpp"
#include "tokenadm/errors.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

namespace tokenadm {

std::string sha256_hex(std::string_view data)
{
  crypto_init();
  // Fetched once; EVP_sha256() would go through the legacy ENGINE lookup
  // on every call.
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (sha256 == nullptr
      || EVP_Digest(data.data(), data.size(), md, &len, sha256, nullptr) != 1) {
    throw Error("digest", "SHA-256 failed");
  }
  static constexpr char k_hex[] = "0123456789abcdef";
  std::string out(std::size_t{len} * 2, '0');
  for (unsigned int i = 0; i < len; ++i) {
    out[2 * i] = k_hex[md[i] >> 4];
    out[2 * i + 1] = k_hex[md[i] & 0xF];
  }
  return out;
}

bool digest_equal(std::string_view a, std::string_view b)
{
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

} // namespace tokenadm
