// Rotating and renewing tokens.
#include "store_impl.hpp"

#include "tokenadm/audit.hpp"
#include "tokenadm/duration.hpp"
#include "tokenadm/schema.hpp"
#include "tokenadm/text.hpp"
#include "tokenadm/token.hpp"

#include <algorithm>

namespace tokenadm {

using namespace detail;

TokenInfo renew_token(Db& db, const std::string& id, std::int64_t expires_in,
                      const Policy& policy, const Actor& actor)
{
  if (expires_in > policy.max_ttl) {
    throw UsageError("--expires-in " + format_duration(expires_in)
                     + " is over the policy's max_ttl of " + format_duration(policy.max_ttl));
  }
  const std::string sql =
    "with t as (select * from tokenadm.tokens where id = $1 for update),"
    " upd as (update tokenadm.tokens u set expires_at = now() + make_interval(secs => $2::bigint)"
    "  from t where u.id = t.id and t.revoked_at is null returning u.id, u.owner, u.expires_at),"
    " aud as (insert into tokenadm.audit " + k_audit_cols +
    "  select now(), 'renew', upd.id, upd.owner, $3, nullif($4, ''), $5, 'ok',"
    "  'expires ' || " + iso("upd.expires_at") + " from upd)"
    " select " + k_version_sql + ", (select count(*) from t), (select count(*) from upd),"
    " (select " + iso("revoked_at") + " from t), (select revoked_at > now() from t)";
  return guarded(db, [&] {
    pqxx::nontransaction tx(db.impl().conn);
    const auto row = tx.exec_params1(sql, id, expires_in, actor.describe(), actor.sudo_user,
                                     actor.host);
    require_schema_version(version_of(row[0]));
    if (row[1].as<int>() == 0) {
      throw NotFound(printable_id(id) + ": no such token");
    }
    if (row[2].as<int>() == 0) {
      // A rotation with --overlap schedules the revocation: not past yet.
      const bool future = !row[4].is_null() && row[4].as<bool>();
      throw TokenRejected("revoked", "token " + id + (future ? " will be revoked at " : " was revoked at ")
                                       + std::string(row[3].c_str()) + "; create a new one");
    }
    return query_infos(tx, "t.id = $1", id).at(0);
  });
}

Rotated rotate_token(Db& db, const std::string& id, std::int64_t overlap,
                     std::optional<std::int64_t> expires_in, const Policy& policy,
                     const Hasher& hasher, const std::string& prefix, const Actor& actor)
{
  if (!valid_prefix(prefix)) {
    throw UsageError("token prefix '" + prefix.substr(0, 16) + "' is invalid");
  }
  const auto ttl = expires_in.value_or(policy.default_ttl);
  if (ttl > policy.max_ttl) {
    throw UsageError("--expires-in " + format_duration(ttl) + " is over the policy's max_ttl of "
                     + format_duration(policy.max_ttl));
  }
  if (overlap < 0 || overlap > policy.max_ttl) {
    throw UsageError("--overlap must be between 0 and the policy's max_ttl");
  }
  const std::string sql =
    "with old as (select * from tokenadm.tokens where id = $1 for update),"
    " ins as (insert into tokenadm.tokens (id, digest, hash_alg, key_id, owner, label, roles,"
    "  scopes, contact, meta, created_at, created_by, expires_at, allow_from, max_uses)"
    "  select $2, $3, $4, $5, o.owner, o.label, o.roles, o.scopes, o.contact, o.meta, now(), $6,"
    "  now() + make_interval(secs => $7::bigint), o.allow_from, o.max_uses from old o"
    "  where " + k_version_sql + " = $11 and o.revoked_at is null and o.replaced_by is null"
    "  on conflict do nothing returning id, owner, created_at, expires_at),"
    " upd as (update tokenadm.tokens t set revoked_at = now() + make_interval(secs => $8::bigint),"
    "  revoked_by = $6, revoke_reason = 'rotated', replaced_by = ins.id from ins where t.id = $1"
    "  returning t.revoked_at),"
    " aud as (insert into tokenadm.audit " + k_audit_cols +
    "  select now(), 'rotate', $1, ins.owner, $6, nullif($9, ''), $10, 'ok',"
    "  'replaced by ' || ins.id from ins),"
    " aud2 as (insert into tokenadm.audit (at, action, token_id, owner, actor, sudo_user, host,"
    "  outcome, reason, details)"
    "  select now(), 'create', ins.id, ins.owner, $6, nullif($9, ''), $10, 'ok', 'rotation of ' || $1,"
    "  jsonb_build_object('replaces', $1::text, 'overlap_seconds', $8::bigint) from ins)"
    " select " + k_version_sql + ", (select count(*) from old),"
    " (select " + iso("revoked_at") + " from old), (select replaced_by from old),"
    " (select count(*) from ins), (select " + iso("revoked_at") + " from upd)";
  return guarded(db, [&] {
    pqxx::nontransaction tx(db.impl().conn);
    for (int attempt = 0; attempt < 3; ++attempt) {
      Rotated out;
      out.token.token = generate_token(prefix);
      const auto new_id = parse_token(out.token.token).id;
      const auto digest = hasher.make(out.token.token);
      const auto row =
        tx.exec_params1(sql, id, new_id, digest.hex, digest.hash_alg, digest.key_id,
                        actor.describe(), ttl, overlap, actor.sudo_user, actor.host,
                        expected_schema_version());
      require_schema_version(version_of(row[0]));
      if (row[1].as<int>() == 0) {
        throw NotFound(printable_id(id) + ": no such token");
      }
      if (!row[3].is_null()) {
        throw TokenRejected("revoked", "token " + id + " was already rotated; its replacement is "
                                         + std::string(row[3].c_str()));
      }
      if (!row[2].is_null()) {
        throw TokenRejected("revoked", "token " + id + " was revoked at "
                                         + std::string(row[2].c_str()));
      }
      if (row[4].as<int>() == 0) {
        continue; // id collision
      }
      out.old_id = id;
      out.old_revoked_at = row[5].c_str();
      out.token.info = query_infos(tx, "t.id = $1", new_id).at(0);
      return out;
    }
    throw DbError("could not store a new token (id collisions): try again");
  });
}

} // namespace tokenadm
