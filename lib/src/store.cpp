#include "tokenadm/store.hpp"

#include "db_impl.hpp"
#include "tokenadm/digest.hpp"
#include "tokenadm/duration.hpp"
#include "tokenadm/schema.hpp"
#include "tokenadm/token.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace tokenadm {

namespace {

using nlohmann::json;

const std::string k_state_sql =
  "case when t.revoked_at is not null and t.revoked_at <= now() then 'revoked'"
  " when t.expires_at is not null and t.expires_at <= now() then 'expired'"
  " else 'active' end";

const std::string k_version_sql = "(select max(version) from tokenadm.schema_version)";

// The columns read_info() expects, in order.
const std::string k_info_cols =
  "t.id, t.owner, t.label, array_to_string(t.roles, ','), array_to_json(t.scopes)::text,"
  " t.contact, t.meta::text, "
  + k_state_sql + " as state, " + iso("t.created_at") + ", t.created_by, " + iso("t.expires_at") + ", "
  + iso("t.last_used_at") + ", " + iso("t.revoked_at")
  + ", t.revoked_by, t.revoke_reason, t.replaced_by";

std::optional<std::string> opt(const pqxx::field& f)
{
  if (f.is_null()) {
    return std::nullopt;
  }
  return f.c_str();
}

std::vector<std::string> split_commas(const std::string& s)
{
  std::vector<std::string> out;
  std::size_t start = 0;
  while (!s.empty() && start <= s.size()) {
    const auto end = s.find(',', start);
    out.push_back(s.substr(start, end - start));
    if (end == std::string::npos) {
      break;
    }
    start = end + 1;
  }
  return out;
}

TokenInfo read_info(const pqxx::row& r)
{
  TokenInfo t;
  t.id = r[0].c_str();
  t.owner = r[1].c_str();
  t.label = r[2].c_str();
  t.roles = split_commas(r[3].c_str());
  t.scopes = json::parse(r[4].c_str()).get<std::vector<std::string>>();
  t.contact = opt(r[5]);
  const auto meta = json::parse(r[6].c_str());
  for (auto it = meta.cbegin(); it != meta.cend(); ++it) {
    t.meta.emplace_back(it.key(), it->is_string() ? it->get<std::string>() : it->dump());
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

// Printable text only: no control characters, bounded length.
void check_text(const std::string& value, const std::string& what, std::size_t max_len)
{
  if (value.size() > max_len) {
    throw UsageError(what + " is longer than " + std::to_string(max_len) + " bytes");
  }
  for (unsigned char c : value) {
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

} // namespace

void validate_new_token(const NewToken& spec, const ExpiryPolicy& policy)
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
        || spec.contact->find_first_of(" <>,;") != std::string::npos) {
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
  const int choices = (spec.expires_in ? 1 : 0) + (spec.expires_at ? 1 : 0) + (spec.no_expiry ? 1 : 0);
  if (choices > 1) {
    throw UsageError("--expires-in, --expires-at and --no-expiry exclude each other");
  }
  if (spec.no_expiry && !policy.allow_no_expiry) {
    throw UsageError("--no-expiry is not allowed by the policy (allow_no_expiry = false); "
                     "use --expires-in up to " + format_duration(policy.max_ttl));
  }
  if (spec.expires_in && *spec.expires_in > policy.max_ttl) {
    throw UsageError("--expires-in " + format_duration(*spec.expires_in)
                     + " is over the policy's max_ttl of " + format_duration(policy.max_ttl));
  }
}

CreatedToken create_token(Db& db, const NewToken& spec, const ExpiryPolicy& policy,
                          const Actor& actor)
{
  validate_new_token(spec, policy);
  const std::optional<std::int64_t> expires_in =
    spec.no_expiry || spec.expires_at ? spec.expires_in
                                      : std::optional(spec.expires_in.value_or(policy.default_ttl));
  json meta = json::object();
  for (const auto& [k, v] : spec.meta) {
    meta[k] = v;
  }
  const std::string sql =
    "with v as ("
    " select " + k_version_sql + " as ver, now() as now,"
    "  case when $11::boolean then null"
    "  else coalesce(now() + make_interval(secs => $9::bigint), $10::timestamptz) end as exp"
    "), ins as ("
    " insert into tokenadm.tokens (id, digest, owner, label, roles, scopes, contact, meta,"
    "  created_at, created_by, expires_at)"
    " select $1, $2, $3, $4, array(select jsonb_array_elements_text($5::jsonb)),"
    "  array(select jsonb_array_elements_text($6::jsonb)), $7, $8::jsonb, v.now, $14, v.exp"
    " from v where v.ver = $13 and (v.exp is null or (v.exp > v.now"
    "  and v.exp <= v.now + make_interval(secs => $12::bigint)))"
    " on conflict do nothing"
    " returning id, owner, created_at"
    "), aud as ("
    " insert into tokenadm.audit (at, action, token_id, owner, actor, sudo_user, host, outcome)"
    " select ins.created_at, 'create', ins.id, ins.owner, $14, nullif($15, ''), $16, 'ok'"
    " from ins"
    ")"
    " select v.ver, " + iso("v.exp") + ", v.exp > v.now,"
    "  v.exp <= v.now + make_interval(secs => $12::bigint), ins.id is not null, "
    + iso("ins.created_at") + " from v left join ins on true";

  // An id or digest collision (62^10 ids) only makes the insert do nothing;
  // a new token is drawn then.
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto token = generate_token(spec.prefix);
    const auto parsed = parse_token(token);
    const auto digest = sha256_hex(token);
    const auto row = guarded(db, [&] {
      pqxx::nontransaction tx(db.impl().conn);
      return tx.exec_params1(
        sql, parsed.id, digest, spec.owner, spec.label, json(spec.roles).dump(),
        json(spec.scopes).dump(), nullable(spec.contact), meta.dump(),
        expires_in ? std::to_string(*expires_in).c_str() : nullptr, nullable(spec.expires_at),
        spec.no_expiry, policy.max_ttl, expected_schema_version(), actor.describe(),
        actor.sudo_user, actor.host);
    });
    require_schema_version(row[0].is_null() ? 0 : row[0].as<int>());
    if (!row[1].is_null() && !row[2].as<bool>()) {
      throw UsageError("the expiry " + std::string(row[1].c_str())
                       + " is not in the future (by the database's clock)");
    }
    if (!row[1].is_null() && !row[3].as<bool>()) {
      throw UsageError("the expiry " + std::string(row[1].c_str())
                       + " is beyond the policy's max_ttl of " + format_duration(policy.max_ttl));
    }
    if (!row[4].as<bool>()) {
      continue;
    }
    CreatedToken out;
    out.token = std::move(token);
    auto& info = out.info;
    info.id = parsed.id;
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
    return out;
  }
  throw DbError("could not store a new token (id collisions): try again");
}

void list_tokens(Db& db, const ListFilter& filter,
                 const std::function<void(const TokenInfo&)>& sink)
{
  guarded(db, [&] {
    pqxx::nontransaction tx(db.impl().conn);
    const auto r = tx.exec_params(
      "select * from (select " + k_info_cols
        + " from tokenadm.tokens t where ($1::text is null or t.owner = $1)"
          " order by t.created_at, t.id) s"
          " where $2 = 'all' or s.state = $2",
      nullable(filter.owner), filter.state);
    for (const auto& row : r) {
      sink(read_info(row));
    }
  });
}

std::vector<TokenInfo> active_tokens_of(Db& db, const std::string& owner)
{
  std::vector<TokenInfo> out;
  list_tokens(db, ListFilter{owner, "active"}, [&](const TokenInfo& t) { out.push_back(t); });
  return out;
}

std::vector<RevokeOutcome> revoke_tokens(Db& db, const std::vector<std::string>& ids,
                                         const std::optional<std::string>& reason,
                                         const Actor& actor)
{
  if (reason) {
    check_text(*reason, "--reason", 1024);
  }
  std::vector<RevokeOutcome> out;
  std::vector<std::string> known_shape;
  for (const auto& id : ids) {
    if (valid_id(id)) {
      known_shape.push_back(id);
    }
  }
  const std::string sql =
    "with req as ("
    " select id, min(ord) as ord from jsonb_array_elements_text($1::jsonb)"
    "  with ordinality as x(id, ord) group by id"
    "), upd as ("
    " update tokenadm.tokens t set revoked_at = now(), revoked_by = $3, revoke_reason = $2"
    " where t.id in (select id from req) and (t.revoked_at is null or t.revoked_at > now())"
    " returning t.id, t.owner, t.revoked_at"
    "), aud as ("
    " insert into tokenadm.audit (at, action, token_id, owner, actor, sudo_user, host,"
    "  outcome, reason)"
    " select upd.revoked_at, 'revoke', upd.id, upd.owner, $3, nullif($4, ''), $5, 'ok', $2"
    " from upd"
    ")"
    " select req.id, t.id is not null, upd.id is not null, "
    + iso("coalesce(upd.revoked_at, t.revoked_at)") + ", " + k_version_sql
    + " from req left join tokenadm.tokens t on t.id = req.id"
      " left join upd on upd.id = req.id order by req.ord";
  guarded(db, [&] {
    pqxx::nontransaction tx(db.impl().conn);
    const auto r = tx.exec_params(sql, json(known_shape).dump(), nullable(reason),
                                  actor.describe(), actor.sudo_user, actor.host);
    for (const auto& row : r) {
      require_schema_version(row[4].is_null() ? 0 : row[4].as<int>());
      RevokeOutcome o;
      o.id = row[0].c_str();
      o.status = !row[1].as<bool>()  ? RevokeOutcome::Status::unknown
                 : row[2].as<bool>() ? RevokeOutcome::Status::revoked
                                     : RevokeOutcome::Status::already_revoked;
      o.revoked_at = opt(row[3]);
      out.push_back(std::move(o));
    }
  });
  // Ids that cannot exist are reported unknown; input order, no repeats.
  std::vector<RevokeOutcome> ordered;
  for (const auto& id : ids) {
    auto seen = [&](const RevokeOutcome& o) { return o.id == id; };
    if (std::any_of(ordered.begin(), ordered.end(), seen)) {
      continue;
    }
    auto it = std::find_if(out.begin(), out.end(), seen);
    ordered.push_back(it != out.end() ? *it
                                      : RevokeOutcome{id, RevokeOutcome::Status::unknown, {}});
  }
  return ordered;
}

Verified verify_token(Db& db, const std::string& token, const VerifyRequest& req)
{
  const auto parsed = parse_token(token);
  const std::string sql =
    "select v.ver, t.digest, t.owner, array_to_string(t.roles, ','),"
    " array_to_json(t.scopes)::text,"
    " t.revoked_at is not null and t.revoked_at <= now(),"
    " t.expires_at is not null and t.expires_at <= now(), "
    + iso("t.revoked_at") + ", " + iso("t.expires_at") + ", t.hash_alg"
    " from (select " + k_version_sql + " as ver) v"
    " left join tokenadm.tokens t on t.id = $1";
  const auto row = guarded(db, [&] {
    pqxx::nontransaction tx(db.impl().conn);
    return tx.exec_params1(sql, parsed.id);
  });
  require_schema_version(row[0].is_null() ? 0 : row[0].as<int>());
  // An unknown id and a wrong secret for a known id get the same answer, so
  // ids cannot be probed for existence with made-up secrets.
  if (row[1].is_null() || std::string_view(row[9].c_str()) != k_hash_sha256
      || !digest_equal(sha256_hex(token), row[1].c_str())) {
    throw TokenRejected("unknown", "no such token");
  }
  if (row[5].as<bool>()) {
    throw TokenRejected("revoked", "token " + parsed.id + " was revoked at " + row[7].c_str());
  }
  if (row[6].as<bool>()) {
    throw TokenRejected("expired", "token " + parsed.id + " expired at " + row[8].c_str());
  }
  if (req.role) {
    const auto roles = split_commas(row[3].c_str());
    if (std::find(roles.begin(), roles.end(), *req.role) == roles.end()
        && std::find(roles.begin(), roles.end(), "all") == roles.end()) {
      throw TokenRejected("forbidden", "token " + parsed.id + " does not have the role '"
                                         + req.role->substr(0, 32) + "'");
    }
  }
  if (req.scope) {
    const auto scopes = json::parse(row[4].c_str()).get<std::vector<std::string>>();
    if (!scopes.empty() && std::find(scopes.begin(), scopes.end(), *req.scope) == scopes.end()) {
      throw TokenRejected("forbidden", "token " + parsed.id + " is not valid for the scope '"
                                         + req.scope->substr(0, 64) + "'");
    }
  }
  return Verified{parsed.id, row[2].c_str()};
}

} // namespace tokenadm
