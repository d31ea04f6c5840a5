#include "tokenadm/audit.hpp"

#include "db_impl.hpp"
#include "tokenadm/duration.hpp"
#include "tokenadm/schema.hpp"

namespace tokenadm {

namespace {

const char* nullable(const std::optional<std::string>& s)
{
  return s ? s->c_str() : nullptr;
}

std::optional<std::string> opt(const pqxx::field& f)
{
  if (f.is_null()) {
    return std::nullopt;
  }
  return f.c_str();
}

} // namespace

void list_audit(Db& db, const AuditFilter& f, const std::function<void(const AuditEntry&)>& sink)
{
  if (f.limit && *f.limit <= 0) {
    throw UsageError("--limit must be positive");
  }
  if (f.since) {
    check_time(*f.since, "--since");
  }
  if (f.until) {
    check_time(*f.until, "--until");
  }
  const std::string sql =
    "declare tokenadm_audit no scroll cursor for select a.id, " + iso("a.at")
    // A bulk creation's row (token_ids, migration 10) shows the token asked for.
    + ", a.action, coalesce(a.token_id,"
      " case when $1::text is not null and a.token_ids @> array[$1::text] then $1 end),"
      " a.owner, a.actor, a.sudo_user, a.host, a.outcome, a.reason,"
      " a.details::text, a.count from tokenadm.audit a"
      " where ($1::text is null or a.token_id = $1 or a.token_ids @> array[$1::text])"
      " and ($2::text is null or a.owner = $2)"
      " and ($3::text is null or a.action = $3)"
      " and ($4::timestamptz is null or a.at >= $4::timestamptz)"
      " and ($5::timestamptz is null or a.at < $5::timestamptz)"
      " order by a.at desc, a.id desc limit $6::bigint";
  guarded(db, [&] {
    pqxx::read_transaction tx(db.impl().conn);
    require_schema_version(
      tx.exec("select " + k_version_sql)[0][0].as<int>(0));
    const auto limit = f.limit ? std::to_string(*f.limit) : std::string();
    tx.exec_params(sql, nullable(f.token_id), nullable(f.owner), nullable(f.action),
                   nullable(f.since), nullable(f.until), f.limit ? limit.c_str() : nullptr);
    for (;;) {
      const auto r = tx.exec("fetch 5000 from tokenadm_audit");
      for (const auto& row : r) {
        AuditEntry e;
        e.id = row[0].as<std::int64_t>();
        e.at = row[1].c_str();
        e.action = row[2].c_str();
        e.token_id = opt(row[3]);
        e.owner = opt(row[4]);
        e.actor = row[5].c_str();
        e.sudo_user = opt(row[6]);
        e.host = row[7].c_str();
        e.outcome = row[8].c_str();
        e.reason = opt(row[9]);
        e.details = opt(row[10]);
        e.count = row[11].as<int>();
        sink(e);
      }
      if (r.size() < 5000) {
        break;
      }
    }
  });
}

void record_verify_failure(pqxx::transaction_base& tx, const std::string& reason,
                           const std::optional<std::string>& token_id, const Actor& actor,
                           int count)
{
  // Folded into one row per reason, actor and host a minute (migration 9).
  tx.exec_params("select tokenadm.record_verify_failure($1, $2, $3, $4, $5, $6)",
                 nullable(token_id), actor.describe(), actor.sudo_user, actor.host, reason, count);
}

void record_verify_failure(Db& db, const std::string& reason,
                           const std::optional<std::string>& token_id, const Actor& actor,
                           int count)
{
  // Not recorded on a hot standby (nothing can be).
  optional_write(db, [&] {
    pqxx::nontransaction tx(db.impl().conn);
    record_verify_failure(tx, reason, token_id, actor, count);
  });
}

void record_event(Db& db, const std::string& action, const std::optional<std::string>& token_id,
                  const std::optional<std::string>& owner, const std::string& outcome,
                  const std::string& reason, const Actor& actor)
{
  guarded(db, [&] {
    pqxx::nontransaction tx(db.impl().conn);
    tx.exec_params("insert into tokenadm.audit (at, action, token_id, owner, actor, sudo_user,"
                   " host, outcome, reason) values (now(), $1, $2, $3, $4, nullif($5, ''), $6,"
                   " $7, $8)",
                   action, nullable(token_id), nullable(owner), actor.describe(), actor.sudo_user,
                   actor.host, outcome, reason);
  });
}

} // namespace tokenadm
