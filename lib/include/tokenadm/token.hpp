// Token format: <prefix>_<id>_<secret><check>
//   prefix  [a-z]{1,8}, from config (default "tka")
//   id      10 base62 characters, public and unique
//   secret  32 base62 characters from getrandom(2) (>= 190 bits)
//   check   6 base62 characters: CRC32 of everything before it, so a
//           mistyped token is rejected offline.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tokenadm {

inline constexpr std::size_t k_id_len = 10;
inline constexpr std::size_t k_secret_len = 32;
inline constexpr std::size_t k_check_len = 6;
inline constexpr std::size_t k_max_prefix_len = 8;
inline constexpr const char* k_default_prefix = "tka";
// Longest input verify will look at; anything longer is malformed.
inline constexpr std::size_t k_max_token_input = 4096;

struct ParsedToken {
  std::string prefix;
  std::string id;
};

// n base62 characters, uniformly distributed, from getrandom(2).
// Throws Error if the RNG fails.
std::string random_base62(std::size_t n);

std::uint32_t crc32(std::string_view data);
// CRC32 of `data` as exactly 6 base62 characters.
std::string check_chars(std::string_view data);

bool valid_prefix(std::string_view prefix);
bool valid_id(std::string_view id);

// A new token with the given prefix (must satisfy valid_prefix).
std::string generate_token(std::string_view prefix);
// n new tokens, as generate_token makes them, from fewer reads of the
// kernel's random source.
std::vector<std::string> generate_tokens(std::string_view prefix, std::size_t n);

// Splits a presented token. Throws TokenRejected("malformed") if it does not
// have the token's shape and TokenRejected("checksum") if the check
// characters do not match. Makes no database query.
ParsedToken parse_token(std::string_view token);

// True if `text` has the shape of a tokenadm token (used to refuse tokens in
// argv and to redact them from messages). Does not check the checksum.
bool looks_like_token(std::string_view text);

// `id` if it is a valid token ID, else a placeholder: what a message may
// show of an argument that was supposed to be an ID (it could be a pasted,
// truncated token).
std::string printable_id(std::string_view id);

// Extracts the token from one line of input: trims surrounding whitespace
// and, if `header` is set, requires and strips "Authorization: Bearer ".
// Throws TokenRejected("malformed") on empty or over-long input.
std::string token_from_input(std::string_view input, bool header);

} // namespace tokenadm
