#include "tokenadm/duration.hpp"

#include "tokenadm/errors.hpp"

#include <array>
#include <limits>
#include <utility>

namespace tokenadm {

namespace {

constexpr std::array<std::pair<char, std::int64_t>, 6> k_units{{
  {'y', 365 * 86400},
  {'w', 7 * 86400},
  {'d', 86400},
  {'h', 3600},
  {'m', 60},
  {'s', 1},
}};

} // namespace

std::int64_t parse_duration(std::string_view text, std::string_view what)
{
  const std::string bad = std::string(what) + ": '" + std::string(text.substr(0, 32))
                          + "' is not a duration (use a positive number with a unit: "
                            "30m, 12h, 90d, 2w, 1y)";
  if (text.size() < 2 || text.size() > 20) {
    throw UsageError(bad);
  }
  std::int64_t n = 0;
  for (std::size_t i = 0; i + 1 < text.size(); ++i) {
    const char c = text[i];
    if (c < '0' || c > '9') {
      throw UsageError(bad);
    }
    if (n > (std::numeric_limits<std::int64_t>::max() - 9) / 10) {
      throw UsageError(bad);
    }
    n = n * 10 + (c - '0');
  }
  for (const auto& [unit, secs] : k_units) {
    if (unit == text.back()) {
      if (n == 0) {
        throw UsageError(std::string(what) + ": must be longer than zero");
      }
      if (n > std::numeric_limits<std::int64_t>::max() / secs / 1000) {
        throw UsageError(bad);
      }
      return n * secs;
    }
  }
  throw UsageError(bad);
}

std::string format_duration(std::int64_t seconds)
{
  for (const auto& [unit, secs] : k_units) {
    // Weeks are accepted but not printed: "7d" reads better than "1w".
    if (unit != 'w' && seconds != 0 && seconds % secs == 0) {
      return std::to_string(seconds / secs) + unit;
    }
  }
  return std::to_string(seconds) + "s";
}

} // namespace tokenadm
