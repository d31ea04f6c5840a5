#include "tokenadm/store.hpp"

#include "db_impl.hpp"
#include "tokenadm/audit.hpp"
#include "tokenadm/digest.hpp"
#include "tokenadm/duration.hpp"
#include "tokenadm/schema.hpp"
#include "tokenadm/text.hpp"
#include "tokenadm/token.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>

namespace tokenadm {

namespace {

using nlohmann::json;

const std::string k_state_sql =
  "case when t.revoked_at is not null and t.revoked_at <= now() then 'revoked'"
  " when t.expires_at is not null and t.expires_at <= now() then 'expired'"
  " else 'active' end";

const std::string k_active_sql =
  "(t.revoked_at is null or t.revoked_at > now())"
  " and (t.expires_at is null or t.expires_at > now())";

const std::string k_version_sql = "(select max(version) from tokenadm.schema_version)";

// The columns read_info() expects, in order.
const std::string k_info_cols =
  "t.id, t.owner, t.label, array_to_string(t.roles, ','), array_to_json(t.scopes)::text,"
  " t.contact, t.meta::text, "
  + k_state_sql + " as state, " + iso("t.created_at") + ", t.created_by, " + iso("t.expires_at")
  + ", " + iso("t.last_used_at") + ", " + iso("t.revoked_at")
  + ", t.revoked_by, t.revoke_reason, t.replaced_by";

// What check_verified() reads, after a leading schema version column.
const std::string k_verify_cols =
  "t.digest, t.owner, array_to_string(t.roles, ','), array_to_json(t.scopes)::text,"
  " t.revoked_at is not null and t.revoked_at <= now(),"
  " t.expires_at is not null and t.expires_at <= now(), "
  + iso("t.revoked_at") + ", " + iso("t.expires_at") + ", t.hash_alg, t.key_id, t.id, t.replaced_by";

// The audit columns every change fills; the values are $A.. placeholders
// bound by audit_params().
const std::string k_audit_cols = "(at, action, token_id, owner, actor, sudo_user, host, outcome, reason)";

std::optional<std::string> opt(const pqxx::field& f)
{
  if (f.is_null()) {
    return std::nullopt;
  }
  return f.c_str();
}


TokenInfo read_info(const pqxx::row& r)
{
  TokenInfo t;
  t.id = r[0].c_str();
  t.owner = r[1].c_str();
  t.label = r[2].c_str();
  t.roles = split_words(r[3].c_str(), ",");
  // Most tokens have no scopes and no metadata: skip the JSON parser then
  // (it is most of a listed row's cost).
  if (std::string_view(r[4].c_str()) != "[]") {
    t.scopes = json::parse(r[4].c_str()).get<std::vector<std::string>>();
  }
  t.contact = opt(r[5]);
  if (std::string_view(r[6].c_str()) != "{}") {
    const auto meta = json::parse(r[6].c_str());
    for (auto it = meta.cbegin(); it != meta.cend(); ++it) {
      t.meta.emplace_back(it.key(), it->is_string() ? it->get<std::string>() : it->dump());
    }
  }
  t.state = r[7].c_str();
  t.created_at = r[8].c_str();
  t.created_by = r[9].c_str();
  t.expires_at = opt(r[10]);
  t.last_used_at = opt(r[11]);
  t.revoked_at = opt(r[12]);
  t.revoked_by = opt(r[13]);
  t.revoke_reason = opt(r[14]);
  t.replaced_by = opt(r[15]);
  return t;
}

const char* nullable(const std::optional<std::string>& s)
{
  return s ? s->c_str() : nullptr;
}

std::optional<std::string> seconds_param(const std::optional<std::int64_t>& s)
{
  return s ? std::optional(std::to_string(*s)) : std::nullopt;
}

// Printable text only: no control characters, valid UTF-8, bounded length.
void check_text(const std::string& value, const std::string& what, std::size_t max_len)
{
  if (value.size() > max_len) {
    throw UsageError(what + " is longer than " + std::to_string(max_len) + " bytes");
  }
  for (const char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) {
      throw UsageError(what + " contains a control character");
    }
  }
  try {
    (void)json(value).dump();
  } catch (const json::exception&) {
    throw UsageError(what + " is not valid UTF-8");
  }
}

int version_of(const pqxx::field& f)
{
  return f.is_null() ? 0 : f.as<int>();
}

// A text[] literal of hex digests (no quoting needed).
std::string hex_array(const std::vector<StoredDigest>& digests)
{
  std::string out = "{";
  for (const auto& d : digests) {
    out += (out.size() > 1 ? "," : "") + d.hex;
  }
  return out + "}";
}

// The insert of a new token with its audit row, as one statement whose
// result is: ver, expiry, expiry in future, expiry within max, inserted,
// created_at. Parameters:
//  $1 id $2 digest $3 hash_alg $4 key_id $5 owner $6 label $7 roles json
//  $8 scopes json $9 contact $10 meta json $11 expires_in s $12 expires_at
//  $13 no_expiry $14 max_ttl s $15 schema version $16 actor $17 sudo_user
//  $18 host $19 action $20 source
const std::string k_insert_sql =
  "with v as ("
  " select " + k_version_sql + " as ver, now() as now,"
  "  case when $13::boolean then null"
  "  else coalesce(now() + make_interval(secs => $11::bigint), $12::timestamptz) end as exp"
  "), ins as ("
  " insert into tokenadm.tokens (id, digest, hash_alg, key_id, owner, label, roles, scopes,"
  "  contact, meta, created_at, created_by, expires_at, source)"
  " select $1, $2, $3, $4, $5, $6, array(select jsonb_array_elements_text($7::jsonb)),"
  "  array(select jsonb_array_elements_text($8::jsonb)), $9, $10::jsonb, v.now, $16, v.exp, $20"
  " from v where v.ver = $15 and (v.exp is null or (v.exp > v.now"
  "  and v.exp <= v.now + make_interval(secs => $14::bigint)))"
  " on conflict do nothing"
  " returning id, owner, created_at"
  "), aud as ("
  " insert into tokenadm.audit (at, action, token_id, owner, actor, sudo_user, host, outcome,"
  "  details)"
  " select ins.created_at, $19, ins.id, ins.owner, $16, nullif($17, ''), $18, 'ok',"
  "  jsonb_build_object('label', $6::text, 'roles', $7::jsonb, 'scopes', $8::jsonb,"
  "  'expires_at', " + iso("v.exp") + ", 'source', $20::text)"
  " from ins, v"
  ")"
  " select v.ver, " + iso("v.exp") + ", v.exp > v.now,"
  "  v.exp <= v.now + make_interval(secs => $14::bigint), ins.id is not null, "
  + iso("ins.created_at") + " from v left join ins on true";

json meta_json(const Meta& meta)
{
  json out = json::object();
  for (const auto& [k, v] : meta) {
    out[k] = v;
  }
  return out;
}

// The expiry to send: the spec's choice, else the policy's default.
std::optional<std::int64_t> effective_expires_in(const NewToken& spec, const Policy& policy)
{
  if (spec.no_expiry || spec.expires_at) {
    return spec.expires_in;
  }
  return spec.expires_in.value_or(policy.default_ttl);
}

// Inserts `token` (already generated) inside `tx`. Returns false on an id
// or digest collision; throws for schema or expiry problems.
bool insert_token(pqxx::transaction_base& tx, const std::string& id,
                  const StoredDigest& digest, const NewToken& spec, const Policy& policy,
                  const Actor& actor, const std::string& action, const std::string& source,
                  TokenInfo& info)
{
  const auto expires_in = seconds_param(effective_expires_in(spec, policy));
  const auto row = tx.exec_params1(
    k_insert_sql, id, digest.hex, digest.hash_alg, digest.key_id, spec.owner, spec.label,
    json(spec.roles).dump(), json(spec.scopes).dump(), nullable(spec.contact),
    meta_json(spec.meta).dump(), nullable(expires_in), nullable(spec.expires_at), spec.no_expiry,
    policy.max_ttl, expected_schema_version(), actor.describe(), actor.sudo_user, actor.host,
    action, source);
  require_schema_version(version_of(row[0]));
  if (!row[1].is_null() && !row[2].as<bool>()) {
    throw UsageError("the expiry " + std::string(row[1].c_str())
                     + " is not in the future (by the database's clock)");
  }
  if (!row[1].is_null() && !row[3].as<bool>()) {
    throw UsageError("the expiry " + std::string(row[1].c_str())
                     + " is beyond the policy's max_ttl of " + format_duration(policy.max_ttl));
  }
  if (!row[4].as<bool>()) {
    return false;
  }
  info.id = id;
  info.owner = spec.owner;
  info.label = spec.label;
  info.roles = spec.roles;
  info.scopes = spec.scopes;
  info.contact = spec.contact;
  info.meta = spec.meta;
  info.state = "active";
  info.created_at = row[5].c_str();
  info.created_by = actor.describe();
  info.expires_at = opt(row[1]);
  return true;
}

// Generates tokens until one inserts (an id collision among 62^10 ids only
// makes the insert do nothing).
CreatedToken create_in(pqxx::transaction_base& tx, const NewToken& spec,
                       const Policy& policy, const Hasher& hasher, const Actor& actor,
                       const std::string& action)
{
  for (int attempt = 0; attempt < 3; ++attempt) {
    CreatedToken out;
    out.token = generate_token(spec.prefix);
    const auto id = parse_token(out.token).id;
    if (insert_token(tx, id, hasher.make(out.token), spec, policy, actor, action,
                     "tokenadm", out.info)) {
      return out;
    }
  }
  throw DbError("could not store a new token (id collisions): try again");
}

std::vector<TokenInfo> query_infos(pqxx::transaction_base& tx, const std::string& where,
                                   const std::string& param)
{
  std::vector<TokenInfo> out;
  for (const auto& row :
       tx.exec_params("select " + k_info_cols + " from tokenadm.tokens t where " + where
                        + " order by t.created_at, t.id",
                      param)) {
    out.push_back(read_info(row));
  }
  return out;
}

// Revokes the ids the `req` CTE selects (columns id, ord), in one
// statement. $1 is the CTE's parameter, $2 reason, $3 actor, $4 sudo_user,
// $5 host.
std::vector<RevokeOutcome> revoke_where(Db& db, const std::string& req_sql,
                                        const std::string& req_param,
                                        const std::optional<std::string>& reason,
                                        const Actor& actor)
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
    " insert into tokenadm.audit " + k_audit_cols +
    " select upd.revoked_at, 'revoke', upd.id, upd.owner, $3, nullif($4, ''), $5, 'ok', $2"
    " from upd"
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
                        actor.host)) {
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

} // namespace

