// Unit tests for tokenadm/duration.hpp.
#include <doctest/doctest.h>

#include "tokenadm/duration.hpp"
#include "tokenadm/errors.hpp"

#include <cstdint>
#include <string>

using namespace tokenadm;

namespace {

constexpr const char* k_opt = "--expires-in";

// what() of the UsageError thrown by parse_duration(text), or a marker.
std::string usage_message(const std::string& text)
{
  try {
    (void)parse_duration(text, k_opt);
  } catch (const UsageError& e) {
    CHECK(e.code() == "usage");
    CHECK(e.exit_code() == 2);
    return e.what();
  } catch (...) {
    return "<other exception>";
  }
  return "<accepted>";
}

bool contains(const std::string& s, const std::string& part)
{
  return s.find(part) != std::string::npos;
}

} // namespace

TEST_CASE("parse_duration accepts every unit")
{
  CHECK(parse_duration("30s", k_opt) == 30);
  CHECK(parse_duration("1s", k_opt) == 1);
  CHECK(parse_duration("30m", k_opt) == 1800);
  CHECK(parse_duration("12h", k_opt) == 43200);
  CHECK(parse_duration("90d", k_opt) == 7776000);
  CHECK(parse_duration("2w", k_opt) == 1209600);
  CHECK(parse_duration("1y", k_opt) == 31536000);
  CHECK(parse_duration("10y", k_opt) == 315360000);
  CHECK(parse_duration("007d", k_opt) == 7 * 86400);
  CHECK(parse_duration("3600s", k_opt) == 3600);
}

TEST_CASE("parse_duration rejects bad input with a UsageError naming the option")
{
  for (const std::string bad :
       {"", "0", "-5d", "1x", "d", "5", "5 d", " 5d", "5d ", "+5d", "5.5d", "5D", "5Y", "1dd",
        "d5", "5sec", "1e3s", "0x10s", "99999999999999999999y", "9223372036854775807s",
        "9223372036854775808s", "999999999999999999y", "99999999999999999999999999999s"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS((void)parse_duration(bad, k_opt), UsageError);
    const auto msg = usage_message(bad);
    CHECK(contains(msg, k_opt));
  }
}

TEST_CASE("parse_duration names whatever option it is given")
{
  CHECK(contains(usage_message("1x"), "--expires-in"));
  try {
    (void)parse_duration("nope", "--max-age");
    FAIL("accepted 'nope'");
  } catch (const UsageError& e) {
    CHECK(contains(e.what(), "--max-age"));
  }
}

TEST_CASE("parse_duration rejects zero with 'longer than zero'")
{
  for (const std::string zero : {"0d", "0s", "0y", "00h"}) {
    CAPTURE(zero);
    const auto msg = usage_message(zero);
    CHECK(contains(msg, k_opt));
    CHECK(contains(msg, "longer than zero"));
  }
}

TEST_CASE("parse_duration does not overflow")
{
  // Large but sane values are fine; nothing that would overflow int64 is.
  CHECK(parse_duration("1000y", k_opt) == 1000LL * 31536000LL);
  for (const std::string big : {"9999999999999999999d", "9999999999999999999w",
                                "999999999999999999y", "9223372036854775807s"}) {
    CAPTURE(big);
    CHECK_THROWS_AS((void)parse_duration(big, k_opt), UsageError);
  }
}

TEST_CASE("format_duration uses the largest unit that divides exactly, weeks aside")
{
  CHECK(format_duration(7776000) == "90d");
  CHECK(format_duration(3600) == "1h");
  CHECK(format_duration(90) == "90s");
  CHECK(format_duration(120) == "2m");
  CHECK(format_duration(1800) == "30m");
  CHECK(format_duration(43200) == "12h");
  CHECK(format_duration(86400) == "1d");
  CHECK(format_duration(604800) == "7d"); // weeks are parsed, not printed
  CHECK(format_duration(1209600) == "14d");
  CHECK(format_duration(31536000) == "1y");
  CHECK(format_duration(2 * 31536000) == "2y");
  CHECK(format_duration(31536000 + 86400) == "366d");
  CHECK(format_duration(1) == "1s");
  CHECK(format_duration(0) == "0s");
}

TEST_CASE("format_duration and parse_duration round-trip")
{
  for (const std::int64_t s :
       {std::int64_t{1}, std::int64_t{59}, std::int64_t{60}, std::int64_t{61}, std::int64_t{3600},
        std::int64_t{86400}, std::int64_t{90061}, std::int64_t{604800}, std::int64_t{7776000},
        std::int64_t{31536000}, std::int64_t{31449600}}) {
    CAPTURE(s);
    CHECK(parse_duration(format_duration(s), k_opt) == s);
  }
  for (const std::string text : {"30s", "30m", "12h", "90d", "1y"}) {
    CHECK(format_duration(parse_duration(text, k_opt)) == text);
  }
}
