// What the database stores instead of a token.
#pragma once

#include <string>
#include <string_view>

namespace tokenadm {

inline constexpr const char* k_hash_sha256 = "sha256";

// Lower-case hex SHA-256 of the token text (EVP).
std::string sha256_hex(std::string_view data);

// Constant-time equality of two digests (CRYPTO_memcmp); false if the
// lengths differ.
bool digest_equal(std::string_view a, std::string_view b);

} // namespace tokenadm
