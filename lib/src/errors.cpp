#include "tokenadm/errors.hpp"

#include "tokenadm/token.hpp"

namespace tokenadm {

namespace {

bool is_base62(char c)
{
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

} // namespace

std::string redact_tokens(const std::string& text)
{
  // Any run of [A-Za-z0-9_] that has a token's shape is replaced.
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    if (!is_base62(text[i]) && text[i] != '_') {
      out += text[i++];
      continue;
    }
    std::size_t j = i;
    while (j < text.size() && (is_base62(text[j]) || text[j] == '_')) {
      ++j;
    }
    std::string_view word(text.data() + i, j - i);
    out += looks_like_token(word) ? std::string("<redacted>") : std::string(word);
    i = j;
  }
  return out;
}

} // namespace tokenadm
