// Revoking and pruning tokens, by id or by bulk filter.
#include "store_impl.hpp"

#include "tokenadm/audit.hpp"
#include "tokenadm/duration.hpp"
#include "tokenadm/schema.hpp"
#include "tokenadm/text.hpp"
#include "tokenadm/token.hpp"

#include <algorithm>

namespace tokenadm {

using namespace detail;

namespace {

// Rows deleted per statement by prune.
constexpr std::size_t k_prune_batch = 5000;

// statement. $1 is the CTE's parameter, $2 reason, $3 actor, $4 sudo_user,
// $5 host, $6 the audit rows' details (JSON or null). A req row with a null
// id comes out as unknown with an empty id.
std::vector<RevokeOutcome> revoke_where(Db& db, const std::string& req_sql,
                                        const std::string& req_param,
                                        const std::optional<std::string>& reason,
                                        const Actor& actor,
                                        const std::optional<std::string>& details = std::nullopt)
{
  if (reason) {
    check_text(*reason, "--reason", 1024);
  }
  const std::string sql =
    "with req as (" + req_sql +
    "), upd as ("
    " update tokenadm.tokens t set revoked_at = now(), revoked_by = $3, revoke_reason = $2"
    // clock_timestamp(), not now(): a revoke waiting on this row's lock
    // re-checks it after the first commits, and its own now() (its start)
    // can be earlier than the first one's revoked_at, which would make an
    // already revoked token look scheduled and revoke it twice.
    " where t.id in (select id from req)"
    "  and (t.revoked_at is null or t.revoked_at > clock_timestamp())"
    " returning t.id, t.owner, t.revoked_at"
    "), aud as ("
    " insert into tokenadm.audit (at, action, token_id, owner, actor, sudo_user, host, outcome,"
    "  reason, details)"
    " select upd.revoked_at, 'revoke', upd.id, upd.owner, $3, nullif($4, ''), $5, 'ok', $2,"
    " $6::jsonb from upd"
    ")"
    " select req.id, t.id is not null, upd.id is not null, "
    + iso("coalesce(upd.revoked_at, t.revoked_at)") + ", " + k_version_sql
    + ", t.owner, t.label, t.contact from req left join tokenadm.tokens t on t.id = req.id"
      " left join upd on upd.id = req.id order by req.ord";
  return guarded(db, [&] {
    pqxx::nontransaction tx(db.impl().conn);
    std::vector<RevokeOutcome> out;
    for (const auto& row :
         tx.exec_params(sql, req_param, nullable(reason), actor.describe(), actor.sudo_user,
                        actor.host, nullable(details))) {
      require_schema_version(version_of(row[4]));
      RevokeOutcome o;
      o.id = row[0].c_str();
      o.status = !row[1].as<bool>()  ? RevokeOutcome::Status::unknown
                 : row[2].as<bool>() ? RevokeOutcome::Status::revoked
                                     : RevokeOutcome::Status::already_revoked;
      o.revoked_at = opt(row[3]);
      o.owner = row[5].is_null() ? "" : row[5].c_str();
      o.label = row[6].is_null() ? "" : row[6].c_str();
      o.contact = opt(row[7]);
      out.push_back(std::move(o));
    }
    return out;
  });
}

// The bulk selection as SQL over tokens t, from one JSON parameter $1:
// {"owner": ..., "label": ..., "all_expired": bool, "unused_for": seconds}.
const std::string k_bulk_where =
  "(t.revoked_at is null or t.revoked_at > now())"
  " and ((($1::jsonb->>'all_expired')::boolean and t.expires_at <= now())"
  "  or (not ($1::jsonb->>'all_expired')::boolean"
  "   and (t.expires_at is null or t.expires_at > now())"
  "   and ($1::jsonb->>'owner' is null or t.owner = $1::jsonb->>'owner')"
  "   and ($1::jsonb->>'label' is null or t.label = $1::jsonb->>'label')"
  "   and ($1::jsonb->>'unused_for' is null or coalesce(t.last_used_at, t.created_at)"
  "    < now() - make_interval(secs => ($1::jsonb->>'unused_for')::bigint))))";

std::string bulk_param(const RevokeFilter& f)
{
  if (!f.owner && !f.label && !f.all_expired && !f.unused_for) {
    throw UsageError("a bulk revoke needs --owner, --label, --unused-for or --all-expired");
  }
  if (f.all_expired && (f.owner || f.label || f.unused_for)) {
    throw UsageError("--all-expired goes alone, without --owner, --label or --unused-for");
  }
  if (f.unused_for && *f.unused_for <= 0) {
    throw UsageError("--unused-for must be longer than 0");
  }
  return json{{"owner", f.owner ? json(*f.owner) : json(nullptr)},
              {"label", f.label ? json(*f.label) : json(nullptr)},
              {"all_expired", f.all_expired},
              {"unused_for", f.unused_for ? json(*f.unused_for) : json(nullptr)}}
    .dump();
}

} // namespace

std::vector<RevokeOutcome> revoke_tokens(Db& db, const std::vector<std::string>& ids,
                                         const std::optional<std::string>& reason,
                                         const Actor& actor)
{
  std::vector<std::string> known_shape;
  for (const auto& id : ids) {
    if (valid_id(id)) {
      known_shape.push_back(id);
    }
  }
  const auto out = revoke_where(db,
                                "select id, min(ord) as ord from jsonb_array_elements_text($1::jsonb)"
                                " with ordinality as x(id, ord) group by id",
                                json(known_shape).dump(), reason, actor);
  // Ids that cannot exist are reported unknown; input order, no repeats.
  std::vector<RevokeOutcome> ordered;
  for (const auto& id : ids) {
    auto seen = [&](const RevokeOutcome& o) { return o.id == id; };
    if (std::any_of(ordered.begin(), ordered.end(), seen)) {
      continue;
    }
    auto it = std::find_if(out.begin(), out.end(), seen);
    ordered.push_back(it != out.end() ? *it
                                      : RevokeOutcome{id, RevokeOutcome::Status::unknown, {}, {}, {}, {}});
  }
  return ordered;
}

std::vector<RevokeOutcome> revoke_matching(Db& db, const RevokeFilter& filter,
                                           const std::optional<std::string>& reason,
                                           const Actor& actor)
{
  return revoke_where(db,
                      "select t.id, row_number() over (order by t.created_at, t.id) as ord"
                      " from tokenadm.tokens t where " + k_bulk_where,
                      bulk_param(filter), reason, actor);
}

std::vector<RevokeOutcome> revoke_leaked(Db& db, const std::vector<std::string>& leaked,
                                          const Hasher& hasher, const std::string& source,
                                          const Actor& actor)
{
  check_text(source, "--source", 1024);
  if (leaked.empty()) {
    return {};
  }
  // One row per candidate digest, numbered by the token it belongs to, with
  // the id in its text ('' for a legacy token, as verify tells them apart).
  // A digest is only taken with the algorithm and key it was made with, as
  // verify does.
  json rows = json::array();
  for (std::size_t n = 0; n < leaked.size(); ++n) {
    const auto id = looks_like_token(leaked[n]) ? parse_token(leaked[n]).id : std::string();
    for (const auto& c : hasher.candidates(leaked[n])) {
      rows.push_back({{"n", n},
                      {"id", id},
                      {"alg", c.hash_alg},
                      {"key", c.key_id},
                      {"digest", c.hex}});
    }
  }
  const auto out = revoke_where(
    db,
    "select (array_agg(t.id) filter (where t.id is not null))[1] as id, r.n as ord"
    " from jsonb_to_recordset($1::jsonb) as r(n bigint, id text, alg text, key text, digest text)"
    " left join lateral (select t.id from tokenadm.tokens t where r.id <> '' and t.id = r.id"
    "  and t.digest = r.digest and t.hash_alg = r.alg and t.key_id = r.key"
    "  union all select t.id from tokenadm.tokens t where r.id = '' and t.legacy"
    "  and t.digest = r.digest and t.hash_alg = r.alg and t.key_id = r.key) t on true"
    " group by r.n",
    rows.dump(), std::string("leaked"), actor,
    source.empty() ? std::nullopt : std::optional(json{{"source", source}}.dump()));
  if (out.size() != leaked.size()) {
    throw DbError("revoke --leaked: " + std::to_string(out.size()) + " answers for "
                    + std::to_string(leaked.size()) + " tokens",
                  "internal");
  }
  return out;
}

std::vector<TokenInfo> tokens_matching(Db& db, const RevokeFilter& filter)
{
  const auto param = bulk_param(filter);
  return guarded(db, [&] {
    pqxx::nontransaction tx(db.impl().conn);
    return query_infos(tx, k_bulk_where, param);
  });
}

std::vector<TokenInfo> prune_tokens(Db& db, std::int64_t older_than, bool dry_run,
                                    const Actor& actor, const Progress& progress)
{
  const std::string where =
    "(t.revoked_at < now() - make_interval(secs => $1::bigint)"
    " or t.expires_at < now() - make_interval(secs => $1::bigint))";
  return guarded(db, [&] {
    if (dry_run) {
      pqxx::nontransaction tx(db.impl().conn);
      return query_infos(tx, where, std::to_string(older_than));
    }
    // One transaction (a failed prune deletes nothing), one scan for the
    // ids, then deletions by primary key in batches, with progress between
    // them. Each deletion looks up the rows naming the deleted one in
    // replaced_by: migration 6 indexes it.
    pqxx::work tx(db.impl().conn);
    std::vector<std::string> ids;
    for (const auto& row : tx.exec_params("select t.id from tokenadm.tokens t where " + where
                                            + " order by t.created_at, t.id",
                                          older_than)) {
      ids.emplace_back(row[0].c_str());
    }
    const std::string sql =
      "with del as (delete from tokenadm.tokens t where t.id = any($6::text[]) and " + where
      + " returning t.*),"
        " aud as (insert into tokenadm.audit " + k_audit_cols +
      "  select now(), 'prune', del.id, del.owner, $2, nullif($3, ''), $4, 'ok',"
      "  'older than ' || $5 from del)"
      " select " + k_info_cols + " from del t order by t.created_at, t.id";
    std::vector<TokenInfo> out;
    out.reserve(ids.size());
    for (std::size_t at = 0; at < ids.size(); at += k_prune_batch) {
      const auto end = std::min(ids.size(), at + k_prune_batch);
      const std::vector<std::string> batch(ids.begin() + static_cast<std::ptrdiff_t>(at),
                                           ids.begin() + static_cast<std::ptrdiff_t>(end));
      for (const auto& row : tx.exec_params(sql, older_than, actor.describe(), actor.sudo_user,
                                            actor.host, format_duration(older_than),
                                            text_array(batch))) {
        out.push_back(read_info(row));
      }
      if (progress) {
        progress(end, ids.size());
      }
    }
    tx.commit();
    return out;
  });
}

} // namespace tokenadm