void validate_new_token(const NewToken& spec, const Policy& policy)
{
  if (!valid_prefix(spec.prefix)) {
    throw UsageError("token prefix '" + spec.prefix.substr(0, 16)
                     + "' is invalid: use 1 to 8 lower-case letters");
  }
  check_text(spec.owner, "--owner", 256);
  check_text(spec.label, "--label", 256);
  if (spec.roles.empty()) {
    throw UsageError("--role: at least one role is needed");
  }
  for (const auto& role : spec.roles) {
    if (std::find(k_roles.begin(), k_roles.end(), role) == k_roles.end()) {
      throw UsageError("--role: unknown role '" + role.substr(0, 32)
                       + "' (use api, feed, vcs, http or all)");
    }
    if (std::find(policy.roles.begin(), policy.roles.end(), role) == policy.roles.end()) {
      throw UsageError("--role: the policy does not allow the role '" + role
                       + "' (token.roles)");
    }
  }
  for (const auto& scope : spec.scopes) {
    check_text(scope, "--scope", 256);
    if (scope.empty()) {
      throw UsageError("--scope: a scope cannot be empty");
    }
  }
  if (spec.contact) {
    check_text(*spec.contact, "--contact", 256);
    const auto at = spec.contact->find('@');
    if (at == std::string::npos || at == 0 || at + 1 == spec.contact->size()
        || spec.contact->find_first_of(" <>,;\"") != std::string::npos) {
      throw UsageError("--contact: '" + spec.contact->substr(0, 64)
                       + "' is not an email address");
    }
  }
  for (const auto& [k, v] : spec.meta) {
    check_text(k, "--meta key", 64);
    check_text(v, "--meta value", 1024);
    if (k.empty()) {
      throw UsageError("--meta: the key cannot be empty (use key=value)");
    }
  }
  const int choices =
    (spec.expires_in ? 1 : 0) + (spec.expires_at ? 1 : 0) + (spec.no_expiry ? 1 : 0);
  if (choices > 1) {
    throw UsageError("--expires-in, --expires-at and --no-expiry exclude each other");
  }
  if (spec.no_expiry && !policy.allow_no_expiry) {
    throw UsageError("--no-expiry is not allowed by the policy (token.allow_no_expiry = false); "
                     "use --expires-in up to "
                     + format_duration(policy.max_ttl));
  }
  if (spec.expires_in && *spec.expires_in > policy.max_ttl) {
    throw UsageError("--expires-in " + format_duration(*spec.expires_in)
                     + " is over the policy's max_ttl of " + format_duration(policy.max_ttl));
  }
}

