// Unit tests for tokenadm/token.hpp (no database).
#include <doctest/doctest.h>

#include "tokenadm/errors.hpp"
#include "tokenadm/token.hpp"

#include <map>
#include <regex>
#include <set>
#include <string>
#include <string_view>

using namespace tokenadm;

namespace {

constexpr std::string_view k_base62 =
  "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

bool is_base62(char c)
{
  return k_base62.find(c) != std::string_view::npos;
}

// The reason word of the TokenRejected thrown by f, "accepted" if nothing was
// thrown, "other" for any other exception. Also checks that what() starts
// with the reason word.
template <class F>
std::string reject_reason(F&& f)
{
  try {
    f();
  } catch (const TokenRejected& e) {
    const std::string what = e.what();
    CHECK(what.rfind(e.reason() + ": ", 0) == 0);
    CHECK(e.code() == e.reason());
    return e.reason();
  } catch (...) {
    return "other";
  }
  return "accepted";
}

std::string parse_reason(std::string_view token)
{
  return reject_reason([&] { (void)parse_token(token); });
}

std::string input_reason(std::string_view input, bool header)
{
  return reject_reason([&] { (void)token_from_input(input, header); });
}

// A token with a correct checksum built from explicit parts.
std::string make_token(const std::string& prefix, const std::string& id,
                       const std::string& secret)
{
  const std::string body = prefix + "_" + id + "_" + secret;
  return body + check_chars(body);
}

} // namespace

TEST_CASE("generate_token has the documented shape and parses back")
{
  const std::regex shape("^tka_[0-9A-Za-z]{10}_[0-9A-Za-z]{38}$");
  for (int i = 0; i < 50; ++i) {
    const auto t = generate_token("tka");
    CHECK(t.size() == 53);
    CHECK(std::regex_match(t, shape));
    CHECK(looks_like_token(t));
    const auto p = parse_token(t);
    CHECK(p.prefix == "tka");
    CHECK(p.id == t.substr(4, 10));
    CHECK(valid_id(p.id));
    // the last 6 characters are the checksum of everything before them
    CHECK(t.substr(47) == check_chars(t.substr(0, 47)));
  }
}

TEST_CASE("generate_token works with other valid prefixes")
{
  for (const std::string prefix : {"a", "gs", "tka", "abcdefgh"}) {
    CAPTURE(prefix);
    REQUIRE(valid_prefix(prefix));
    const auto t = generate_token(prefix);
    CHECK(t.size() == prefix.size() + 1 + k_id_len + 1 + k_secret_len + k_check_len);
    const auto p = parse_token(t);
    CHECK(p.prefix == prefix);
    CHECK(p.id == t.substr(prefix.size() + 1, k_id_len));
  }
}

TEST_CASE("1000 generated tokens (and their ids) are distinct")
{
  std::set<std::string> tokens;
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) {
    const auto t = generate_token("tka");
    tokens.insert(t);
    ids.insert(parse_token(t).id);
  }
  CHECK(tokens.size() == 1000);
  CHECK(ids.size() == 1000);
}

TEST_CASE("generate_tokens makes n distinct tokens of the shape, across its buffer's refills")
{
  CHECK(generate_tokens("tka", 0).empty());
  // 1,000 tokens draw about 43,000 random bytes: ten refills of the
  // 4,096-byte buffer.
  const auto made = generate_tokens("tkb", 1000);
  REQUIRE(made.size() == 1000);
  std::set<std::string> tokens(made.begin(), made.end());
  std::set<std::string> ids;
  std::map<char, int> counts;
  for (const auto& t : made) {
    const auto p = parse_token(t); // shape and check characters
    CHECK(p.prefix == "tkb");
    ids.insert(p.id);
    for (char c : t.substr(4, k_id_len + 1 + k_secret_len)) {
      ++counts[c];
    }
  }
  CHECK(tokens.size() == 1000);
  CHECK(ids.size() == 1000);
  // 42,000 id and secret characters and 1,000 '_': expected 677 of each
  // symbol, sd ~26; [450, 900] is ~8 sd either side.
  CHECK(counts.size() == 63);
  for (const auto& [symbol, count] : counts) {
    const char c = symbol;
    CAPTURE(c);
    if (c != '_') {
      CHECK(count > 450);
      CHECK(count < 900);
    }
  }
}

