// libFuzzer harness: parse_duration, and that format_duration's output
// parses back to the same number of seconds.
#include "tokenadm/duration.hpp"
#include "tokenadm/errors.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::int64_t seconds = 0;
  try {
    seconds = tokenadm::parse_duration(input, "--fuzz");
  } catch (const tokenadm::UsageError&) {
    return 0;
  }
  if (seconds <= 0) {
    std::abort();
  }
  // Throws (and so crashes the harness) if the formatted text is refused.
  if (tokenadm::parse_duration(tokenadm::format_duration(seconds), "--fuzz") != seconds) {
    std::abort();
  }
  return 0;
}
