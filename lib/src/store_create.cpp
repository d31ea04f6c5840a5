// Creating tokens: create, ensure, import, create --count (COPY).
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

namespace {

// The insert of a new token with its audit row, as one statement whose
// result is: ver, expiry, expiry in future, expiry within max, inserted,
// created_at. Parameters:
//  $1 id $2 digest $3 hash_alg $4 key_id $5 owner $6 label $7 roles json
//  $8 scopes json $9 contact $10 meta json $11 expires_in s $12 expires_at
//  $13 no_expiry $14 max_ttl s $15 schema version $16 actor $17 sudo_user
//  $18 host $19 action $20 source $21 allow_from cidr[] literal $22 max_uses
// An imported token (action import) is legacy: found by its digest alone.
const std::string k_insert_sql =
  "with v as ("
  " select " + k_version_sql + " as ver, now() as now,"
  "  case when $13::boolean then null"
  "  else coalesce(now() + make_interval(secs => $11::bigint), $12::timestamptz) end as exp"
  "), ins as ("
  " insert into tokenadm.tokens (id, digest, hash_alg, key_id, owner, label, roles, scopes,"
  "  contact, meta, created_at, created_by, expires_at, source, allow_from, max_uses, legacy)"
  " select $1, $2, $3, $4, $5, $6, array(select jsonb_array_elements_text($7::jsonb)),"
  "  array(select jsonb_array_elements_text($8::jsonb)), $9, $10::jsonb, v.now, $16, v.exp, $20,"
  "  $21::cidr[], $22::integer, $19 = 'import'"
  " from v where v.ver = $15 and (v.exp is null or (v.exp > v.now"
  "  and v.exp <= v.now + make_interval(secs => $14::bigint)))"
  " on conflict do nothing"
  " returning id, owner, created_at"
  "), aud as ("
  " insert into tokenadm.audit (at, action, token_id, owner, actor, sudo_user, host, outcome,"
  "  details)"
  " select ins.created_at, $19, ins.id, ins.owner, $16, nullif($17, ''), $18, 'ok',"
  "  jsonb_build_object('label', $6::text, 'roles', $7::jsonb, 'scopes', $8::jsonb,"
  "  'expires_at', " + iso("v.exp") + ", 'source', $20::text, 'allow_from', $21::cidr[],"
  "  'max_uses', $22::integer)"
  " from ins, v"
  ")"
  " select v.ver, " + iso("v.exp") + ", v.exp > v.now,"
  "  v.exp <= v.now + make_interval(secs => $14::bigint), ins.id is not null, "
  + iso("ins.created_at") + " from v left join ins on true";

std::optional<std::string> allow_param(const NewToken& spec)
{
  return spec.allow_from.empty() ? std::nullopt : std::optional(text_array(spec.allow_from));
}

std::optional<std::string> max_uses_param(const NewToken& spec)
{
  return spec.max_uses ? std::optional(std::to_string(*spec.max_uses)) : std::nullopt;
}

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
    action, source, nullable(allow_param(spec)), nullable(max_uses_param(spec)));
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
  info.allow_from = spec.allow_from;
  info.max_uses = spec.max_uses;
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

} // namespace

