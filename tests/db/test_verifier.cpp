// tokenadm::Verifier against a real PostgreSQL (TOKENADM_DSN from
// with-postgres): the answers, failure without exceptions, and many threads
// sharing one small pool.
#include <doctest/doctest.h>

#include <tokenadm/db.hpp>
#include <tokenadm/errors.hpp>
#include <tokenadm/schema.hpp>
#include <tokenadm/store.hpp>
#include <tokenadm/token.hpp>
#include <tokenadm/verifier.hpp>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

using namespace tokenadm;

namespace {

const std::string k_pgbin = "/usr/lib/postgresql/15/bin/";

std::string base_dsn()
{
  const char* dsn = std::getenv("TOKENADM_DSN");
  REQUIRE_MESSAGE(dsn != nullptr, "run under scripts/with-postgres");
  return dsn;
}

// A new empty database; returns its DSN.
std::string empty_database(const std::string& name)
{
  const std::string cmd =
    k_pgbin + "dropdb --if-exists " + name + " && " + k_pgbin + "createdb " + name;
  REQUIRE(std::system(cmd.c_str()) == 0);
  return base_dsn() + " dbname=" + name;
}

// A new database with the schema; returns its DSN.
std::string fresh_database(const std::string& name)
{
  const auto dsn = empty_database(name);
  Db db(dsn);
  init_schema(db);
  return dsn;
}

// One value from psql (PG* variables come from with-postgres).
std::string psql_value(const std::string& dbname, const std::string& sql)
{
  const std::string cmd = k_pgbin + "psql -X -At -d " + dbname + " -c \"" + sql + "\"";
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::array<char, 256> buf{};
  std::string out;
  while (std::fgets(buf.data(), static_cast<int>(buf.size()), p) != nullptr) {
    out += buf.data();
  }
  REQUIRE(pclose(p) == 0);
  while (!out.empty() && out.back() == '\n') {
    out.pop_back();
  }
  return out;
}

const Actor k_actor{"tester", "", "testhost"};

CreatedToken make_token(Db& db, const std::string& owner, std::vector<std::string> roles,
                        std::vector<std::string> scopes = {})
{
  NewToken spec;
  spec.owner = owner;
  spec.label = "verifier";
  spec.roles = std::move(roles);
  spec.scopes = std::move(scopes);
  return create_token(db, spec, Policy{}, Hasher{}, k_actor);
}

} // namespace

TEST_CASE("verifier: valid, revoked, unknown, forbidden, malformed")
{
  const auto dsn = fresh_database("dbt_verifier");
  Db db(dsn);
  const auto api = make_token(db, "svc-api", {"api", "feed"}, {"repo-a"});
  const auto revoked = make_token(db, "svc-old", {"all"});
  revoke_tokens(db, {revoked.info.id}, "test", k_actor);

  Verifier verifier(dsn);

  auto r = verifier.verify(api.token);
  CHECK(r.ok);
  CHECK(r.reason.empty());
  CHECK(r.id == api.info.id);
  CHECK(r.owner == "svc-api");
  CHECK(r.roles.empty());

  r = verifier.verify(api.token, "feed", "repo-a");
  CHECK(r.ok);
  CHECK(r.roles == std::vector<std::string>{"feed"});

  r = verifier.verify(api.token, "vcs");
  CHECK_FALSE(r.ok);
  CHECK(r.reason == "forbidden");
  CHECK(r.owner.empty());
  CHECK(r.roles.empty());
  r = verifier.verify(api.token, "api", "repo-b");
  CHECK(r.reason == "forbidden");

  r = verifier.verify(revoked.token);
  CHECK_FALSE(r.ok);
  CHECK(r.reason == "revoked");
  CHECK(r.id.empty());

  const auto unknown = generate_token("tka");
  r = verifier.verify(unknown);
  CHECK(r.reason == "unknown");

  auto mistyped = api.token;
  mistyped.back() = mistyped.back() == 'a' ? 'b' : 'a';
  CHECK(verifier.verify(mistyped).reason == "checksum");
  CHECK(verifier.verify("").reason == "malformed");
  CHECK(verifier.verify("not a token").reason == "malformed");

  // No message ever holds the token.
  for (const auto& t : {api.token, revoked.token, unknown, mistyped}) {
    for (const auto& role : {std::optional<std::string>{}, std::optional<std::string>{"vcs"}}) {
      const auto res = verifier.verify(t, role);
      CHECK(res.message.find(t.substr(15)) == std::string::npos);
    }
  }

  SUBCASE("fetch_roles gives every role")
  {
    VerifierOptions o;
    o.fetch_roles = true;
    Verifier with_roles(dsn, o);
    r = with_roles.verify(api.token, "api");
    CHECK(r.ok);
    CHECK(r.roles == std::vector<std::string>{"api", "feed"});
  }

  SUBCASE("touch off writes nothing")
  {
    VerifierOptions o;
    o.touch = false;
    o.audit = false;
    const auto fresh = make_token(db, "svc-ro", {"api"});
    Verifier ro(dsn, o);
    CHECK(ro.verify(fresh.token).ok);
    CHECK(show_token(db, fresh.info.id).last_used_at == std::nullopt);
    Verifier rw(dsn);
    CHECK(rw.verify(fresh.token).ok);
    CHECK(show_token(db, fresh.info.id).last_used_at != std::nullopt);
  }
}