TEST_CASE("random_base62 returns n base62 characters, roughly uniform")
{
  CHECK(random_base62(0).empty());
  CHECK(random_base62(1).size() == 1);
  CHECK(random_base62(1000).size() == 1000);

  const std::size_t n = 62 * 200;
  const auto s = random_base62(n);
  REQUIRE(s.size() == n);
  std::map<char, int> counts;
  for (char c : s) {
    CHECK(is_base62(c));
    ++counts[c];
  }
  CHECK(counts.size() == 62); // every symbol seen
  // Expected 200 each, sd ~14: [100, 300] is ~7 sd either side.
  for (const auto& [symbol, count] : counts) {
    const char c = symbol; // clang 14 cannot CAPTURE a structured binding
    CAPTURE(c);
    CHECK(count > 100);
    CHECK(count < 300);
  }
}

TEST_CASE("crc32 and check_chars")
{
  CHECK(crc32("123456789") == 0xCBF43926u);
  CHECK(crc32("") == 0u);
  CHECK(crc32("a") == 0xE8B7BE43u);

  for (const std::string_view s : {"", "a", "123456789", "tka_0123456789_abc",
                                   "\xff\xff\xff\xff", "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"}) {
    const auto c = check_chars(s);
    CHECK(c.size() == 6);
    for (char ch : c) {
      CHECK(is_base62(ch));
    }
  }
  for (int i = 0; i < 200; ++i) {
    CHECK(check_chars(random_base62(static_cast<std::size_t>(i))).size() == 6);
  }
  CHECK(check_chars("abc") == check_chars("abc"));
  CHECK(check_chars("abc") != check_chars("abd"));
}

TEST_CASE("valid_prefix and valid_id")
{
  CHECK(valid_prefix("tka"));
  CHECK(valid_prefix("a"));
  CHECK(valid_prefix("abcdefgh"));
  CHECK_FALSE(valid_prefix(""));
  CHECK_FALSE(valid_prefix("abcdefghi"));
  CHECK_FALSE(valid_prefix("TKA"));
  CHECK_FALSE(valid_prefix("tk1"));
  CHECK_FALSE(valid_prefix("tk_"));
  CHECK_FALSE(valid_prefix("tk-a"));

  CHECK(valid_id("0123456789"));
  CHECK(valid_id("AbCdEfGhIj"));
  CHECK_FALSE(valid_id("012345678"));
  CHECK_FALSE(valid_id("0123456789A"));
  CHECK_FALSE(valid_id("012345678_"));
  CHECK_FALSE(valid_id("012345678-"));
  CHECK_FALSE(valid_id(""));
}

TEST_CASE("every single-character substitution in a valid token is rejected")
{
  for (int round = 0; round < 3; ++round) {
    const auto t = generate_token(round == 2 ? "abcdefgh" : "tka");
    REQUIRE_NOTHROW((void)parse_token(t));
    for (std::size_t pos = 0; pos < t.size(); ++pos) {
      for (char c : k_base62) {
        if (c == t[pos]) {
          continue;
        }
        std::string bad = t;
        bad[pos] = c;
        const auto reason = parse_reason(bad);
        CAPTURE(pos);
        CAPTURE(bad);
        CHECK((reason == "checksum" || reason == "malformed"));
      }
    }
  }
}

TEST_CASE("substitutions inside the id, secret and check give reason 'checksum'")
{
  const auto t = generate_token("tka");
  // lower-case letters in the prefix keep the shape, so the checksum catches them
  for (std::size_t pos = 0; pos < 3; ++pos) {
    std::string bad = t;
    bad[pos] = (t[pos] == 'q') ? 'r' : 'q';
    CAPTURE(bad);
    CHECK(parse_reason(bad) == "checksum");
  }
  for (std::size_t pos = 4; pos < t.size(); ++pos) {
    if (pos == 14) {
      continue; // the second '_'
    }
    std::string bad = t;
    bad[pos] = (t[pos] == 'Z') ? 'Y' : 'Z';
    CAPTURE(bad);
    CHECK(parse_reason(bad) == "checksum");
  }
  // swapping two distinct adjacent secret characters is caught as well
  std::string swapped = t;
  for (std::size_t pos = 15; pos + 1 < 47; ++pos) {
    if (swapped[pos] != swapped[pos + 1]) {
      std::swap(swapped[pos], swapped[pos + 1]);
      break;
    }
  }
  if (swapped != t) {
    CHECK(parse_reason(swapped) == "checksum");
  }
}