namespace tokenadm {

using namespace detail;

namespace {

// Suspends (or resumes) the ids the `req` CTE selects (columns id, ord),
// in one statement: $1 the CTE's parameter, $2 reason, $3 actor, $4
// sudo_user, $5 host. Revoked tokens are left alone.
std::vector<SuspendOutcome> suspend_where(Db& db, const std::string& req_sql,
                                          const std::string& req_param, bool suspend,
                                          const std::optional<std::string>& reason,
                                          const Actor& actor)
{
  if (reason) {
    check_text(*reason, "--reason", 1024);
  }
  const std::string set = suspend
                            ? "suspended_at = now(), suspended_by = $3, suspend_reason = $2"
                            : "suspended_at = null, suspended_by = null, suspend_reason = null";
  const std::string sql =
    "with req as (" + req_sql +
    "), upd as ("
    " update tokenadm.tokens t set " + set +
    " where t.id in (select id from req) and (t.revoked_at is null or t.revoked_at > now())"
    " and t.suspended_at is " + (suspend ? "null" : "not null") +
    " returning t.id, t.owner"
    "), aud as ("
    " insert into tokenadm.audit " + k_audit_cols +
    " select now(), '" + (suspend ? "suspend" : "resume") + "', upd.id, upd.owner, $3,"
    " nullif($4, ''), $5, 'ok', $2 from upd"
    ")"
    " select req.id, t.id is not null, upd.id is not null, " + k_version_sql
    + ", t.owner, t.label, t.contact from req left join tokenadm.tokens t on t.id = req.id"
      " left join upd on upd.id = req.id order by req.ord";
  return guarded(db, [&] {
    pqxx::nontransaction tx(db.impl().conn);
    std::vector<SuspendOutcome> out;
    for (const auto& row : tx.exec_params(sql, req_param, nullable(reason), actor.describe(),
                                          actor.sudo_user, actor.host)) {
      require_schema_version(version_of(row[3]));
      SuspendOutcome o;
      o.id = row[0].c_str();
      o.status = !row[1].as<bool>()  ? SuspendOutcome::Status::unknown
                 : row[2].as<bool>() ? SuspendOutcome::Status::changed
                                     : SuspendOutcome::Status::unchanged;
      o.owner = row[4].is_null() ? "" : row[4].c_str();
      o.label = row[5].is_null() ? "" : row[5].c_str();
      o.contact = opt(row[6]);
      out.push_back(std::move(o));
    }
    return out;
  });
}

} // namespace

std::vector<SuspendOutcome> suspend_tokens(Db& db, const std::vector<std::string>& ids,
                                           bool suspend, const std::optional<std::string>& reason,
                                           const Actor& actor)
{
  std::vector<std::string> known_shape;
  for (const auto& id : ids) {
    if (valid_id(id)) {
      known_shape.push_back(id);
    }
  }
  const auto out = suspend_where(db,
                                 "select id, min(ord) as ord from jsonb_array_elements_text($1::jsonb)"
                                 " with ordinality as x(id, ord) group by id",
                                 json(known_shape).dump(), suspend, reason, actor);
  std::vector<SuspendOutcome> ordered;
  for (const auto& id : ids) {
    auto seen = [&](const SuspendOutcome& o) { return o.id == id; };
    if (std::any_of(ordered.begin(), ordered.end(), seen)) {
      continue;
    }
    auto it = std::find_if(out.begin(), out.end(), seen);
    ordered.push_back(it != out.end() ? *it
                                      : SuspendOutcome{id, SuspendOutcome::Status::unknown, {}, {}, {}});
  }
  return ordered;
}

std::vector<SuspendOutcome> suspend_matching(Db& db, const RevokeFilter& filter, bool suspend,
                                             const std::optional<std::string>& reason,
                                             const Actor& actor)
{
  if (filter.all_expired) {
    throw UsageError("--all-expired goes with revoke, not suspend or resume");
  }
  return suspend_where(db,
                       "select t.id, row_number() over (order by t.created_at, t.id) as ord"
                       " from tokenadm.tokens t where " + k_bulk_where,
                       bulk_param(filter), suspend, reason, actor);
}

} // namespace tokenadm
