// Unit tests for tokenadm/dsn.hpp (libpq parsing only; no connection is made).
#include <doctest/doctest.h>

#include "tokenadm/dsn.hpp"
#include "tokenadm/errors.hpp"
#include "tokenadm/token.hpp"

#include <cstdlib>
#include <string>

using namespace tokenadm;

namespace {

bool contains(const std::string& s, const std::string& part)
{
  return s.find(part) != std::string::npos;
}

// Environment variables that change dsn.cpp's behaviour, cleared around each
// test that uses this guard.
struct CleanEnv {
  CleanEnv() { clear(); }
  ~CleanEnv() { clear(); }
  CleanEnv(const CleanEnv&) = delete;
  CleanEnv& operator=(const CleanEnv&) = delete;
  static void clear()
  {
    unsetenv("PGCONNECT_TIMEOUT");
    unsetenv("PGPASSWORD");
    unsetenv("TOKENADM_DSN");
  }
};

struct Thrown {
  bool connect_error = false;
  int exit_code = -1;
  std::string what;
};

Thrown normalise_failure(const std::string& dsn)
{
  Thrown t;
  try {
    (void)normalise_dsn(dsn);
    t.what = "<accepted>";
  } catch (const ConnectError& e) {
    t.connect_error = true;
    t.exit_code = e.exit_code();
    t.what = e.what();
  } catch (const std::exception& e) {
    t.what = std::string("<other exception> ") + e.what();
  }
  return t;
}

} // namespace

TEST_CASE("normalise_dsn rejects unknown schemes with a hint")
{
  CleanEnv env;
  const auto t = normalise_failure("posgres://u@h/db");
  CHECK(t.connect_error);
  CHECK(t.exit_code == 1);
  CHECK(contains(t.what, "postgresql://"));

  for (const std::string dsn : {"posgresql://u@h/db", "postgre://u@h/db"}) {
    const auto r = normalise_failure(dsn);
    CHECK(r.connect_error);
    CHECK(contains(r.what, "did you mean postgresql://"));
  }

  CHECK_THROWS_AS((void)normalise_dsn("mysql://x"), ConnectError);
  CHECK_THROWS_AS((void)normalise_dsn("http://h/db"), ConnectError);
  CHECK_THROWS_AS((void)normalise_dsn("sqlite:///tmp/x.db"), ConnectError);
  const auto m = normalise_failure("mysql://x");
  CHECK(m.connect_error);
  CHECK(m.exit_code == 1);
  CHECK(contains(m.what, "mysql"));
}

TEST_CASE("normalise_dsn rejects strings libpq cannot parse, without echoing them")
{
  CleanEnv env;
  const auto t = normalise_failure("not a dsn at all");
  CHECK(t.connect_error);
  CHECK(t.exit_code == 1);
  CHECK_FALSE(contains(t.what, "not a dsn"));
  CHECK_FALSE(t.what.empty());

  CHECK(normalise_failure("host=x bogus").connect_error);
  CHECK(normalise_failure("host='unterminated").connect_error);
  CHECK(normalise_failure("nosuchkeyword=1").connect_error);
  CHECK(normalise_failure("postgresql://u@h/db?nosuchparam=1").connect_error);
}

TEST_CASE("a password in a bad DSN never appears in the exception message")
{
  CleanEnv env;
  for (const std::string dsn :
       {"posgres://u:CANARYPW@h/db", "mysql://u:CANARYPW@h/db", "host=x password=CANARYPW bogus",
        "password=CANARYPW host='unterminated", "password=CANARYPW nosuchkeyword=1",
        "postgresql://u:CANARYPW@h/db?nosuchparam=1", "postgresql://u@h/db?password=CANARYPW&x=1",
        "CANARYPW", "CANARYPW host=x"}) {
    CAPTURE(dsn);
    const auto t = normalise_failure(dsn);
    CHECK(t.connect_error);
    CHECK_FALSE(contains(t.what, "CANARYPW"));
  }
}

