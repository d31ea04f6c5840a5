// What the database stores instead of a token.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tokenadm {

struct Config;

inline constexpr const char* k_hash_sha256 = "sha256";
inline constexpr const char* k_hash_hmac = "hmac-sha256";

// Lower-case hex SHA-256 of the token text (EVP).
std::string sha256_hex(std::string_view data);

// Constant-time equality of two digests (CRYPTO_memcmp); false if the
// lengths differ.
bool digest_equal(std::string_view a, std::string_view b);

// Lower-case hex HMAC-SHA-256 of `data` under `key`.
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

// A digest as a row stores it: which algorithm, which key, the hex value.
struct StoredDigest {
  std::string hash_alg; // sha256 or hmac-sha256
  std::string key_id;   // empty for sha256
  std::string hex;
};

// Digests tokens the way the configuration says: plain SHA-256, or
// HMAC-SHA-256 under a pepper read from a key file. Keys that were current
// before (previous_pepper_files) are kept so their tokens still verify.
class Hasher {
public:
  Hasher() = default; // plain SHA-256, no keys
  // Reads the pepper files named in `config` (checked like .pgpass).
  explicit Hasher(const Config& config);

  // The digest to store for a new token.
  StoredDigest make(std::string_view token) const;
  // Every digest the token could be stored under (SHA-256 and each key).
  std::vector<StoredDigest> candidates(std::string_view token) const;

  struct Key {
    std::string id; // first 12 hex characters of SHA-256 of the key
    std::string secret;
  };

private:
  bool m_hmac = false;
  std::vector<Key> m_keys; // current first
};

} // namespace tokenadm
