// Unit tests for tokenadm/errors.hpp.
#include <doctest/doctest.h>

#include "tokenadm/errors.hpp"
#include "tokenadm/token.hpp"

#include <string>

using namespace tokenadm;

TEST_CASE("redact_tokens replaces tokens and leaves other words alone")
{
  const auto t = generate_token("tka");
  CHECK(redact_tokens("the token " + t + " was rejected") == "the token <redacted> was rejected");
  CHECK(redact_tokens(t) == "<redacted>");
  CHECK(redact_tokens("(" + t + ").") == "(<redacted>).");
  CHECK(redact_tokens("'" + t + "'") == "'<redacted>'");
  CHECK(redact_tokens("token=" + t + "\n") == "token=<redacted>\n");
  CHECK(redact_tokens("Authorization: Bearer " + t) == "Authorization: Bearer <redacted>");

  const auto u = generate_token("gs");
  CHECK(redact_tokens(t + " and " + u) == "<redacted> and <redacted>");

  // shape only: a token with a bad checksum is still redacted
  std::string bad = t;
  bad[52] = (t[52] == 'Z') ? 'Y' : 'Z';
  CHECK(redact_tokens("got " + bad) == "got <redacted>");

  // things that are not tokens are untouched
  const std::string plain = "no token here: abc_def snake_case_word tka_short_x 12345, id "
                            + t.substr(4, 10) + "!";
  CHECK(redact_tokens(plain) == plain);
  CHECK(redact_tokens("") == "");
  CHECK(redact_tokens("___") == "___");
  CHECK(redact_tokens("a\tb\nc") == "a\tb\nc");
}

TEST_CASE("redacted output contains no part of the secret")
{
  for (int i = 0; i < 100; ++i) {
    const auto t = generate_token("tka");
    const auto out = redact_tokens("x " + t + " y");
    CHECK(out == "x <redacted> y");
    CHECK(out.find(t.substr(15, 32)) == std::string::npos);
  }
}

TEST_CASE("exit codes and codes of the error types")
{
  CHECK(ConnectError("x").exit_code() == 1);
  CHECK(UsageError("x").exit_code() == 2);
  CHECK(DbError("x").exit_code() == 2);
  CHECK(ConfigError("x").exit_code() == 2);
  CHECK(NotFound("x").exit_code() == 2);
  CHECK(TokenRejected("revoked", "x").exit_code() == 2);
  CHECK(Error("rng", "x").exit_code() == 2);

  CHECK(ConnectError("x").code() == "connect");
  CHECK(UsageError("x").code() == "usage");
  CHECK(ConfigError("x").code() == "config");
  CHECK(DbError("x").code() == "database");
  CHECK(DbError("x", "conflict").code() == "conflict");
  CHECK(NotFound("x").code() == "not_found");

  // exit_code is virtual: correct through a base reference too
  try {
    throw ConnectError("down");
  } catch (const Error& e) {
    CHECK(e.exit_code() == 1);
    CHECK(std::string(e.what()) == "down");
  }
  try {
    throw NotFound("gone");
  } catch (const std::runtime_error& e) {
    CHECK(dynamic_cast<const Error&>(e).exit_code() == 2);
  }
}

TEST_CASE("TokenRejected carries its reason")
{
  const TokenRejected e("revoked", "x");
  CHECK(std::string(e.what()) == "revoked: x");
  CHECK(e.reason() == "revoked");
  CHECK(e.code() == "revoked");
  for (const std::string reason :
       {"malformed", "checksum", "unknown", "revoked", "expired", "forbidden"}) {
    const TokenRejected r(reason, "detail");
    CHECK(r.reason() == reason);
    CHECK(std::string(r.what()) == reason + ": detail");
  }
}
