#include "tokenadm/digest.hpp"

#include "crypto_init.hpp"
#include "tokenadm/config.hpp"
#include "tokenadm/errors.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace tokenadm {

namespace {

// Fetched once; EVP_sha256() would go through the legacy ENGINE lookup on
// every call.
const EVP_MD* sha256_md()
{
  crypto_init();
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  if (md == nullptr) {
    throw Error("digest", "SHA-256 is not available from OpenSSL");
  }
  return md;
}

std::string to_hex(const unsigned char* md, unsigned int len)
{
  static constexpr char k_hex[] = "0123456789abcdef";
  std::string out(std::size_t{len} * 2, '0');
  for (unsigned int i = 0; i < len; ++i) {
    out[2 * i] = k_hex[md[i] >> 4];
    out[2 * i + 1] = k_hex[md[i] & 0xF];
  }
  return out;
}

} // namespace

std::string sha256_hex(std::string_view data)
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, sha256_md(), nullptr) != 1) {
    throw Error("digest", "SHA-256 failed");
  }
  return to_hex(md, len);
}

std::string hmac_sha256_hex(std::string_view key, std::string_view data)
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(sha256_md(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &len)
      == nullptr) {
    throw Error("digest", "HMAC-SHA-256 failed");
  }
  return to_hex(md, len);
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
