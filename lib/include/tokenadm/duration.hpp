// Durations as admins type them: 30s 30m 12h 90d 2w 1y (a year is 365 days).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tokenadm {

// Seconds in `text`. Throws UsageError naming `what` (e.g. "--expires-in")
// for empty, zero, negative, unit-less, unknown-unit or overflowing input.
std::int64_t parse_duration(std::string_view text, std::string_view what);

// Throws UsageError naming `what` (e.g. "--since") unless `text` is an ISO
// 8601 date (2026-12-01) or date and time (2026-12-01T15:04, 15:04:05 or
// 15:04:05.123456, after a 'T' or a space) with an optional zone (Z, +02,
// +02:00, +0200; none: the database's time zone), a real day of the calendar.
// These are the forms the tool prints and documents; PostgreSQL reads them.
void check_time(std::string_view text, std::string_view what);

// 7776000 -> "90d"; the largest unit that divides exactly.
std::string format_duration(std::int64_t seconds);

} // namespace tokenadm