TEST_CASE("malformed tokens are rejected with reason 'malformed'")
{
  const auto t = generate_token("tka");
  const std::string id = t.substr(4, 10);
  const std::string secret = t.substr(15, 32);

  CHECK(parse_reason("") == "malformed");
  CHECK(parse_reason("tka") == "malformed");
  CHECK(parse_reason("tka_") == "malformed");
  CHECK(parse_reason("tka__") == "malformed");
  CHECK(parse_reason("tka_short_x") == "malformed");
  CHECK(parse_reason("_" + id + "_" + t.substr(15)) == "malformed");

  // wrong prefix characters, even with a correct checksum
  std::string upper = t;
  upper.replace(0, 3, "TKA");
  CHECK(parse_reason(upper) == "malformed");
  CHECK(parse_reason(make_token("TKA", id, secret)) == "malformed");
  CHECK(parse_reason(make_token("tk1", id, secret)) == "malformed");
  CHECK(parse_reason(make_token("tk-a", id, secret)) == "malformed");
  // prefix longer than 8, checksum correct
  CHECK(parse_reason(make_token("abcdefghi", id, secret)) == "malformed");
  CHECK_NOTHROW((void)parse_token(make_token("abcdefgh", id, secret)));

  // extra or missing characters
  CHECK(parse_reason(t + "x") == "malformed");
  CHECK(parse_reason(t + "0") == "malformed");
  CHECK(parse_reason(t + "_") == "malformed");
  CHECK(parse_reason(t.substr(0, t.size() - 1)) == "malformed");
  CHECK(parse_reason(make_token("tka", id + "x", secret)) == "malformed");
  CHECK(parse_reason(make_token("tka", id.substr(1), secret)) == "malformed");
  CHECK(parse_reason(make_token("tka", id, secret + "x")) == "malformed");
  CHECK(parse_reason(make_token("tka", id, secret.substr(1))) == "malformed");
  CHECK(parse_reason(make_token("tka", id, secret.substr(0, 16) + "_" + secret.substr(17)))
        == "malformed");

  // non-base62 characters
  for (const char c : {'-', '!', '+', '/', '=', '.', ' ', '\t', '\n', '\0', '\x80'}) {
    for (const std::size_t pos : {std::size_t{5}, std::size_t{20}, std::size_t{50}}) {
      std::string bad = t;
      bad[pos] = c;
      CAPTURE(pos);
      CHECK(parse_reason(bad) == "malformed");
    }
  }

  // surrounding whitespace is not trimmed by parse_token
  CHECK(parse_reason(t + " ") == "malformed");
  CHECK(parse_reason(" " + t) == "malformed");
  CHECK(parse_reason(t + "\n") == "malformed");
}

TEST_CASE("a prefixed extra lower-case letter keeps the shape but fails the checksum")
{
  const auto t = generate_token("tka");
  CHECK(parse_reason("x" + t) == "checksum");
}

TEST_CASE("parse_token error messages name no secret")
{
  const auto t = generate_token("tka");
  std::string bad = t;
  bad[30] = (t[30] == 'Z') ? 'Y' : 'Z';
  try {
    (void)parse_token(bad);
    FAIL("accepted a bad token");
  } catch (const TokenRejected& e) {
    CHECK(std::string(e.what()).find(bad.substr(15, 32)) == std::string::npos);
    CHECK(e.exit_code() == 2);
  }
}

