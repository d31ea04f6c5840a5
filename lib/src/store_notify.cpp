// notify --at: notices per token and lead time, and unused-token warnings,
// each claimed once in tokenadm.notices.
#include "store_impl.hpp"

#include "tokenadm/notices.hpp"

#include "tokenadm/duration.hpp"
#include "tokenadm/schema.hpp"

#include <algorithm>

namespace tokenadm {

using namespace detail;

namespace {

const std::int64_t k_week = 7 * 86400;

// Rows of k_info_cols followed by (kind, lead, about).
std::vector<DueNotice> read_due(const pqxx::result& rows, const std::vector<std::int64_t>& leads)
{
  std::vector<DueNotice> out;
  for (const auto& row : rows) {
    DueNotice n;
    n.token = read_info(row);
    n.kind = row[23].c_str();
    n.lead = row[24].as<std::int64_t>();
    n.about = row[25].c_str();
    if (n.kind == "expiring") {
      // Crossing a lead time crosses every longer one: they are claimed
      // with it, so a later run never mails about them.
      for (const auto l : leads) {
        if (l >= n.lead) {
          n.claims.push_back(l);
        }
      }
    } else {
      n.claims.push_back(n.lead);
    }
    out.push_back(std::move(n));
  }
  return out;
}

} // namespace

std::vector<DueNotice> notices_due(Db& db, std::vector<std::int64_t> leads,
                                   std::optional<std::int64_t> unused_after)
{
  if (leads.empty()) {
    throw UsageError("notify: no lead time given");
  }
  for (const auto l : leads) {
    if (l <= 0) {
      throw UsageError("notify: a lead time must be longer than 0");
    }
  }
  std::sort(leads.begin(), leads.end());
  leads.erase(std::unique(leads.begin(), leads.end()), leads.end());
  std::string array = "{";
  for (const auto l : leads) {
    array += (array.size() > 1 ? "," : "") + std::to_string(l);
  }
  array += "}";
  // The tightest lead time each active token has crossed, unless claimed;
  // an expired one (within the longest lead time) once; with
  // unused_after, a warning a week before a token is unused that long.
  // $1 leads, $2 the longest, $3 unused_after (or null).
  // An expiry announced at a lead time is not announced again at a longer
  // one (runs with other lead times, or in another order).
  const std::string not_claimed =
    " and not exists (select 1 from tokenadm.notices n where n.token_id = t.id"
    " and n.kind = x.kind and n.about = x.about"
    " and (n.lead = x.lead or (x.kind = 'expiring' and n.lead < x.lead)))";
  const std::string sql =
    "select " + k_info_cols + ", x.kind, x.lead, x.about::text from tokenadm.tokens t"
    " cross join lateral (select 'expiring'::text as kind, min(l) as lead, t.expires_at as about"
    "  from unnest($1::bigint[]) l where t.expires_at <= now() + make_interval(secs => l)) x"
    " where " + k_active_sql + " and x.lead is not null" + not_claimed +
    " union all select " + k_info_cols + ", x.kind, x.lead, x.about::text from tokenadm.tokens t"
    " cross join lateral (select 'expired'::text as kind, 0::bigint as lead,"
    "  t.expires_at as about) x"
    " where (t.revoked_at is null or t.revoked_at > now()) and t.expires_at <= now()"
    " and t.expires_at > now() - make_interval(secs => $2::bigint)" + not_claimed +
    " union all select " + k_info_cols + ", x.kind, x.lead, x.about::text from tokenadm.tokens t"
    " cross join lateral (select 'unused'::text as kind, $3::bigint as lead,"
    "  coalesce(t.last_used_at, t.created_at) as about) x"
    " where $3::bigint is not null and " + k_active_sql +
    " and x.about < now() - make_interval(secs => greatest($3::bigint - " + std::to_string(k_week)
    + ", 0))"
      " and x.about >= now() - make_interval(secs => $3::bigint)" + not_claimed +
    " order by 24, 26, 1";
  const auto unused = seconds_param(unused_after);
  return guarded(db, [&] {
    pqxx::nontransaction tx(db.impl().conn);
    require_schema_version(version_of(tx.exec("select " + k_version_sql)[0][0]));
    return read_due(tx.exec_params(sql, array, leads.back(), nullable(unused)), leads);
  });
}

bool claim_notice(Db& db, const DueNotice& n, const Actor& actor)
{
  std::string claims = "{";
  for (const auto l : n.claims) {
    claims += (claims.size() > 1 ? "," : "") + std::to_string(l);
  }
  claims += "}";
  const std::string reason = n.kind == "expiring" ? "expiring within " + format_duration(n.lead)
                             : n.kind == "unused" ? "unused, revoked after " + format_duration(n.lead)
                                                  : std::string("expired");
  return guarded(db, [&] {
    pqxx::nontransaction tx(db.impl().conn);
    const auto r = tx.exec_params(
      "with ins as (insert into tokenadm.notices (token_id, kind, lead, about)"
      " select t.id, $2, l, $4::timestamptz from tokenadm.tokens t, unnest($3::bigint[]) l"
      " where t.id = $1 and (t.revoked_at is null or t.revoked_at > now())"
      " on conflict do nothing returning lead),"
      " aud as (insert into tokenadm.audit " + k_audit_cols +
      " select now(), 'notify', t.id, t.owner, $6, nullif($7, ''), $8, 'ok', $9"
      " from tokenadm.tokens t where t.id = $1 and exists (select 1 from ins where lead = $5))"
      " select exists (select 1 from ins where lead = $5)",
      n.token.id, n.kind, claims, n.about, n.lead, actor.describe(), actor.sudo_user, actor.host,
      reason);
    return r[0][0].as<bool>();
  });
}

void release_notice(Db& db, const DueNotice& n)
{
  guarded(db, [&] {
    pqxx::nontransaction tx(db.impl().conn);
    tx.exec_params("delete from tokenadm.notices where token_id = $1 and kind = $2 and lead = $3"
                   " and about = $4::timestamptz",
                   n.token.id, n.kind, n.lead, n.about);
  });
}

struct RunLock::Tx {
  explicit Tx(Db& db) : tx(db.impl().conn) {}
  pqxx::work tx;
};

RunLock::RunLock(Db& db)
{
  guarded(db, [&] {
    m_tx = std::make_unique<Tx>(db);
    m_held = m_tx->tx
               .exec("select pg_try_advisory_xact_lock(hashtextextended('tokenadm notify', 7107))")[0][0]
               .as<bool>();
  });
}

RunLock::~RunLock() = default; // the transaction aborts: the lock is released

} // namespace tokenadm
