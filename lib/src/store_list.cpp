// Listing and showing tokens, and the expiry notification queries.
#include "store_impl.hpp"

#include "tokenadm/address.hpp"
#include "tokenadm/audit.hpp"
#include "tokenadm/duration.hpp"
#include "tokenadm/schema.hpp"
#include "tokenadm/text.hpp"
#include "tokenadm/token.hpp"

#include <algorithm>

namespace tokenadm {

using namespace detail;

void list_tokens(Db& db, const ListFilter& filter,
                 const std::function<void(const TokenInfo&)>& sink)
{
  if (filter.role && std::find(k_roles.begin(), k_roles.end(), *filter.role) == k_roles.end()) {
    throw UsageError("--role: unknown role '" + filter.role->substr(0, 32)
                     + "' (use api, feed, vcs, http or all)");
  }
  if (filter.used_from) {
    (void)parse_cidr(*filter.used_from, "--used-from");
  }
  if (filter.created_before) {
    check_time(*filter.created_before, "--created-before");
  }
  if (filter.limit && *filter.limit <= 0) {
    throw UsageError("--limit must be positive");
  }
  // Natural order: runs of digits compare as numbers (label2 < label10).
  auto natural = [](const std::string& col) {
    return "array(select case when m[1] ~ '^[0-9]' then lpad(m[1], 30, '0') else m[1] end"
           " from regexp_matches(" + col + ", '[0-9]+|[^0-9]+', 'g') as m)";
  };
  std::string order;
  if (filter.sort.empty()) {
    order = "case when $9::bigint is not null then coalesce(t.last_used_at, t.created_at) end,";
  } else if (filter.sort == "expires") {
    order = "t.expires_at nulls last,";
  } else if (filter.sort == "owner") {
    order = natural("t.owner") + ",";
  } else if (filter.sort == "label") {
    order = natural("t.label") + ",";
  } else if (filter.sort == "last-used") {
    order = "t.last_used_at nulls first,";
  } else if (filter.sort != "created") {
    throw UsageError("--sort: '" + filter.sort.substr(0, 32) + "' is not one of "
                     + join(k_list_sorts, ", "));
  }
  const std::string sql =
    "declare tokenadm_list no scroll cursor for select * from (select " + k_info_cols
    + ", floor(extract(epoch from t.expires_at - now()))::bigint"
      " from tokenadm.tokens t where ($1::text is null or t.id = $1)"
      " and ($2::text is null or t.owner = $2) and ($3::text is null or t.label = $3)"
      " and ($4::text is null or $4 = any(t.roles) or 'all' = any(t.roles))"
      " and ($5::bigint is null or (t.expires_at <= now() + make_interval(secs => $5::bigint)"
      "  and " + k_active_sql + "))"
      " and ($6::timestamptz is null or t.created_at < $6::timestamptz)"
      " and ($8::cidr is null or exists (select 1 from jsonb_array_elements(t.used_from) e"
      "  where (e->>'addr')::inet <<= $8::cidr))"
      " and ($9::bigint is null or (" + k_active_sql + " and coalesce(t.last_used_at, t.created_at)"
      "  < now() - make_interval(secs => $9::bigint)))"
      " order by " + order + " t.created_at, t.id) s where $7 = 'all' or s.state = $7"
      " limit $10::bigint";
  if (filter.unused_for && *filter.unused_for <= 0) {
    throw UsageError("--unused-for must be longer than 0");
  }
  const auto within = seconds_param(filter.expiring_within);
  const auto unused_for = seconds_param(filter.unused_for);
  guarded(db, [&] {
    pqxx::read_transaction tx(db.impl().conn);
    require_schema_version(version_of(tx.exec("select " + k_version_sql)[0][0]));
    tx.exec_params(sql, nullable(filter.id), nullable(filter.owner), nullable(filter.label),
                   nullable(filter.role), nullable(within), nullable(filter.created_before),
                   filter.state, nullable(filter.used_from), nullable(unused_for),
                   nullable(seconds_param(filter.limit)));
    for (;;) {
      const auto r = tx.exec("fetch 5000 from tokenadm_list");
      for (const auto& row : r) {
        auto info = read_info(row);
        if (!row[23].is_null()) {
          info.ttl_seconds = row[23].as<std::int64_t>();
        }
        sink(info);
      }
      if (r.size() < 5000) {
        break;
      }
    }
  });
}

TokenInfo show_token(Db& db, const std::string& id)
{
  if (!valid_id(id)) {
    throw NotFound(printable_id(id) + ": a token ID has 10 characters");
  }
  std::optional<TokenInfo> found;
  ListFilter f;
  f.id = id;
  list_tokens(db, f, [&](const TokenInfo& t) { found = t; });
  if (!found) {
    throw NotFound(id + ": no such token");
  }
  return *found;
}

std::vector<TokenInfo> expiring_unannounced(Db& db, std::int64_t within)
{
  return guarded(db, [&] {
    pqxx::nontransaction tx(db.impl().conn);
    require_schema_version(version_of(tx.exec("select " + k_version_sql)[0][0]));
    return query_infos(tx,
                       k_active_sql + " and t.expires_at <= now() + make_interval(secs => $1::bigint)"
                       " and t.notified_expiry is distinct from t.expires_at",
                       std::to_string(within));
  });
}

bool claim_announcement(Db& db, const std::string& id, const Actor& actor)
{
  return guarded(db, [&] {
    pqxx::nontransaction tx(db.impl().conn);
    const auto r = tx.exec_params(
      "with upd as (update tokenadm.tokens set notified_expiry = expires_at where id = $1"
      " and notified_expiry is distinct from expires_at returning id, owner, expires_at),"
      " aud as (insert into tokenadm.audit " + k_audit_cols +
      " select now(), 'notify', upd.id, upd.owner, $2, nullif($3, ''), $4, 'ok',"
      " 'expiring ' || " + iso("upd.expires_at") + " from upd)"
      " select count(*) from upd",
      id, actor.describe(), actor.sudo_user, actor.host);
    return r[0][0].as<int>() == 1;
  });
}

void release_announcement(Db& db, const std::string& id)
{
  guarded(db, [&] {
    pqxx::nontransaction tx(db.impl().conn);
    tx.exec_params("update tokenadm.tokens set notified_expiry = null where id = $1", id);
  });
}

} // namespace tokenadm
