// libFuzzer harness: what `token verify --batch` does with each input line
// before any database work: lines split at '\n', over-long ones dropped,
// then token_from_input (plain and --header) and precheck_token.
// (tokencli's own reader lives in the CLI, which needs CLI11: not linked.)
#include "tokenadm/errors.hpp"
#include "tokenadm/store.hpp"
#include "tokenadm/token.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

void check_line(const std::string& line, bool header)
{
  std::string token;
  try {
    token = tokenadm::token_from_input(line, header);
  } catch (const tokenadm::TokenRejected& e) {
    if (e.reason() != "malformed") {
      std::abort();
    }
    return;
  }
  const bool legacy = tokenadm::looks_like_legacy_token(token);
  // A legacy token never has a tokenadm token's shape (nor a '_').
  if (legacy && (tokenadm::looks_like_token(token) || token.find('_') != std::string::npos)) {
    std::abort();
  }
  try {
    tokenadm::precheck_token(token);
    // Passed: a legacy token, or a tokenadm token whose checksum matches.
    if (!legacy) {
      (void)tokenadm::parse_token(token); // throws, and so crashes, if not
    }
  } catch (const tokenadm::TokenRejected& e) {
    if (legacy || (e.reason() != "malformed" && e.reason() != "checksum")) {
      std::abort();
    }
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::size_t start = 0;
  while (start < input.size()) {
    auto end = input.find('\n', start);
    if (end == std::string_view::npos) {
      end = input.size();
    }
    const std::string line(input.substr(start, end - start));
    // Like run_batch: a line over the limit is answered "deny malformed"
    // without being looked at.
    if (line.size() <= tokenadm::k_max_token_input) {
      check_line(line, false);
      check_line(line, true);
    }
    start = end + 1;
  }
  return 0;
}
