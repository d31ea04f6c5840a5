// Verifying tokens: one-shot and batch.
#include "store_impl.hpp"

#include "tokenadm/audit.hpp"
#include "tokenadm/duration.hpp"
#include "tokenadm/schema.hpp"
#include "tokenadm/text.hpp"
#include "tokenadm/token.hpp"

#include <algorithm>
#include <map>

namespace tokenadm {

using namespace detail;

namespace {

// What check_verified() reads, after a leading schema version column.
const std::string k_verify_cols =
  "t.digest, t.owner, array_to_string(t.roles, ','), array_to_json(t.scopes)::text,"
  " t.revoked_at is not null and t.revoked_at <= now(),"
  " t.expires_at is not null and t.expires_at <= now(), "
  + iso("t.revoked_at") + ", " + iso("t.expires_at") + ", t.hash_alg, t.key_id, t.id, t.replaced_by";

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

void precheck_token(const std::string& token)
{
  if (!looks_like_token(token) && looks_like_legacy_token(token)) {
    return;
  }
  parse_token(token);
}

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

} // namespace tokenadm
