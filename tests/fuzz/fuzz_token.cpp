// libFuzzer harness: token parsing and the helpers that decide what may be
// printed (looks_like_token, redact_tokens, printable_id), on arbitrary bytes.
#include "tokenadm/errors.hpp"
#include "tokenadm/token.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
  const std::string input(reinterpret_cast<const char*>(data), size);
  const bool shaped = tokenadm::looks_like_token(input);
  const std::string redacted = tokenadm::redact_tokens(input);

  bool parsed = false;
  try {
    const auto t = tokenadm::parse_token(input);
    parsed = true;
    // A parsed token's parts are what the format says they are.
    if (!tokenadm::valid_prefix(t.prefix) || !tokenadm::valid_id(t.id)) {
      std::abort();
    }
  } catch (const tokenadm::TokenRejected& e) {
    if (e.reason() != "malformed" && e.reason() != "checksum") {
      std::abort();
    }
    // The shape check and the parser agree on what is malformed.
    if ((e.reason() == "malformed") == shaped) {
      std::abort();
    }
  }
  // Anything that parses has the shape, and is never echoed.
  if (parsed && (!shaped || redacted.find("<redacted>") == std::string::npos)) {
    std::abort();
  }
  if (shaped && redacted.find(input) != std::string::npos) {
    std::abort();
  }
  // Redaction leaves nothing to redact.
  if (tokenadm::redact_tokens(redacted) != redacted) {
    std::abort();
  }
  // What may be shown of a supposed ID is never a token.
  const auto shown = tokenadm::printable_id(input);
  if (tokenadm::looks_like_token(shown)) {
    std::abort();
  }
  return 0;
}
