#include "tokenadm/token.hpp"

#include "crypto_init.hpp"
#include "tokenadm/errors.hpp"

#include <openssl/crypto.h>

#include <array>

namespace tokenadm {

namespace {

constexpr std::string_view k_alphabet =
  "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

bool is_base62(char c)
{
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool all_base62(std::string_view s)
{
  for (char c : s) {
    if (!is_base62(c)) {
      return false;
    }
  }
  return true;
}

std::array<std::uint32_t, 256> make_crc_table()
{
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t n = 0; n < 256; ++n) {
    std::uint32_t c = n;
    for (int k = 0; k < 8; ++k) {
      c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    table[n] = c;
  }
  return table;
}

// Splits "<prefix>_<id>_<rest>" without checking the parts' contents.
bool split(std::string_view token, std::string_view& prefix, std::string_view& id,
           std::string_view& rest)
{
  const auto first = token.find('_');
  if (first == std::string_view::npos) {
    return false;
  }
  const auto second = token.find('_', first + 1);
  if (second == std::string_view::npos) {
    return false;
  }
  prefix = token.substr(0, first);
  id = token.substr(first + 1, second - first - 1);
  rest = token.substr(second + 1);
  return true;
}

} // namespace

namespace {

// Uniform base62 characters from getrandom(2), N bytes a call. Rejection
// sampling: bytes >= 248 (4 * 62) are dropped so each character is uniform
// over the alphabet. What is left of the bytes is wiped when it goes.
template<std::size_t N>
class RandomChars {
public:
  RandomChars() = default;
  RandomChars(const RandomChars&) = delete;
  RandomChars& operator=(const RandomChars&) = delete;
  ~RandomChars() { OPENSSL_cleanse(m_buf, sizeof m_buf); }

  void append(std::string& out, std::size_t n)
  {
    while (n > 0) {
      if (m_pos == N) {
        random_bytes(m_buf, N);
        m_pos = 0;
      }
      const unsigned char b = m_buf[m_pos];
      m_buf[m_pos++] = 0;
      if (b < 248) {
        out += k_alphabet[b % 62];
        --n;
      }
    }
  }

private:
  unsigned char m_buf[N];
  std::size_t m_pos = N;
};

template<std::size_t N>
std::string make_token(std::string_view prefix, RandomChars<N>& chars)
{
  std::string body;
  body.reserve(prefix.size() + 2 + k_id_len + k_secret_len + k_check_len);
  body += prefix;
  body += '_';
  chars.append(body, k_id_len);
  body += '_';
  chars.append(body, k_secret_len);
  body += check_chars(body);
  return body;
}

} // namespace

std::string random_base62(std::size_t n)
{
  std::string out;
  out.reserve(n);
  RandomChars<64> chars;
  chars.append(out, n);
  return out;
}

std::uint32_t crc32(std::string_view data)
{
  static const auto table = make_crc_table();
  std::uint32_t c = 0xFFFFFFFFu;
  for (char ch : data) {
    c = table[(c ^ static_cast<unsigned char>(ch)) & 0xFFu] ^ (c >> 8);
  }
  return c ^ 0xFFFFFFFFu;
}

std::string check_chars(std::string_view data)
{
  std::uint64_t v = crc32(data);
  std::string out(k_check_len, '0');
  for (std::size_t i = k_check_len; i-- > 0;) {
    out[i] = k_alphabet[v % 62];
    v /= 62;
  }
  return out;
}

bool valid_prefix(std::string_view prefix)
{
  if (prefix.empty() || prefix.size() > k_max_prefix_len) {
    return false;
  }
  for (char c : prefix) {
    if (c < 'a' || c > 'z') {
      return false;
    }
  }
  return true;
}

bool valid_id(std::string_view id)
{
  return id.size() == k_id_len && all_base62(id);
}

std::string printable_id(std::string_view id)
{
  // Short words without '_' cannot hold much of a token's secret.
  if (valid_id(id) || (id.size() <= 12 && id.find('_') == std::string_view::npos)) {
    return std::string(id);
  }
  return "(not a token ID)";
}

std::string generate_token(std::string_view prefix)
{
  // 42 characters need about 43 of the 64 bytes.
  RandomChars<64> chars;
  return make_token(prefix, chars);
}

std::vector<std::string> generate_tokens(std::string_view prefix, std::size_t n)
{
  // One getrandom(2) call for about 80 tokens, not two for each.
  RandomChars<4096> chars;
  std::vector<std::string> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(make_token(prefix, chars));
  }
  return out;
}

bool looks_like_token(std::string_view text)
{
  std::string_view prefix, id, rest;
  return split(text, prefix, id, rest) && valid_prefix(prefix) && valid_id(id)
         && rest.size() == k_secret_len + k_check_len && all_base62(rest);
}

ParsedToken parse_token(std::string_view token)
{
  if (!looks_like_token(token)) {
    throw TokenRejected("malformed", "not a token: expected <prefix>_<id>_<secret> ("
                                       + std::to_string(k_max_prefix_len + k_id_len
                                                        + k_secret_len + k_check_len + 2)
                                       + " characters at most)");
  }
  std::string_view prefix, id, rest;
  split(token, prefix, id, rest);
  const auto body = token.substr(0, token.size() - k_check_len);
  if (check_chars(body) != token.substr(token.size() - k_check_len)) {
    throw TokenRejected("checksum",
                        "the token's check characters do not match (mistyped or truncated?)");
  }
  return ParsedToken{std::string(prefix), std::string(id)};
}

std::string token_from_input(std::string_view input, bool header)
{
  if (input.size() > k_max_token_input) {
    throw TokenRejected("malformed", "input is longer than "
                                       + std::to_string(k_max_token_input) + " bytes");
  }
  auto trim = [](std::string_view s) {
    const auto ws = " \t\r\n";
    const auto b = s.find_first_not_of(ws);
    if (b == std::string_view::npos) {
      return std::string_view{};
    }
    return s.substr(b, s.find_last_not_of(ws) - b + 1);
  };
  auto s = trim(input);
  if (s.find('\n') != std::string_view::npos) {
    throw TokenRejected("malformed", "input has more than one line");
  }
  if (header) {
    auto lower_starts = [](std::string_view text, std::string_view word) {
      if (text.size() < word.size()) {
        return false;
      }
      for (std::size_t i = 0; i < word.size(); ++i) {
        char c = text[i];
        if (c >= 'A' && c <= 'Z') {
          c = static_cast<char>(c - 'A' + 'a');
        }
        if (c != word[i]) {
          return false;
        }
      }
      return true;
    };
    if (lower_starts(s, "authorization:")) {
      s = trim(s.substr(14));
    }
    if (!lower_starts(s, "bearer ")) {
      throw TokenRejected("malformed", "expected an 'Authorization: Bearer <token>' header");
    }
    s = trim(s.substr(7));
  }
  if (s.empty()) {
    throw TokenRejected("malformed", "no token given (empty input)");
  }
  return std::string(s);
}

} // namespace tokenadm