TEST_CASE("verifier: an unreachable database is an answer, not an exception")
{
  // Port 1 on loopback: connection refused at once.
  Verifier verifier("host=127.0.0.1 port=1 dbname=x user=x", 2);
  const auto token = generate_token("tka");
  for (int i = 0; i < 2; ++i) {
    const auto r = verifier.verify(token);
    CHECK_FALSE(r.ok);
    CHECK(r.reason == "unavailable");
    CHECK(r.message.find(token) == std::string::npos);
  }
  // Offline checks still answer.
  CHECK(verifier.verify("x").reason == "malformed");
  // A DSN that can never work is refused at once.
  CHECK_THROWS_AS(Verifier("posgres://u@h/db"), ConnectError);
}

TEST_CASE("verifier: a missing schema is reported as such")
{
  Verifier verifier(empty_database("dbt_verifier_noschema"));
  const auto r = verifier.verify(generate_token("tka"));
  CHECK_FALSE(r.ok);
  CHECK(r.reason == "schema");
}

TEST_CASE("verifier: lost connections are replaced without a false denial")
{
  const auto dsn = fresh_database("dbt_verifier_lost");
  Db db(dsn);
  const auto t = make_token(db, "svc", {"api"});
  Verifier verifier(dsn, VerifierOptions{.pool_size = 2});
  REQUIRE(verifier.verify(t.token).ok);
  // Kill every other backend of the database: the pooled one is now dead.
  const auto killed = psql_value(
    "dbt_verifier_lost",
    "select count(pg_terminate_backend(pid)) from pg_stat_activity"
    " where datname = 'dbt_verifier_lost' and pid <> pg_backend_pid()");
  CHECK(killed != "0");
  const auto r = verifier.verify(t.token);
  CHECK(r.ok);
  CHECK(r.reason == "");
  CHECK(verifier.verify(t.token).ok);
}

TEST_CASE("verifier: 8 threads x 500 verifies share a pool of 4")
{
  const auto dsn = fresh_database("dbt_verifier_mt");
  Db db(dsn);
  const auto good = make_token(db, "svc-good", {"api"});
  const auto gone = make_token(db, "svc-gone", {"api"});
  revoke_tokens(db, {gone.info.id}, "test", k_actor);
  const auto unknown = generate_token("tka");

  Verifier verifier(dsn, VerifierOptions{.pool_size = 4});
  std::atomic<int> wrong{0};
  std::atomic<int> done{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        bool right = false;
        switch ((i + t) % 4) {
        case 0: {
          const auto r = verifier.verify(good.token, "api");
          right = r.ok && r.owner == "svc-good" && r.id == good.info.id;
          break;
        }
        case 1:
          right = verifier.verify(gone.token).reason == "revoked";
          break;
        case 2:
          right = verifier.verify(unknown).reason == "unknown";
          break;
        default:
          right = verifier.verify(good.token, "vcs").reason == "forbidden";
          break;
        }
        if (!right) {
          ++wrong;
        }
        ++done;
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  CHECK(done == 4000);
  CHECK(wrong == 0);
  // The pool never grew past its size: its connections are still open.
  const auto open = std::stoi(psql_value(
    "dbt_verifier_mt", "select count(*) from pg_stat_activity where datname = 'dbt_verifier_mt'"
                       " and pid <> pg_backend_pid()"));
  CHECK(open >= 2); // the test's own Db plus at least one pooled
  CHECK(open <= 5); // the test's own Db plus at most 4 pooled
}