TEST_CASE("normalise_dsn rebuilds URIs (and SQLAlchemy URLs) as key=value with connect_timeout")
{
  CleanEnv env;
  const std::string want = "user='u' dbname='db' host='h' connect_timeout='10'";
  CHECK(normalise_dsn("postgresql+psycopg2://u@h/db") == want);
  CHECK(normalise_dsn("postgres+psycopg2://u@h/db") == want);
  CHECK(normalise_dsn("postgresql://u@h/db") == want);
  CHECK(normalise_dsn("postgres://u@h/db") == want);
  CHECK(normalise_dsn("postgresql://u@h/db?sslmode=disable")
        == "user='u' dbname='db' host='h' sslmode='disable' connect_timeout='10'");
  CHECK(normalise_dsn("postgresql+psycopg2://u:pw@h:5433/db?sslmode=require")
        == "user='u' password='pw' dbname='db' host='h' port='5433' sslmode='require'"
           " connect_timeout='10'");
  CHECK(normalise_dsn("host=x dbname=y") == "dbname='y' host='x' connect_timeout='10'");
  CHECK(normalise_dsn("dbname=y") == "dbname='y' connect_timeout='10'");
  CHECK(k_default_connect_timeout == 10);
}

TEST_CASE("normalise_dsn handles trailing separators and '?' in passwords")
{
  CleanEnv env;
  CHECK(normalise_dsn("postgresql://u@h/db?") == "user='u' dbname='db' host='h' connect_timeout='10'");
  CHECK(normalise_dsn("postgresql://u@h/db?sslmode=disable&")
        == "user='u' dbname='db' host='h' sslmode='disable' connect_timeout='10'");
  CHECK(normalise_dsn("postgresql://u:pa%3Fss@h/db")
        == "user='u' password='pa?ss' dbname='db' host='h' connect_timeout='10'");
  // Quotes and backslashes in values are escaped.
  CHECK(normalise_dsn("password='it\\'s\\\\x'") == "password='it\\'s\\\\x' connect_timeout='10'");
}

TEST_CASE("normalise_dsn keeps an existing connect_timeout")
{
  CleanEnv env;
  CHECK(normalise_dsn("postgresql://u@h/db?connect_timeout=3")
        == "user='u' connect_timeout='3' dbname='db' host='h'");
  CHECK(normalise_dsn("postgresql+psycopg2://u@h/db?connect_timeout=3")
        == "user='u' connect_timeout='3' dbname='db' host='h'");
  CHECK(normalise_dsn("host=x connect_timeout=5 dbname=y")
        == "connect_timeout='5' dbname='y' host='x'");
  CHECK(normalise_dsn("connect_timeout=0") == "connect_timeout='0'");
}

TEST_CASE("normalise_dsn of an empty DSN")
{
  CleanEnv env;
  CHECK(normalise_dsn("") == "connect_timeout='10'");
}

TEST_CASE("normalise_dsn leaves connect_timeout to PGCONNECT_TIMEOUT when it is set")
{
  CleanEnv env;
  setenv("PGCONNECT_TIMEOUT", "4", 1);
  CHECK(normalise_dsn("") == "");
  CHECK(normalise_dsn("host=x") == "host='x'");
  CHECK(normalise_dsn("postgresql+psycopg2://u@h/db") == "user='u' dbname='db' host='h'");
  unsetenv("PGCONNECT_TIMEOUT");
  CHECK(normalise_dsn("host=x") == "host='x' connect_timeout='10'");
}

TEST_CASE("scrub_message masks the URI password and cuts to the first line")
{
  CleanEnv env;
  const auto out = scrub_message("password authentication failed for CANARYPW here\nsecond line",
                                 "postgresql://u:CANARYPW@h/db");
  CHECK_FALSE(contains(out, "CANARYPW"));
  CHECK_FALSE(contains(out, "second line"));
  CHECK_FALSE(contains(out, "\n"));
  CHECK(contains(out, "password authentication failed for"));
  CHECK(contains(out, "here"));

  // every occurrence, and also after normalisation
  const auto dsn = normalise_dsn("postgresql+psycopg2://u:CANARYPW@h/db");
  const auto twice = scrub_message("CANARYPW and CANARYPWCANARYPW", dsn);
  CHECK_FALSE(contains(twice, "CANARYPW"));
  CHECK(contains(twice, "and"));
}