CreatedToken create_token(Db& db, const NewToken& spec, const Policy& policy,
                          const Hasher& hasher, const Actor& actor)
{
  validate_new_token(spec, policy);
  return guarded(db, [&] {
    // One statement in autocommit: one round trip, committed on return.
    pqxx::nontransaction tx(db.impl().conn);
    return create_in(tx, spec, policy, hasher, actor, "create");
  });
}

Ensured ensure_token(Db& db, const NewToken& spec, const Policy& policy,
                     const Hasher& hasher, const Actor& actor)
{
  validate_new_token(spec, policy);
  return guarded(db, [&] {
    pqxx::work tx(db.impl().conn);
    // Serialises ensures of the same owner+label; each later statement
    // sees what an earlier holder committed (read committed).
    tx.exec_params("select pg_advisory_xact_lock(hashtextextended($1 || chr(31) || $2, 7107))",
                   spec.owner, spec.label);
    Ensured out;
    const auto row = tx.exec_params1(
      "select " + k_version_sql + ", (select t.id from tokenadm.tokens t where t.owner = $1"
      " and t.label = $2 and " + k_active_sql + " order by t.created_at desc limit 1)",
      spec.owner, spec.label);
    require_schema_version(version_of(row[0]));
    if (!row[1].is_null()) {
      const auto found = query_infos(tx, "t.id = $1", row[1].c_str());
      tx.commit();
      out.existing = found.at(0);
      return out;
    }
    out.token = create_in(tx, spec, policy, hasher, actor, "ensure");
    tx.commit();
    out.created = true;
    return out;
  });
}