namespace {

// Each role and scope once, in the order first given: `--role api,api` is
// one role.
std::vector<std::string> unique_in_order(const std::vector<std::string>& items)
{
  std::vector<std::string> out;
  for (const auto& item : items) {
    if (std::find(out.begin(), out.end(), item) == out.end()) {
      out.push_back(item);
    }
  }
  return out;
}

NewToken normalized(NewToken spec)
{
  spec.roles = unique_in_order(spec.roles);
  spec.scopes = unique_in_order(spec.scopes);
  return spec;
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
  if (spec.expires_at) {
    check_time(*spec.expires_at, "--expires-at");
  }
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
  for (const auto& range : spec.allow_from) {
    if (parse_cidr(range, "--allow-from") != range) {
      throw UsageError("--allow-from: '" + range.substr(0, 64) + "' is not in canonical form");
    }
  }
  if (spec.max_uses && (*spec.max_uses < 1 || *spec.max_uses > 2147483647)) {
    throw UsageError("--max-uses must be between 1 and 2147483647");
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

CreatedToken create_token(Db& db, const NewToken& asked, const Policy& policy,
                          const Hasher& hasher, const Actor& actor)
{
  const NewToken spec = normalized(asked);
  validate_new_token(spec, policy);
  return guarded(db, [&] {
    // One statement in autocommit: one round trip, committed on return.
    pqxx::nontransaction tx(db.impl().conn);
    return create_in(tx, spec, policy, hasher, actor, "create");
  });
}

namespace {

std::vector<std::string> as_set(std::vector<std::string> v)
{
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

// What ensure_token reports as drift of `t` (active) from `spec`.
std::vector<std::string> drift(pqxx::transaction_base& tx, const TokenInfo& t,
                               const NewToken& spec, bool compare_expiry)
{
  std::vector<std::string> out;
  if (as_set(t.roles) != as_set(spec.roles)) {
    out.emplace_back("roles");
  }
  if (as_set(t.scopes) != as_set(spec.scopes)) {
    out.emplace_back("scopes");
  }
  // Address ranges as sets of normalised cidr (10.1.2.3 is 10.1.2.3/32),
  // and the use limit.
  const auto policy = tx.exec_params1(
    "select coalesce((select array_agg(distinct a order by a) from unnest(t.allow_from) a),"
    "  '{}') is distinct from coalesce((select array_agg(distinct a order by a)"
    "  from unnest($2::cidr[]) a), '{}'), t.max_uses is distinct from $3::integer"
    " from tokenadm.tokens t where t.id = $1",
    t.id, nullable(allow_param(spec)), nullable(max_uses_param(spec)));
  if (policy[0].as<bool>()) {
    out.emplace_back("allow_from");
  }
  if (policy[1].as<bool>()) {
    out.emplace_back("max_uses");
  }
  if (compare_expiry) {
    // The lifetime from creation is compared, not the time left, so a
    // token is not drift the moment after it was made; 1% or a minute of
    // slack.
    const auto row = tx.exec_params1(
      "select case when $2::bool then t.expires_at is not null"
      " when $3::text is not null then t.expires_at is distinct from $3::timestamptz"
      " else t.expires_at is null or abs(extract(epoch from t.expires_at - t.created_at)"
      "  - $4::bigint) > greatest(60, $4::bigint / 100) end"
      " from tokenadm.tokens t where t.id = $1",
      t.id, spec.no_expiry, nullable(spec.expires_at), spec.expires_in.value_or(0));
    if (row[0].as<bool>()) {
      out.emplace_back("expiry");
    }
  }
  return out;
}

} // namespace

Ensured ensure_token(Db& db, const NewToken& asked, const Policy& policy,
                     const Hasher& hasher, const Actor& actor, const EnsureRequest& request)
{
  using Mode = EnsureRequest::Mode;
  const NewToken spec = normalized(asked);
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
    if (request.expect_id && (row[1].is_null() || *request.expect_id != row[1].c_str())) {
      throw UsageError("--output file holds token " + printable_id(*request.expect_id)
                       + (row[1].is_null()
                            ? std::string(", which is not active")
                            : ", but the active one is " + std::string(row[1].c_str()))
                       + ": remove it to have one made");
    }
    if (!row[1].is_null()) {
      out.existing = query_infos(tx, "t.id = $1", row[1].c_str()).at(0);
      out.differs = drift(tx, out.existing, spec, request.compare_expiry);
      if (out.differs.empty() || request.mode != Mode::converge) {
        tx.commit();
        return out;
      }
      // Converge: a rotation to the asked-for shape, in this transaction.
      out.token = create_in(tx, spec, policy, hasher, actor, "ensure");
      std::string what;
      for (const auto& d : out.differs) {
        what += (what.empty() ? "" : ", ") + d;
      }
      tx.exec_params(
        "with upd as (update tokenadm.tokens set revoked_at = now(), revoked_by = $2,"
        "  revoke_reason = 'rotated', replaced_by = $3 where id = $1 returning id, owner)"
        " insert into tokenadm.audit " + k_audit_cols +
        " select now(), 'rotate', upd.id, upd.owner, $2, nullif($4, ''), $5, 'ok',"
        " 'replaced by ' || $3 || ' (ensure --converge: ' || $6 || ' differed)' from upd",
        out.existing.id, actor.describe(), out.token->info.id, actor.sudo_user, actor.host,
        what);
      tx.commit();
      out.replaced = out.existing.id;
      out.created = true;
      return out;
    }
    if (request.mode == Mode::dry_run) {
      return out; // rolled back: nothing was changed
    }
    out.token = create_in(tx, spec, policy, hasher, actor, "ensure");
    tx.commit();
    out.created = true;
    return out;
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
        "select count(*) from tokenadm.tokens where digest = any($1::text[]) and legacy",
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

ImportResult import_tokens(Db& db, const std::vector<std::string>& tokens, const NewToken& asked,
                           const Policy& policy, const Hasher& hasher, const Actor& actor,
                           const std::string& source, const Progress& progress)
{
  const NewToken spec = normalized(asked);
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

ImportResult import_from_gs(Db& db, const NewToken& asked, const Policy& policy,
                            const Hasher& hasher, const Actor& actor, bool remove_plaintext)
{
  const NewToken spec = normalized(asked);
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
      // Run again after an import that removed the plaintext: done before.
      if (tx.exec("select exists (select 1 from tokenadm.tokens where source = 'gs')")[0][0]
            .as<bool>()) {
        return ImportResult{};
      }
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

std::vector<CreatedToken> create_tokens_bulk(Db& db, const NewToken& asked,
                                             const std::vector<std::string>& labels,
                                             const Policy& policy, const Hasher& hasher,
                                             const Actor& actor, const Progress& progress)
{
  const NewToken spec = normalized(asked);
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
                                                    "contact", "allow_from", "max_uses"});
      const auto creator = actor.describe();
      const char* exp_text = exp ? exp->c_str() : nullptr;
      const char* contact = nullable(spec.contact);
      const auto allow = allow_param(spec);
      const auto max_uses = max_uses_param(spec);
      auto tokens = generate_tokens(spec.prefix, labels.size());
      for (const auto& label : labels) {
        if (progress && out.size() % 5000 == 0) {
          progress(out.size(), labels.size());
        }
        CreatedToken c;
        c.token = std::move(tokens[out.size()]);
        const auto id = parse_token(c.token).id;
        const auto d = hasher.make(c.token);
        copy << std::make_tuple(id, d.hex, d.hash_alg, d.key_id, spec.owner, label, roles, scopes,
                                meta, creator, std::string("bulk"), exp_text, contact,
                                nullable(allow), nullable(max_uses));
        c.info.id = id;
        c.info.owner = spec.owner;
        c.info.label = label;
        c.info.roles = spec.roles;
        c.info.scopes = spec.scopes;
        c.info.contact = spec.contact;
        c.info.meta = spec.meta;
        c.info.allow_from = spec.allow_from;
        c.info.max_uses = spec.max_uses;
        c.info.state = "active";
        c.info.created_at = created_at;
        c.info.created_by = creator;
        c.info.expires_at = exp ? std::optional(std::string(v[2].c_str())) : std::nullopt;
        out.push_back(std::move(c));
      }
      copy.complete();
    }
    // One audit row for them all (migration 10): their ids, and how many.
    std::vector<std::string> ids;
    ids.reserve(out.size());
    for (const auto& c : out) {
      ids.push_back(c.info.id);
    }
    tx.exec_params("insert into tokenadm.audit (at, action, owner, actor, sudo_user, host, outcome,"
                   " details, count, token_ids) values (now(), 'create', $1, $2, nullif($3, ''),"
                   " $4, 'ok', $5::jsonb, $6, $7::text[])",
                   spec.owner, actor.describe(), actor.sudo_user, actor.host,
                   json{{"bulk", labels.size()}, {"roles", spec.roles}}.dump(),
                   static_cast<int>(out.size()), text_array(ids));
    tx.commit();
    return out;
  });
}

} // namespace tokenadm
