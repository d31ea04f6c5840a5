// libFuzzer harness: token_from_input, with and without the
// "Authorization: Bearer" header form.
#include "tokenadm/errors.hpp"
#include "tokenadm/token.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

void check(std::string_view input, bool header)
{
  try {
    const auto token = tokenadm::token_from_input(input, header);
    // The result is one non-empty, trimmed line taken from the input.
    if (token.empty() || token.size() > input.size() || token.find('\n') != std::string::npos ||
        std::string_view(" \t\r\n").find(token.front()) != std::string_view::npos ||
        std::string_view(" \t\r\n").find(token.back()) != std::string_view::npos ||
        input.find(token) == std::string_view::npos) {
      std::abort();
    }
  } catch (const tokenadm::TokenRejected& e) {
    if (e.reason() != "malformed") {
      std::abort();
    }
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  check(input, false);
  check(input, true);
  return 0;
}
