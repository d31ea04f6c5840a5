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

namespace {

// Reads `n` digits at `i` into `out`.
bool digits(std::string_view t, std::size_t& i, std::size_t n, int& out)
{
  if (i + n > t.size()) {
    return false;
  }
  out = 0;
  for (std::size_t k = 0; k < n; ++k, ++i) {
    if (t[i] < '0' || t[i] > '9') {
      return false;
    }
    out = out * 10 + (t[i] - '0');
  }
  return true;
}

bool is_time(std::string_view t)
{
  std::size_t i = 0;
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (!digits(t, i, 4, y) || i >= t.size() || t[i++] != '-' || !digits(t, i, 2, mo)
      || i >= t.size() || t[i++] != '-' || !digits(t, i, 2, d)) {
    return false;
  }
  static constexpr std::array<int, 12> k_days{31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > k_days[static_cast<std::size_t>(mo - 1)]
      || (mo == 2 && d == 29 && !leap)) {
    return false;
  }
  if (i == t.size()) {
    return true;
  }
  if ((t[i] != 'T' && t[i] != ' ') || !digits(t, ++i, 2, h) || i >= t.size() || t[i++] != ':'
      || !digits(t, i, 2, mi) || h > 23 || mi > 59) {
    return false;
  }
  if (i < t.size() && t[i] == ':') {
    if (!digits(t, ++i, 2, sec) || sec > 59) {
      return false;
    }
    if (i < t.size() && t[i] == '.') {
      const auto start = ++i;
      while (i < t.size() && t[i] >= '0' && t[i] <= '9') {
        ++i;
      }
      if (i == start || i - start > 6) {
        return false;
      }
    }
  }
  if (i == t.size()) {
    return true;
  }
  if (t[i] == 'Z' || t[i] == 'z') {
    return i + 1 == t.size();
  }
  if (t[i] != '+' && t[i] != '-') {
    return false;
  }
  int zh = 0, zm = 0;
  if (!digits(t, ++i, 2, zh) || zh > 15) {
    return false;
  }
  if (i < t.size() && t[i] == ':') {
    ++i;
  }
  if (i < t.size() && (!digits(t, i, 2, zm) || zm > 59)) {
    return false;
  }
  return i == t.size();
}

} // namespace

void check_time(std::string_view text, std::string_view what)
{
  if (text.size() > 40 || !is_time(text)) {
    std::string shown(text.substr(0, 40));
    for (auto& c : shown) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
        c = '?';
      }
    }
    throw UsageError(std::string(what) + ": '" + shown
                     + "' is not a time (use 2026-12-01, 2026-12-01T15:04:05Z or "
                       "2026-12-01 15:04:05+02:00)");
  }
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
