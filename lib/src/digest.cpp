#include "tokenadm/digest.hpp"

#include "tokenadm/config.hpp"
#include "tokenadm/errors.hpp"

// SHA-256 through OpenSSL's low-level functions, deprecated in OpenSSL 3
// but kept and built on the same assembly as EVP's: EVP_Digest would first
// set up OpenSSL's provider machinery, which costs a one-shot verify or
// create 1.3 MB of its peak memory and a million instructions, for one
// 32-byte hash. (They bypass providers, so a FIPS provider's policy does not
// apply to them; tokenadm hashes with SHA-256 and HMAC-SHA-256 only.)
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <algorithm>
#include <array>

namespace tokenadm {

namespace {

using Sha256 = std::array<unsigned char, SHA256_DIGEST_LENGTH>;

class Sha256Ctx {
public:
  Sha256Ctx()
  {
    if (SHA256_Init(&m_ctx) != 1) {
      throw Error("digest", "SHA-256 failed");
    }
  }
  ~Sha256Ctx() { OPENSSL_cleanse(&m_ctx, sizeof m_ctx); }
  Sha256Ctx(const Sha256Ctx&) = delete;
  Sha256Ctx& operator=(const Sha256Ctx&) = delete;

  Sha256Ctx& add(const void* data, std::size_t size)
  {
    if (SHA256_Update(&m_ctx, data, size) != 1) {
      throw Error("digest", "SHA-256 failed");
    }
    return *this;
  }
  Sha256Ctx& add(std::string_view data) { return add(data.data(), data.size()); }

  Sha256 finish()
  {
    Sha256 md{};
    if (SHA256_Final(md.data(), &m_ctx) != 1) {
      throw Error("digest", "SHA-256 failed");
    }
    return md;
  }

private:
  SHA256_CTX m_ctx{};
};

std::string to_hex(const Sha256& md)
{
  static constexpr char k_hex[] = "0123456789abcdef";
  std::string out(md.size() * 2, '0');
  for (std::size_t i = 0; i < md.size(); ++i) {
    out[2 * i] = k_hex[md[i] >> 4];
    out[2 * i + 1] = k_hex[md[i] & 0xF];
  }
  return out;
}

} // namespace

std::string sha256_hex(std::string_view data)
{
  return to_hex(Sha256Ctx().add(data).finish());
}

// HMAC as RFC 2104 defines it, over the SHA-256 above (OpenSSL's own HMAC()
// goes through the provider set-up too): H((K ^ opad) || H((K ^ ipad) || m)),
// K the key padded with zeros to the 64-byte block, or hashed first if
// longer. Checked against RFC 4231's test vectors and OpenSSL's HMAC in
// tests/unit/test_digest.cpp.
std::string hmac_sha256_hex(std::string_view key, std::string_view data)
{
  constexpr std::size_t k_block = SHA256_CBLOCK;
  std::array<unsigned char, k_block> pad{};
  if (key.size() > k_block) {
    const auto hashed = Sha256Ctx().add(key).finish();
    std::copy(hashed.begin(), hashed.end(), pad.begin());
  } else {
    std::copy(key.begin(), key.end(), pad.begin());
  }
  for (auto& b : pad) {
    b ^= 0x36;
  }
  auto inner = Sha256Ctx().add(pad.data(), pad.size()).add(data).finish();
  for (auto& b : pad) {
    b ^= 0x36 ^ 0x5c;
  }
  const auto outer = Sha256Ctx().add(pad.data(), pad.size()).add(inner.data(), inner.size()).finish();
  OPENSSL_cleanse(pad.data(), pad.size());
  OPENSSL_cleanse(inner.data(), inner.size());
  return to_hex(outer);
}

Hasher::Hasher(const Config& config) : m_hmac(config.digest == k_hash_hmac)
{
  auto add = [this](const std::string& path, const char* what) {
    Key k;
    k.secret = read_secret_file(path, what);
    if (k.secret.size() < 16) {
      throw ConfigError(std::string(what) + " " + path + " holds fewer than 16 bytes");
    }
    k.id = sha256_hex(k.secret).substr(0, 12);
    m_keys.push_back(std::move(k));
  };
  if (!config.pepper_file.empty()) {
    add(config.pepper_file, "token.pepper_file");
  }
  for (const auto& path : config.previous_pepper_files) {
    add(path, "token.previous_pepper_files");
  }
}

StoredDigest Hasher::make(std::string_view token) const
{
  if (m_hmac && !m_keys.empty()) {
    return {k_hash_hmac, m_keys.front().id, hmac_sha256_hex(m_keys.front().secret, token)};
  }
  return {k_hash_sha256, "", sha256_hex(token)};
}

std::vector<StoredDigest> Hasher::candidates(std::string_view token) const
{
  std::vector<StoredDigest> out{{k_hash_sha256, "", sha256_hex(token)}};
  for (const auto& k : m_keys) {
    out.push_back({k_hash_hmac, k.id, hmac_sha256_hex(k.secret, token)});
  }
  return out;
}

bool digest_equal(std::string_view a, std::string_view b)
{
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

} // namespace tokenadm
