// Durations as admins type them: 30s 30m 12h 90d 2w 1y (a year is 365 days).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tokenadm {

// Seconds in `text`. Throws UsageError naming `what` (e.g. "--expires-in")
// for empty, zero, negative, unit-less, unknown-unit or overflowing input.
std::int64_t parse_duration(std::string_view text, std::string_view what);

// 7776000 -> "90d"; the largest unit that divides exactly.
std::string format_duration(std::int64_t seconds);

} // namespace tokenadm