void list_tokens(Db& db, const ListFilter& filter,
                 const std::function<void(const TokenInfo&)>& sink)
{
  if (filter.role && std::find(k_roles.begin(), k_roles.end(), *filter.role) == k_roles.end()) {
    throw UsageError("--role: unknown role '" + filter.role->substr(0, 32) + "'");
  }
  const std::string sql =
    "declare tokenadm_list no scroll cursor for select * from (select " + k_info_cols
    + " from tokenadm.tokens t where ($1::text is null or t.id = $1)"
      " and ($2::text is null or t.owner = $2) and ($3::text is null or t.label = $3)"
      " and ($4::text is null or $4 = any(t.roles) or 'all' = any(t.roles))"
      " and ($5::bigint is null or (t.expires_at <= now() + make_interval(secs => $5::bigint)"
      "  and " + k_active_sql + "))"
      " and ($6::timestamptz is null or t.created_at < $6::timestamptz)"
      " order by t.created_at, t.id) s where $7 = 'all' or s.state = $7";
  const auto within = seconds_param(filter.expiring_within);
  guarded(db, [&] {
    pqxx::read_transaction tx(db.impl().conn);
    require_schema_version(version_of(tx.exec("select " + k_version_sql)[0][0]));
    tx.exec_params(sql, nullable(filter.id), nullable(filter.owner), nullable(filter.label),
                   nullable(filter.role), nullable(within), nullable(filter.created_before),
                   filter.state);
    for (;;) {
      const auto r = tx.exec("fetch 5000 from tokenadm_list");
      for (const auto& row : r) {
        sink(read_info(row));
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
    " (select " + iso("revoked_at") + " from t)";
  return guarded(db, [&] {
    pqxx::nontransaction tx(db.impl().conn);
    const auto row = tx.exec_params1(sql, id, expires_in, actor.describe(), actor.sudo_user,
                                     actor.host);
    require_schema_version(version_of(row[0]));
    if (row[1].as<int>() == 0) {
      throw NotFound(printable_id(id) + ": no such token");
    }
    if (row[2].as<int>() == 0) {
      throw TokenRejected("revoked", "token " + id + " was revoked at "
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
    "  scopes, contact, meta, created_at, created_by, expires_at)"
    "  select $2, $3, $4, $5, o.owner, o.label, o.roles, o.scopes, o.contact, o.meta, now(), $6,"
    "  now() + make_interval(secs => $7::bigint) from old o"
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

std::vector<TokenInfo> prune_tokens(Db& db, std::int64_t older_than, bool dry_run,
                                    const Actor& actor)
{
  const std::string where =
    "(t.revoked_at < now() - make_interval(secs => $1::bigint)"
    " or t.expires_at < now() - make_interval(secs => $1::bigint))";
  return guarded(db, [&] {
    pqxx::nontransaction tx(db.impl().conn);
    if (dry_run) {
      return query_infos(tx, where, std::to_string(older_than));
    }
    const std::string sql =
      "with del as (delete from tokenadm.tokens t where " + where + " returning t.*),"
      " aud as (insert into tokenadm.audit " + k_audit_cols +
      "  select now(), 'prune', del.id, del.owner, $2, nullif($3, ''), $4, 'ok',"
      "  'older than ' || $5 from del)"
      " select " + k_info_cols + " from del t order by t.created_at, t.id";
    std::vector<TokenInfo> out;
    for (const auto& row : tx.exec_params(sql, older_than, actor.describe(), actor.sudo_user,
                                          actor.host, format_duration(older_than))) {
      out.push_back(read_info(row));
    }
    return out;
  });
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

bool looks_like_legacy_token(std::string_view text)
{
  if (text.size() < 16 || text.size() > 256 || looks_like_token(text)) {
    return false;
  }
  return std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || std::string_view(".~+/=-").find(c) != std::string_view::npos;
  });
}

namespace {

ImportResult import_in(pqxx::transaction_base& tx, const std::vector<std::string>& tokens,
                       const NewToken& spec, const Policy& policy, const Hasher& hasher,
                       const Actor& actor, const std::string& source,
                       const Progress& progress = {})
{
  ImportResult result;
  for (const auto& token : tokens) {
    if (progress && (result.ids.size() + result.duplicates) % 100 == 0) {
      progress(result.ids.size() + result.duplicates, tokens.size());
    }
    TokenInfo info;
    // Legacy tokens carry no id: a random one is generated.
    bool stored = false;
    for (int attempt = 0; attempt < 3 && !stored; ++attempt) {
      const auto id = random_base62(k_id_len);
      const auto digest = hasher.make(token);
      // A digest already present (the same token imported before) is a
      // duplicate, not a collision: check it first.
      const auto dup = tx.exec_params1(
        "select count(*) from tokenadm.tokens where digest = any($1::text[])",
        hex_array(hasher.candidates(token)));
      if (dup[0].as<int>() > 0) {
        ++result.duplicates;
        stored = true;
        break;
      }
      if (insert_token(tx, id, digest, spec, policy, actor, "import", source, info)) {
        result.ids.push_back(id);
        stored = true;
      }
    }
    if (!stored) {
      throw DbError("could not store an imported token (id collisions): try again");
    }
  }
  return result;
}

} // namespace

ImportResult import_tokens(Db& db, const std::vector<std::string>& tokens, const NewToken& spec,
                           const Policy& policy, const Hasher& hasher, const Actor& actor,
                           const std::string& source, const Progress& progress)
{
  validate_new_token(spec, policy);
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (!looks_like_legacy_token(tokens[i])) {
      throw UsageError("token " + std::to_string(i + 1)
                       + " is not a legacy token (16 to 256 characters of A-Z a-z 0-9 . ~ + / = -)");
    }
  }
  return guarded(db, [&] {
    pqxx::work tx(db.impl().conn);
    auto result = import_in(tx, tokens, spec, policy, hasher, actor, source, progress);
    tx.commit();
    return result;
  });
}

ImportResult import_from_gs(Db& db, const NewToken& spec, const Policy& policy,
                            const Hasher& hasher, const Actor& actor, bool remove_plaintext)
{
  validate_new_token(spec, policy);
  const std::string where = " where component_id = 'gs.auth.token' and option_id = 'authToken'"
                            " and site_id = '' and group_id = ''";
  return guarded(db, [&] {
    pqxx::work tx(db.impl().conn);
    if (tx.exec("select to_regclass('option') is null")[0][0].as<bool>()) {
      throw NotFound("no GroupServer option table in this database (looked for 'option')");
    }
    const auto r = tx.exec("select value from option" + where + " for update");
    if (r.empty() || r[0][0].is_null()) {
      throw NotFound("no gs.auth.token authToken row in the option table");
    }
    const std::string token = r[0][0].c_str();
    if (!looks_like_legacy_token(token)) {
      throw UsageError("the gs.auth.token value is not a token (16 to 256 characters)");
    }
    auto result = import_in(tx, {token}, spec, policy, hasher, actor, "gs");
    if (remove_plaintext) {
      tx.exec("delete from option" + where);
    }
    tx.commit();
    return result;
  });
}

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

namespace {

// The bulk selection as SQL over tokens t, from one JSON parameter $1:
// {"owner": ..., "label": ..., "all_expired": bool}.
const std::string k_bulk_where =
  "(t.revoked_at is null or t.revoked_at > now())"
  " and ((($1::jsonb->>'all_expired')::boolean and t.expires_at <= now())"
  "  or (not ($1::jsonb->>'all_expired')::boolean"
  "   and (t.expires_at is null or t.expires_at > now())"
  "   and ($1::jsonb->>'owner' is null or t.owner = $1::jsonb->>'owner')"
  "   and ($1::jsonb->>'label' is null or t.label = $1::jsonb->>'label')))";

std::string bulk_param(const RevokeFilter& f)
{
  if (!f.owner && !f.label && !f.all_expired) {
    throw UsageError("a bulk revoke needs --owner, --label or --all-expired");
  }
  if (f.all_expired && (f.owner || f.label)) {
    throw UsageError("--all-expired goes alone, without --owner or --label");
  }
  return json{{"owner", f.owner ? json(*f.owner) : json(nullptr)},
              {"label", f.label ? json(*f.label) : json(nullptr)},
              {"all_expired", f.all_expired}}
    .dump();
}

} // namespace

std::vector<RevokeOutcome> revoke_matching(Db& db, const RevokeFilter& filter,
                                           const std::optional<std::string>& reason,
                                           const Actor& actor)
{
  return revoke_where(db,
                      "select t.id, row_number() over (order by t.created_at, t.id) as ord"
                      " from tokenadm.tokens t where " + k_bulk_where,
                      bulk_param(filter), reason, actor);
}

std::vector<TokenInfo> tokens_matching(Db& db, const RevokeFilter& filter)
{
  const auto param = bulk_param(filter);
  return guarded(db, [&] {
    pqxx::nontransaction tx(db.impl().conn);
    return query_infos(tx, k_bulk_where, param);
  });
}

void precheck_token(const std::string& token)
{
  if (!looks_like_token(token) && looks_like_legacy_token(token)) {
    return;
  }
  parse_token(token);
}

namespace {
void check_verified(const pqxx::row& row, bool match, const std::string& found_id,
                    const VerifyRequest& req);
} // namespace

void validate_verify_request(const VerifyRequest& req)
{
  if (req.role && std::find(k_roles.begin(), k_roles.end(), *req.role) == k_roles.end()) {
    throw UsageError("--role: unknown role '" + req.role->substr(0, 32)
                     + "' (use api, feed, vcs, http or all)");
  }
}

Verified verify_token(Db& db, const std::string& token, const VerifyRequest& req,
                      const Hasher& hasher)
{
  validate_verify_request(req);
  precheck_token(token);
  const bool legacy = !looks_like_token(token);
  const auto id = legacy ? std::string() : parse_token(token).id;
  const auto candidates = hasher.candidates(token);
  // Legacy tokens have no id in their text: found by digest instead. (The
  // unnamed statement is planned with the values, so each branch gets its
  // index.)
  std::string sql = "with t as (select * from tokenadm.tokens t where ($1 <> '' and t.id = $1)"
                    " or ($1 = '' and t.digest = any($2::text[])) limit 1)";
  if (req.touch) {
    // At most one write a minute per token; none at all otherwise.
    sql += ", touch as (update tokenadm.tokens u set last_used_at = now() from t"
           " where u.id = t.id and t.digest = any($2::text[])"
           " and (t.revoked_at is null or t.revoked_at > now())"
           " and (t.expires_at is null or t.expires_at > now())"
           " and (t.last_used_at is null or t.last_used_at < now() - interval '1 minute')"
           " returning u.id)";
  }
  sql += " select v.ver, " + k_verify_cols
         + " from (select " + k_version_sql + " as ver) v left join t on true";
  const auto row = guarded(db, [&] {
    pqxx::nontransaction tx(db.impl().conn);
    return tx.exec_params1(sql, id, hex_array(candidates));
  });
  require_schema_version(version_of(row[0]));
  // An unknown id and a wrong secret for a known id get the same answer, so
  // ids cannot be probed for existence with made-up secrets.
  bool match = false;
  if (!row[1].is_null()) {
    for (const auto& c : candidates) {
      if (c.hash_alg == row[9].c_str() && c.key_id == row[10].c_str()) {
        match = digest_equal(c.hex, row[1].c_str());
      }
    }
  }
  const std::string found_id = match ? row[11].c_str() : id;
  try {
    check_verified(row, match, found_id, req);
  } catch (const TokenRejected& e) {
    if (req.audit) {
      record_verify_failure(db, e.reason(),
                            found_id.empty() ? std::nullopt : std::optional(found_id),
                            current_actor());
    }
    throw;
  }
  Verified out{found_id, row[2].c_str(), opt(row[12]), opt(row[7])};
  if (out.replaced_by && req.touch) {
    // A rotated-out token in use, flagged at most once a minute. A second
    // statement, only for these: in the first, the audit table would be
    // opened (and its indexes loaded) on every verify.
    const auto actor = current_actor();
    guarded(db, [&] {
      pqxx::nontransaction tx(db.impl().conn);
      tx.exec_params("insert into tokenadm.audit " + k_audit_cols +
                     " select now(), 'verify', $1, owner, $2, nullif($3, ''), $4,"
                     " 'rotated-token-used', 'replaced by ' || replaced_by"
                     " from tokenadm.tokens where id = $1 and not exists (select 1"
                     " from tokenadm.audit a where a.token_id = $1"
                     " and a.outcome = 'rotated-token-used'"
                     " and a.at > now() - interval '1 minute')",
                     found_id, actor.describe(), actor.sudo_user, actor.host);
    });
  }
  return out;
}

namespace {

void check_verified(const pqxx::row& row, bool match, const std::string& found_id,
                    const VerifyRequest& req)
{
  if (!match) {
    throw TokenRejected("unknown", "no such token");
  }
  if (row[5].as<bool>()) {
    throw TokenRejected("revoked", "token " + found_id + " was revoked at " + row[7].c_str());
  }
  if (row[6].as<bool>()) {
    throw TokenRejected("expired", "token " + found_id + " expired at " + row[8].c_str());
  }
  if (req.role) {
    const auto roles = split_words(row[3].c_str(), ",");
    if (std::find(roles.begin(), roles.end(), *req.role) == roles.end()
        && std::find(roles.begin(), roles.end(), "all") == roles.end()) {
      throw TokenRejected("forbidden", "token " + found_id + " does not have the role '"
                                         + req.role->substr(0, 32) + "'");
    }
  }
  if (req.scope) {
    const auto scopes = json::parse(row[4].c_str()).get<std::vector<std::string>>();
    if (!scopes.empty() && std::find(scopes.begin(), scopes.end(), *req.scope) == scopes.end()) {
      throw TokenRejected("forbidden", "token " + found_id + " is not valid for the scope '"
                                         + req.scope->substr(0, 64) + "'");
    }
  }
}

} // namespace

namespace {

// A text[] literal of arbitrary strings, quoted for PostgreSQL.
std::string text_array(const std::vector<std::string>& items)
{
  std::string out = "{";
  for (const auto& item : items) {
    if (out.size() > 1) {
      out += ',';
    }
    out += '"';
    for (char c : item) {
      if (c == '"' || c == '\\') {
        out += '\\';
      }
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

// Does the stored digest in `row` match one of the presented token's?
bool digest_matches(const pqxx::row& row, const std::vector<StoredDigest>& candidates)
{
  for (const auto& c : candidates) {
    if (c.hash_alg == row[9].c_str() && c.key_id == row[10].c_str()) {
      return digest_equal(c.hex, row[1].c_str());
    }
  }
  return false;
}

} // namespace

std::vector<BatchAnswer> verify_batch(Db& db, const std::vector<std::string>& tokens,
                                      const VerifyRequest& req, const Hasher& hasher)
{
  validate_verify_request(req);
  std::vector<BatchAnswer> answers(tokens.size());
  struct Pending {
    std::size_t index;
    std::string id; // empty for legacy tokens
    std::vector<StoredDigest> candidates;
  };
  std::vector<Pending> pending;
  std::vector<std::string> ids;
  std::vector<StoredDigest> legacy_digests;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    // What precheck_token() does, parsing each token once.
    std::string id;
    try {
      if (looks_like_token(tokens[i])) {
        id = parse_token(tokens[i]).id;
      } else if (!looks_like_legacy_token(tokens[i])) {
        throw TokenRejected("malformed", "not a token");
      }
    } catch (const TokenRejected& e) {
      answers[i].reason = e.reason(); // never reaches the database
      continue;
    }
    Pending p{i, std::move(id), hasher.candidates(tokens[i])};
    if (!p.id.empty()) {
      ids.push_back(p.id);
    } else {
      legacy_digests.insert(legacy_digests.end(), p.candidates.begin(), p.candidates.end());
    }
    pending.push_back(std::move(p));
  }
  if (pending.empty()) {
    return answers;
  }
  // One snapshot for the whole batch: every revoke committed before it is
  // seen.
  const std::string sql = "select " + k_version_sql + ", " + k_verify_cols
                          + " from tokenadm.tokens t where t.id = any($1::text[])"
                            " or t.digest = any($2::text[])";
  std::vector<std::string> touched;
  std::map<std::string, int> failures;
  std::optional<std::string> last_failed_id;
  guarded(db, [&] {
    pqxx::nontransaction tx(db.impl().conn);
    const auto rows = tx.exec_params(sql, text_array(ids), hex_array(legacy_digests));
    if (!rows.empty()) {
      require_schema_version(version_of(rows[0][0]));
    } else {
      require_schema_version(version_of(tx.exec("select " + k_version_sql)[0][0]));
    }
    std::map<std::string, std::size_t> by_id;
    for (std::size_t r = 0; r < rows.size(); ++r) {
      by_id[rows[r][11].c_str()] = r;
    }
    for (auto& p : pending) {
      std::optional<std::size_t> found;
      if (!p.id.empty()) {
        if (const auto it = by_id.find(p.id); it != by_id.end()) {
          found = it->second;
        }
      } else {
        for (std::size_t r = 0; r < rows.size() && !found; ++r) {
          if (digest_matches(rows[r], p.candidates)) {
            found = r;
          }
        }
      }
      // check_verified reads the row with the version column first: the
      // batch rows have the same layout.
      auto& a = answers[p.index];
      const bool match = found && digest_matches(rows[*found], p.candidates);
      try {
        if (!match) {
          throw TokenRejected("unknown", "no such token");
        }
        check_verified(rows[*found], match, rows[*found][11].c_str(), req);
        a.ok = true;
        a.id = rows[*found][11].c_str();
        a.owner = rows[*found][2].c_str();
        touched.push_back(a.id);
      } catch (const TokenRejected& e) {
        a.reason = e.reason();
        ++failures[a.reason];
        if (!p.id.empty()) {
          last_failed_id = p.id;
        }
      }
    }
    if (req.touch && !touched.empty()) {
      tx.exec_params("update tokenadm.tokens set last_used_at = now()"
                     " where id = any($1::text[])"
                     " and (last_used_at is null or last_used_at < now() - interval '1 minute')",
                     text_array(touched));
    }
  });
  if (req.audit && !failures.empty()) {
    const auto actor = current_actor();
    for (const auto& [reason, n] : failures) {
      record_verify_failure(db, reason, last_failed_id, actor, n);
    }
  }
  return answers;
}

std::vector<CreatedToken> create_tokens_bulk(Db& db, const NewToken& spec,
                                             const std::vector<std::string>& labels,
                                             const Policy& policy, const Hasher& hasher,
                                             const Actor& actor, const Progress& progress)
{
  validate_new_token(spec, policy);
  for (const auto& label : labels) {
    check_text(label, "label", 256);
  }
  const auto expires_in = seconds_param(effective_expires_in(spec, policy));
  return guarded(db, [&] {
    pqxx::work tx(db.impl().conn);
    // The expiry, checked as create checks it, from the database clock.
    const auto v = tx.exec_params1(
      "select " + k_version_sql + ", e.exp::text, " + iso("e.exp") + ", e.exp > now(),"
      " e.exp <= now() + make_interval(secs => $4::bigint)"
      " from (select case when $3::boolean then null else coalesce(now() +"
      " make_interval(secs => $1::bigint), $2::timestamptz) end as exp) e",
      nullable(expires_in), nullable(spec.expires_at), spec.no_expiry, policy.max_ttl);
    require_schema_version(version_of(v[0]));
    if (!v[1].is_null() && !v[3].as<bool>()) {
      throw UsageError("the expiry " + std::string(v[2].c_str()) + " is not in the future");
    }
    if (!v[1].is_null() && !v[4].as<bool>()) {
      throw UsageError("the expiry " + std::string(v[2].c_str())
                       + " is beyond the policy's max_ttl of " + format_duration(policy.max_ttl));
    }
    const std::optional<std::string> exp = opt(v[1]);
    const auto created_at = tx.exec("select " + iso("now()"))[0][0].as<std::string>();
    const auto roles = text_array(spec.roles);
    const auto scopes = text_array(spec.scopes);
    const auto meta = meta_json(spec.meta).dump();
    std::vector<CreatedToken> out;
    out.reserve(labels.size());
    {
      // pqxx 6's stream_to takes tuples (not vectors); null is a null
      // const char*.
      pqxx::stream_to copy(tx, "tokenadm.tokens",
                           std::vector<std::string>{"id", "digest", "hash_alg", "key_id", "owner",
                                                    "label", "roles", "scopes", "meta",
                                                    "created_by", "source", "expires_at",
                                                    "contact"});
      const auto creator = actor.describe();
      const char* exp_text = exp ? exp->c_str() : nullptr;
      const char* contact = nullable(spec.contact);
      for (const auto& label : labels) {
        if (progress && out.size() % 5000 == 0) {
          progress(out.size(), labels.size());
        }
        CreatedToken c;
        c.token = generate_token(spec.prefix);
        const auto id = parse_token(c.token).id;
        const auto d = hasher.make(c.token);
        copy << std::make_tuple(id, d.hex, d.hash_alg, d.key_id, spec.owner, label, roles, scopes,
                                meta, creator, std::string("bulk"), exp_text, contact);
        c.info.id = id;
        c.info.owner = spec.owner;
        c.info.label = label;
        c.info.roles = spec.roles;
        c.info.scopes = spec.scopes;
        c.info.contact = spec.contact;
        c.info.meta = spec.meta;
        c.info.state = "active";
        c.info.created_at = created_at;
        c.info.created_by = creator;
        c.info.expires_at = exp ? std::optional(std::string(v[2].c_str())) : std::nullopt;
        out.push_back(std::move(c));
      }
      copy.complete();
    }
    {
      pqxx::stream_to copy(tx, "tokenadm.audit",
                           std::vector<std::string>{"action", "token_id", "owner", "actor",
                                                    "sudo_user", "host", "outcome", "details"});
      const std::string details = json{{"bulk", labels.size()}, {"roles", spec.roles}}.dump();
      const std::string creator = actor.describe();
      const char* sudo = actor.sudo_user.empty() ? nullptr : actor.sudo_user.c_str();
      for (const auto& c : out) {
        copy << std::make_tuple(std::string("create"), c.info.id, spec.owner, creator, sudo,
                                actor.host, std::string("ok"), details);
      }
      copy.complete();
    }
    tx.commit();
    return out;
  });
}

} // namespace tokenadm
