// The library against a real PostgreSQL (TOKENADM_DSN from with-postgres).
// Each test case works in a database of its own.
#include <doctest/doctest.h>

#include <tokenadm/db.hpp>
#include <tokenadm/errors.hpp>
#include <tokenadm/schema.hpp>
#include <tokenadm/store.hpp>
#include <tokenadm/token.hpp>

#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

using namespace tokenadm;

namespace {

std::string base_dsn()
{
  const char* dsn = std::getenv("TOKENADM_DSN");
  REQUIRE_MESSAGE(dsn != nullptr, "run under scripts/with-postgres");
  return dsn;
}

// A new empty database; returns its DSN.
std::string fresh_database(const std::string& name)
{
  Db admin(base_dsn());
  // Db offers no raw SQL on purpose; createdb does it.
  const std::string cmd = "/usr/lib/postgresql/15/bin/dropdb --if-exists " + name
                          + " && /usr/lib/postgresql/15/bin/createdb " + name;
  REQUIRE(std::system(cmd.c_str()) == 0);
  return base_dsn() + " dbname=" + name;
}

const Actor k_actor{"tester", "", "testhost"};

} // namespace

TEST_CASE("schema: missing, created, concurrent init applies once")
{
  const auto dsn = fresh_database("dbt_schema");
  {
    Db db(dsn);
    CHECK(schema_version(db) == 0);
    CHECK_THROWS_WITH_AS(list_tokens(db, {}, [](const TokenInfo&) {}),
                         doctest::Contains("run token init"), DbError);
  }
  std::vector<std::thread> threads;
  std::vector<int> from(4, -1);
  for (std::size_t i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      Db db(dsn);
      from[i] = init_schema(db).from_version;
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  int fresh = 0;
  for (int f : from) {
    fresh += f == 0 ? 1 : 0;
  }
  CHECK(fresh == 1);
  Db db(dsn);
  CHECK(schema_version(db) == expected_schema_version());
}

TEST_CASE("create, verify, revoke through the library")
{
  const auto dsn = fresh_database("dbt_store");
  Db db(dsn);
  init_schema(db);
  NewToken spec;
  spec.owner = "svc-backup";
  spec.label = "nightly";
  spec.roles = {"api"};
  spec.scopes = {"repo,with,commas"};
  spec.meta = {{"ticket", "OPS-1"}};
  const auto created = create_token(db, spec, Policy{}, Hasher{}, k_actor);
  CHECK(looks_like_token(created.token));
  CHECK(created.info.expires_at.has_value());

  const auto v = verify_token(db, created.token, VerifyRequest{"api", "repo,with,commas", true, true, {}, false}, Hasher{});
  CHECK(v.owner == "svc-backup");
  CHECK(v.id == created.info.id);
  CHECK_THROWS_WITH_AS(verify_token(db, created.token, VerifyRequest{"vcs", {}, true, true, {}, false}, Hasher{}),
                       doctest::Contains("forbidden"), TokenRejected);

  std::vector<TokenInfo> seen;
  list_tokens(db, {}, [&](const TokenInfo& t) { seen.push_back(t); });
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].scopes == std::vector<std::string>{"repo,with,commas"});
  CHECK(seen[0].meta == Meta{{"ticket", "OPS-1"}});
  CHECK(seen[0].created_by == "tester");

  auto r = revoke_tokens(db, {created.info.id, created.info.id, "nope"}, "test", k_actor);
  REQUIRE(r.size() == 2);
  CHECK(r[0].status == RevokeOutcome::Status::revoked);
  CHECK(r[1].status == RevokeOutcome::Status::unknown);
  r = revoke_tokens(db, {created.info.id}, std::nullopt, k_actor);
  CHECK(r[0].status == RevokeOutcome::Status::already_revoked);
  CHECK_THROWS_WITH_AS(verify_token(db, created.token, {}, Hasher{}), doctest::Contains("revoked"),
                       TokenRejected);
}

TEST_CASE("policy is checked before the database")
{
  NewToken spec;
  spec.no_expiry = true;
  CHECK_THROWS_AS(validate_new_token(spec, Policy{}), UsageError);
  Policy open;
  open.allow_no_expiry = true;
  CHECK_NOTHROW(validate_new_token(spec, open));
  spec.no_expiry = false;
  spec.expires_in = 400 * 86400;
  CHECK_THROWS_WITH_AS(validate_new_token(spec, Policy{}), doctest::Contains("max_ttl"),
                       UsageError);
}