TEST_CASE("looks_like_token")
{
  const auto t = generate_token("tka");
  CHECK(looks_like_token(t));
  CHECK(looks_like_token(generate_token("abcdefgh")));
  // shape only: a wrong checksum still looks like a token
  std::string bad = t;
  bad[52] = (t[52] == 'Z') ? 'Y' : 'Z';
  CHECK(looks_like_token(bad));

  CHECK_FALSE(looks_like_token(""));
  CHECK_FALSE(looks_like_token("tka"));
  CHECK_FALSE(looks_like_token("tka_short_x"));
  CHECK_FALSE(looks_like_token("hello world"));
  CHECK_FALSE(looks_like_token(t.substr(4, 10))); // just the id
  CHECK_FALSE(looks_like_token(t + "x"));
  CHECK_FALSE(looks_like_token(t.substr(0, 52)));
  CHECK_FALSE(looks_like_token(t + " "));
  CHECK_FALSE(looks_like_token(" " + t));
  std::string upper = t;
  upper.replace(0, 3, "TKA");
  CHECK_FALSE(looks_like_token(upper));
  CHECK_FALSE(looks_like_token("abcdefghi" + t.substr(3)));
}

TEST_CASE("token_from_input trims whitespace")
{
  const auto t = generate_token("tka");
  CHECK(token_from_input(t, false) == t);
  CHECK(token_from_input(t + "\n", false) == t);
  CHECK(token_from_input(t + "\r\n", false) == t);
  CHECK(token_from_input("  \t" + t + " \t\n", false) == t);
  CHECK(token_from_input("\n" + t + "\n\n", false) == t);
  // it does not validate the token itself
  CHECK(token_from_input(" abc ", false) == "abc");
  // without header, a Bearer prefix is not stripped
  CHECK(token_from_input("Bearer abc", false) == "Bearer abc");
}

TEST_CASE("token_from_input rejects empty and over-long input")
{
  CHECK(input_reason("", false) == "malformed");
  CHECK(input_reason("   ", false) == "malformed");
  CHECK(input_reason("\n", false) == "malformed");
  CHECK(input_reason(" \t\r\n ", false) == "malformed");
  CHECK(input_reason("", true) == "malformed");

  const std::string max(k_max_token_input, 'a');
  CHECK(token_from_input(max, false) == max);
  CHECK(input_reason(std::string(k_max_token_input + 1, 'a'), false) == "malformed");
  CHECK(input_reason(std::string(100000, 'a'), false) == "malformed");
  CHECK(input_reason(std::string(k_max_token_input + 1, ' '), false) == "malformed");
  CHECK(input_reason("Bearer " + std::string(k_max_token_input, 'a'), true) == "malformed");
}

TEST_CASE("token_from_input rejects multi-line input")
{
  const auto t = generate_token("tka");
  CHECK(input_reason(t + "\n" + t, false) == "malformed");
  CHECK(input_reason(t + "\nsecond line\n", false) == "malformed");
  CHECK(input_reason("a\nb", false) == "malformed");
  CHECK(input_reason("Authorization: Bearer " + t + "\nX-Other: 1", true) == "malformed");
}

TEST_CASE("token_from_input with header")
{
  const auto t = generate_token("tka");
  CHECK(token_from_input("Authorization: Bearer " + t, true) == t);
  CHECK(token_from_input("authorization: bearer " + t, true) == t);
  CHECK(token_from_input("AUTHORIZATION: BEARER " + t, true) == t);
  CHECK(token_from_input("Authorization:Bearer " + t, true) == t);
  CHECK(token_from_input("Authorization:   Bearer   " + t + "  \r\n", true) == t);
  CHECK(token_from_input("Bearer " + t, true) == t);
  CHECK(token_from_input("bearer " + t + "\n", true) == t);

  CHECK(input_reason("Basic " + t, true) == "malformed");
  CHECK(input_reason("Authorization: Basic " + t, true) == "malformed");
  CHECK(input_reason(t, true) == "malformed"); // header required
  CHECK(input_reason("Authorization: " + t, true) == "malformed");
  CHECK(input_reason("Bearer", true) == "malformed");
  CHECK(input_reason("Bearer ", true) == "malformed");
  CHECK(input_reason("Authorization: Bearer ", true) == "malformed");
  CHECK(input_reason("Authorization: Bearer    \n", true) == "malformed");
  CHECK(input_reason("Bearer" + t, true) == "malformed");
}