TEST_CASE("scrub_message masks %-encoded URI passwords in both forms")
{
  CleanEnv env;
  const auto out =
    scrub_message("raw CANARY%40PW decoded CANARY@PW", "postgresql://u:CANARY%40PW@h/db");
  CHECK_FALSE(contains(out, "CANARY%40PW"));
  CHECK_FALSE(contains(out, "CANARY@PW"));
  CHECK(contains(out, "raw"));
  CHECK(contains(out, "decoded"));

  const auto q = scrub_message("x CANARYPW y", "postgresql://u@h/db?password=CANARYPW");
  CHECK_FALSE(contains(q, "CANARYPW"));
}

TEST_CASE("scrub_message masks key=value passwords")
{
  CleanEnv env;
  const auto out = scrub_message("FATAL: bad password CANARYPW\nDETAIL: CANARYPW",
                                 "host=h password=CANARYPW dbname=d");
  CHECK_FALSE(contains(out, "CANARYPW"));
  CHECK_FALSE(contains(out, "DETAIL"));
  CHECK(contains(out, "FATAL: bad password"));

  const auto quoted =
    scrub_message("got CANARY PW here", "host=h password='CANARY PW' dbname=d");
  CHECK_FALSE(contains(quoted, "CANARY PW"));
  CHECK(contains(quoted, "here"));
}

TEST_CASE("scrub_message masks PGPASSWORD")
{
  CleanEnv env;
  setenv("PGPASSWORD", "ENVCANARY", 1);
  const auto out = scrub_message("auth failed ENVCANARY\nmore ENVCANARY", "host=h dbname=d");
  CHECK_FALSE(contains(out, "ENVCANARY"));
  CHECK_FALSE(contains(out, "more"));
  CHECK(contains(out, "auth failed"));
  const auto empty_dsn = scrub_message("x ENVCANARY", "");
  CHECK_FALSE(contains(empty_dsn, "ENVCANARY"));
  unsetenv("PGPASSWORD");
  CHECK(scrub_message("x ENVCANARY", "host=h") == "x ENVCANARY");
}

TEST_CASE("scrub_message leaves harmless messages alone and redacts tokens")
{
  CleanEnv env;
  CHECK(scrub_message("connection refused", "host=h") == "connection refused");
  CHECK(scrub_message("connection refused\n\tIs the server running?", "host=h")
        == "connection refused");
  CHECK(scrub_message("", "host=h") == "");
  CHECK(scrub_message("no password here", "postgresql://u@h/db") == "no password here");
  const auto t = generate_token("tka");
  CHECK(scrub_message("bad token " + t, "host=h") == "bad token <redacted>");
}

TEST_CASE("resolve_dsn precedence: flag > positional > $TOKENADM_DSN > config > empty")
{
  CleanEnv env;
  CHECK(resolve_dsn("flag", "pos", "cfg") == "flag");
  CHECK(resolve_dsn("", "pos", "cfg") == "pos");
  CHECK(resolve_dsn("", "", "cfg") == "cfg");
  CHECK(resolve_dsn("", "") == "");
  CHECK(resolve_dsn("", "", "") == "");

  setenv("TOKENADM_DSN", "env", 1);
  CHECK(resolve_dsn("flag", "pos", "cfg") == "flag");
  CHECK(resolve_dsn("", "pos", "cfg") == "pos");
  CHECK(resolve_dsn("", "", "cfg") == "env");
  CHECK(resolve_dsn("", "") == "env");
  CHECK(resolve_dsn("flag", "") == "flag");

  setenv("TOKENADM_DSN", "", 1); // set but empty: ignored
  CHECK(resolve_dsn("", "", "cfg") == "cfg");

  unsetenv("TOKENADM_DSN");
  CHECK(resolve_dsn("", "", "cfg") == "cfg");
  CHECK(resolve_dsn("", "") == "");
}
