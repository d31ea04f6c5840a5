// Verifying tokens: one-shot and batch.
#include "store_impl.hpp"

#include "tokenadm/address.hpp"
#include "tokenadm/audit.hpp"
#include "tokenadm/duration.hpp"
#include "tokenadm/schema.hpp"
#include "tokenadm/text.hpp"
#include "tokenadm/token.hpp"

#include <algorithm>
#include <limits>
#include <map>
#include <set>
#include <unordered_map>

namespace tokenadm {

using namespace detail;

namespace {

// What check_verified() reads, after a leading schema version column. The
// revoked/expired times (columns 7 and 8) are only for messages: without
// `times`, they are null.
std::string verify_cols(bool times)
{
  const auto time = [times](const char* col) { return times ? iso(col) : std::string("null"); };
  return "t.digest, t.owner, array_to_string(t.roles, ','), array_to_json(t.scopes)::text,"
         " t.revoked_at is not null and t.revoked_at <= now(),"
         " t.expires_at is not null and t.expires_at <= now(), "
         + time("t.revoked_at") + ", " + time("t.expires_at")
         + ", t.hash_alg, t.key_id, t.id, t.replaced_by,"
           " t.suspended_at is not null, array_to_string(t.allow_from, ','), t.max_uses, t.uses";
}
const std::string k_verify_cols = verify_cols(true);

// The largest lookup verify_batch prepares, and the tokens of a batch past
// which its lookup is sent in statements of k_pipelined_chunk (see there).
constexpr std::size_t k_prepared_max = 64;
constexpr std::size_t k_pipelined_min = 4000;
constexpr std::size_t k_pipelined_chunk = 2000;

// A verify writes to a token's row only when this holds: every use of a
// use-limited token is counted; otherwise last_used_at (and the address
// list) is recorded at most once a minute.
const std::string k_write_due = "(t.max_uses is not null or t.last_used_at is null"
                                " or t.last_used_at < now() - interval '1 minute')";

// Use of rotated-out tokens (still in their overlap), flagged in the audit
// trail at most once a minute each, through tokenadm.record_rotated_use
// (migration 9). A statement of its own, only for these: in the verify
// itself, the audit table would be opened (and its indexes loaded) on every
// check. In the transaction of the verify's write when there is one, so
// that a verify that fails has written nothing.
void flag_rotated_use(pqxx::transaction_base& tx, const std::vector<std::string>& ids,
                      const Actor& actor)
{
  tx.exec_params("select tokenadm.record_rotated_use($1::text[], $2, $3, $4)", text_array(ids),
                 actor.describe(), actor.sudo_user, actor.host);
}

// The same, alone (the verify wrote nothing). Skipped on a hot standby.
void flag_rotated_use(Db& db, const std::vector<std::string>& ids)
{
  optional_write(db, [&] {
    pqxx::nontransaction tx(db.impl().conn);
    flag_rotated_use(tx, ids, current_actor());
  });
}

// Checks everything but the use limit; `addr_ok`: the token's address
// ranges admit the request's address.
void check_verified(const pqxx::row& row, bool match, const std::string& found_id,
                    const VerifyRequest& req, bool addr_ok)
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
  if (row[13].as<bool>()) {
    throw TokenRejected("suspended", "token " + found_id + " is suspended");
  }
  if (!addr_ok) {
    throw TokenRejected("address", req.address ? "token " + found_id + " is not accepted from "
                                                   + *req.address
                                               : "token " + found_id
                                                   + " is bound to address ranges and no client "
                                                     "address was given");
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

// The use limit, after check_verified: `counted` says this use was
// counted (the count was below the limit when the row was locked).
void check_use_limit(const pqxx::row& row, const std::string& found_id, const VerifyRequest& req,
                     bool counted)
{
  if (row[15].is_null() || counted) {
    return;
  }
  const auto max = row[15].as<std::int64_t>();
  if (row[16].as<std::int64_t>() < max && !req.touch) {
    throw TokenRejected("forbidden", "token " + found_id + " has a use limit, and this verify "
                                     "cannot count its use (--no-touch, read_only, a standby)");
  }
  throw TokenRejected("used-up", "token " + found_id + " was used its " + std::to_string(max)
                                   + " time(s)");
}

// Whether the token's address ranges admit the request's address ($3).
const std::string k_address_ok = "(t.allow_from is null or $3::inet <<= any(t.allow_from))";

// The write of a verify that passed its checks and whose row said a write
// was due: a use-limited token's use is counted (atomically: `uses <
// max_uses` is checked on the row as locked), and last_used_at and the
// address list are recorded at most once a minute otherwise. The row is
// checked again as it is now (revoked, expired or suspended since the
// lookup: nothing is written). Returns whether a use was counted. On a hot
// standby the write is refused: effective.touch is cleared, and a
// use-limited token is then refused by check_use_limit. A rotated-out
// token's use (`rotated`) is flagged in the same transaction, when the
// verify will accept it: a use is not counted if its flag cannot be
// written, nor flagged if it is refused (`limited`: a use-limited token).
bool touch_verified(Db& db, const std::string& id, const std::vector<StoredDigest>& candidates,
                    const std::optional<std::string>& address, bool rotated, bool limited,
                    VerifyRequest& effective)
{
  const auto write = [&](pqxx::transaction_base& tx) {
    return tx.exec_params(
      "update tokenadm.tokens t set uses = t.uses + (t.max_uses is not null)::int,"
      " last_used_at = now(), used_from = " + used_from_sql("t", "$3::inet") +
      " where t.id = $1 and t.digest = any($2::text[]) and " + k_active_sql +
      " and t.suspended_at is null and " + k_address_ok + " and " + k_write_due +
      " and (t.max_uses is null or t.uses < t.max_uses)"
      " returning t.max_uses is not null",
      id, hex_array(candidates), nullable(address));
  };
  return guarded(db, [&] {
    try {
      if (!rotated) {
        // One statement, committed by itself: lost with the connection, it
        // may have counted the use, so it must not be tried again.
        pqxx::nontransaction tx(db.impl().conn);
        try {
          const auto r = write(tx);
          return !r.empty() && r[0][0].as<bool>();
        } catch (const pqxx::broken_connection& e) {
          if (!limited) {
            throw;
          }
          throw InDoubtError("lost the connection while a use was being counted; the outcome is "
                             "unknown: " + first_line_scrubbed(db, e.what()));
        }
      }
      pqxx::work tx(db.impl().conn);
      const auto r = write(tx);
      const bool counted = !r.empty() && r[0][0].as<bool>();
      // Not written: refused if its use was to be counted (see verify_token).
      if (!r.empty() || !limited) {
        flag_rotated_use(tx, {id}, current_actor());
      }
      tx.commit();
      return counted;
    } catch (const pqxx::sql_error& e) {
      if (!is_read_only_error(e)) {
        throw;
      }
      db.impl().saw_read_only();
      effective.touch = false;
      return false;
    }
  });
}

// Why the counted uses of `ids` were not written: their rows changed
// between the lookup and the write (which checks again under the row
// lock), or another verify used them up meanwhile. The reason as each row
// is now, checked in check_verified's order, with each id's client address
// ({id: addr}, the map the batch's write takes); an id whose row is gone,
// or changed otherwise, is unknown.
std::map<std::string, std::string> changed_reasons(pqxx::transaction_base& tx,
                                                   const std::vector<std::string>& ids,
                                                   const json& addresses)
{
  // The rows chosen by id = any(...) alone: a join with the request can be
  // planned as a nested loop over every pair (see verify_batch's write).
  std::map<std::string, std::string> out;
  for (const auto& row : tx.exec_params(
         "select t.id, case when t.revoked_at is not null and t.revoked_at <= now() then 'revoked'"
         " when t.expires_at is not null and t.expires_at <= now() then 'expired'"
         " when t.suspended_at is not null then 'suspended'"
         " when t.allow_from is not null"
         "  and not coalesce(($2::jsonb ->> t.id)::inet <<= any(t.allow_from), false) then 'address'"
         " when t.max_uses is not null and t.uses >= t.max_uses then 'used-up'"
         " else 'unknown' end"
         " from tokenadm.tokens t where t.id = any($1::text[])",
         text_array(ids), addresses.dump())) {
    out[row[0].c_str()] = row[1].c_str();
  }
  return out;
}

std::string reason_of(const std::map<std::string, std::string>& reasons, const std::string& id)
{
  const auto it = reasons.find(id);
  return it == reasons.end() ? "unknown" : it->second;
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
  if (req.address) {
    (void)parse_address(*req.address, "--from");
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
  // Legacy tokens have no id in their text: found by digest instead, among
  // the rows marked legacy (the digest's index holds only those). (The
  // unnamed statement is planned with the values, so each branch gets its
  // index.) A read-only lookup; the row says whether a write is due (a
  // use-limited token's every use, otherwise last_used_at at most once a
  // minute), and only then does touch_verified() write, after the checks:
  // a statement that may update the table costs a fresh connection more
  // than a read even when it writes nothing (see README, round trips).
  // $3 the client address (may be null); role and scope are checked here.
  const auto row = guarded(db, [&] {
    pqxx::nontransaction tx(db.impl().conn);
    return tx.exec_params1(
      "select v.ver, " + k_verify_cols + ", coalesce(" + k_address_ok
        + ", false), " + k_write_due + " from (select " + k_version_sql
        + " as ver) v left join (select * from tokenadm.tokens t"
          " where ($1 <> '' and t.id = $1)"
          " or ($1 = '' and t.digest = any($2::text[]) and t.legacy) limit 1) t"
          " on true",
      id, hex_array(candidates), nullable(req.address));
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
  auto effective = req;
  effective.touch = req.touch && !db.impl().read_only_now();
  bool touched = false; // touch_verified ran (and flagged a rotated-out token's use)
  try {
    check_verified(row, match, found_id, req, row[17].as<bool>(false));
    const bool limited = !row[15].is_null();
    touched = effective.touch && row[18].as<bool>(false);
    const bool counted = touched && touch_verified(db, found_id, candidates, req.address,
                                                   !row[12].is_null(), limited, effective);
    if (!counted && effective.touch && limited
        && row[16].as<std::int64_t>() < row[15].as<std::int64_t>()) {
      // Its use was due to be counted, and the write matched nothing.
      const auto why = guarded(db, [&] {
        pqxx::nontransaction tx(db.impl().conn);
        const json address = req.address ? json{{found_id, *req.address}} : json::object();
        return reason_of(changed_reasons(tx, {found_id}, address), found_id);
      });
      throw TokenRejected(why, "token " + found_id + " changed while its use was being counted ("
                                 + why + ")");
    }
    check_use_limit(row, found_id, effective, counted);
  } catch (const TokenRejected& e) {
    if (req.audit) {
      record_verify_failure(db, e.reason(),
                            found_id.empty() ? std::nullopt : std::optional(found_id),
                            current_actor());
    }
    throw;
  }
  Verified out{found_id, row[2].c_str(), opt(row[12]), opt(row[7]),
               split_words(row[3].c_str(), ",")};
  if (out.replaced_by && effective.touch && !touched) {
    flag_rotated_use(db, {found_id});
  }
  return out;
}

namespace {

// A batch's failures of one reason, folded for the audit trail.
struct Folded {
  int count = 0;
  std::optional<std::string> id; // the last token id denied for this reason
};

void record_failures(pqxx::transaction_base& tx, const std::map<std::string, Folded>& failures,
                     const Actor& actor)
{
  for (const auto& [reason, f] : failures) {
    record_verify_failure(tx, reason, f.id, actor, f.count);
  }
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
                                      const VerifyRequest& req, const Hasher& hasher,
                                      const std::vector<std::string>& addresses)
{
  validate_verify_request(req);
  if (!addresses.empty() && addresses.size() != tokens.size()) {
    throw UsageError("verify_batch: one address per token, or none");
  }
  std::vector<BatchAnswer> answers(tokens.size());
  struct Pending {
    std::size_t index;
    std::string id; // empty for legacy tokens
    std::vector<StoredDigest> candidates;
    std::optional<std::string> address;
  };
  std::vector<Pending> pending;
  std::vector<StoredDigest> legacy_digests;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    // What precheck_token() does, parsing each token once.
    std::string id;
    std::optional<std::string> address = req.address;
    try {
      if (looks_like_token(tokens[i])) {
        id = parse_token(tokens[i]).id;
      } else if (!looks_like_legacy_token(tokens[i])) {
        throw TokenRejected("malformed", "not a token");
      }
      if (!addresses.empty()) {
        address = addresses[i].empty() ? std::nullopt
                                       : std::optional(parse_address(addresses[i], "address"));
      }
    } catch (const TokenRejected& e) {
      answers[i].reason = e.reason(); // never reaches the database
      continue;
    } catch (const UsageError&) {
      answers[i].reason = "malformed"; // a bad address
      continue;
    }
    // A token with an id is hashed when its row is checked (a large
    // batch's while the server looks up the next ones); a legacy one now:
    // its digests are what is looked up.
    Pending p{i, std::move(id), {}, std::move(address)};
    if (p.id.empty()) {
      p.candidates = hasher.candidates(tokens[i]);
      legacy_digests.insert(legacy_digests.end(), p.candidates.begin(), p.candidates.end());
    }
    pending.push_back(std::move(p));
  }
  if (pending.empty()) {
    return answers;
  }
  // One snapshot for each statement of the lookup: every revoke committed
  // before it is seen.
  // The batch's answers carry no messages: the revoked/expired times
  // (columns 7 and 8) are not formatted. Column 17: the row is due a write
  // (see k_write_due). Column 18, when asked for: seconds until the row's
  // answer changes by itself (null: never), for BatchAnswer::cacheable_for.
  static const std::string batch_cols = verify_cols(false) + ", " + k_write_due;
  static const std::string hinted_cols =
    batch_cols + ", extract(epoch from least(t.expires_at, t.revoked_at) - now())";
  // Without legacy tokens, one probe of the id index per id, whatever the
  // batch's size: `t.id = any($1)` with thousands of ids is planned as a
  // (parallel) sequential scan, 6x slower on a table of 1,000,000 tokens.
  // (`offset 0` keeps the subquery from being flattened into a join the
  // planner could hash.) With legacy tokens, an OR of the two indexes.
  const std::string& cols = req.cache_hint ? hinted_cols : batch_cols;
  const auto probes = [&](const std::string& ids_sql) {
    return "select " + k_version_sql + ", " + cols + " from unnest(" + ids_sql
           + "::text[]) r(id) cross join lateral"
             " (select * from tokenadm.tokens t where t.id = r.id offset 0) t";
  };
  const std::string sql =
    legacy_digests.empty() ? probes("$1")
                           : "select " + k_version_sql + ", " + cols
                               + " from tokenadm.tokens t where t.id = any($1::text[])"
                                 " or (t.digest = any($2::text[]) and t.legacy)";
  // The one write of a batch: the uses of use-limited tokens counted (under
  // a row lock, so concurrent batches and verifies never exceed a limit),
  // and last_used_at and the last address recorded, at most once a minute
  // for the others. $1 the ids of unlimited tokens, $2 those of limited
  // ones (each once), $3 the last address given for an id ({id: addr}) and
  // $4 the uses asked of each limited one ({id: n}). Returns each counted
  // token's count before and its limit.
  // The rows are chosen by `id = any(...)` alone, never by a join with the
  // request: on a table whose statistics are off (new, say), a join was
  // planned as a nested loop over every pair (10,000 ids: 20 s), where an
  // array is searched by the index or by hashing. The limited rows are
  // locked in id order (whatever the plan), so concurrent batches counting
  // the same tokens do not deadlock.
  static const std::string addr_of = "($3::jsonb ->> t.id)::inet";
  static const std::string write_sql =
    // Use-limited tokens: their count before is needed, so they are locked
    // first. The conditions are checked again on the row as locked (FOR
    // UPDATE re-reads a row changed meanwhile): one revoked, expired or
    // suspended since the lookup is not written, and a use it would count
    // is refused.
    "with lk as (select t.id, t.uses, t.max_uses from tokenadm.tokens t"
    "  where t.id = any($2::text[]) and t.max_uses is not null and " + k_active_sql +
    "  and t.suspended_at is null order by t.id for update),"
    " counted as (update tokenadm.tokens t"
    "  set uses = least(lk.max_uses::bigint, lk.uses::bigint + ($4::jsonb ->> t.id)::bigint),"
    "  last_used_at = now(), used_from = " + used_from_sql("t", addr_of) +
    "  from lk where t.id = lk.id and lk.uses < lk.max_uses"
    "  returning t.id, lk.uses, lk.max_uses),"
    // The others, without a lock of their own (40% less time a row): the
    // UPDATE re-checks its conditions on a row changed meanwhile, as FOR
    // UPDATE would.
    " touched as (update tokenadm.tokens t set last_used_at = now(),"
    "  used_from = " + used_from_sql("t", addr_of) +
    "  where t.id = any($1::text[]) and t.max_uses is null and " + k_write_due +
    "  and " + k_active_sql + " and t.suspended_at is null)"
    " select id, uses, max_uses from counted";
  struct Accepted {
    std::size_t index;
    std::string id;
    std::optional<std::string> address;
    bool counted;
    bool rotated; // a rotated-out token in its overlap
  };
  std::vector<Accepted> accepted;
  std::map<std::string, Folded> failures; // by reason
  auto deny = [&](BatchAnswer& a, const std::string& reason, const std::string& id) {
    a = BatchAnswer{};
    a.reason = reason;
    auto& f = failures[reason];
    ++f.count;
    if (!id.empty()) {
      f.id = id;
    }
  };
  // On a hot standby nothing is written, and a use-limited token is refused
  // (its use cannot be counted); see verify_token.
  auto effective = req;
  effective.touch = req.touch && !db.impl().read_only_now();
  // The lookup, and the checks of what it found: the rows found for
  // pending[from, to) checked against them.
  bool version_checked = false;
  const auto check = [&](const pqxx::result& rows, std::size_t from, std::size_t to) {
    if (!rows.empty() && !version_checked) {
      require_schema_version(version_of(rows[0][0]));
      version_checked = true;
    }
    std::unordered_map<std::string, std::size_t> by_id;
    by_id.reserve(rows.size());
    for (std::size_t r = 0; r < rows.size(); ++r) {
      by_id[rows[r][11].c_str()] = r;
    }
    for (std::size_t k = from; k < to; ++k) {
      auto& p = pending[k];
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
      if (found && p.candidates.empty()) {
        p.candidates = hasher.candidates(tokens[p.index]);
      }
      const bool match = found && digest_matches(rows[*found], p.candidates);
      try {
        if (!match) {
          throw TokenRejected("unknown", "no such token");
        }
        const auto& row = rows[*found];
        const std::string found_id = row[11].c_str();
        const std::string ranges = row[14].c_str();
        const bool addr_ok =
          ranges.empty() || (p.address && address_in(*p.address, split_words(ranges, ",")));
        auto one = effective;
        one.address = p.address;
        check_verified(row, match, found_id, one, addr_ok);
        const bool limited = !row[15].is_null();
        if (limited && (!effective.touch || row[16].as<std::int64_t>() >= row[15].as<std::int64_t>())) {
          check_use_limit(row, found_id, one, false); // throws
        }
        a.ok = true;
        a.id = found_id;
        a.owner = row[2].c_str();
        if (req.cache_hint && !limited && row[12].is_null()) {
          a.cacheable_for = row[18].is_null() ? std::numeric_limits<double>::infinity()
                                              : std::max(0.0, row[18].as<double>());
        }
        // Written only when due (last used over a minute ago, or counted),
        // or to flag a rotated-out token's use: most batches of tokens in
        // steady use write nothing.
        if (effective.touch && (row[17].as<bool>() || !row[12].is_null())) {
          accepted.push_back({p.index, found_id, p.address, limited, !row[12].is_null()});
        }
      } catch (const TokenRejected& e) {
        // As one-shot verify records it: the row's id when the digest
        // matched, else the id the token claims (none for a legacy one).
        deny(a, e.reason(), match ? std::string(rows[*found][11].c_str()) : p.id);
      }
    }
  };
  // Ids of pending[from, to) (not legacy ones), each once, in the index's
  // order (serve's batches repeat the same few tokens).
  const auto ids_of = [&](std::size_t from, std::size_t to) {
    std::vector<std::string> out;
    for (std::size_t k = from; k < to; ++k) {
      if (!pending[k].id.empty()) {
        out.push_back(pending[k].id);
      }
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  };
  guarded(db, [&] {
    pqxx::nontransaction tx(db.impl().conn);
    if (!legacy_digests.empty()) {
      check(tx.exec_params(sql, text_array(ids_of(0, pending.size())), hex_array(legacy_digests)),
            0, pending.size());
    } else if (pending.size() <= k_pipelined_min) {
      // Small lookups (serve's, a co-process's line or two) are prepared
      // once a session: their planning is a large part of them. Large ones
      // are not: with 100,000 tokens in batches, the prepared (generic)
      // plan was 5-20% slower in paired runs, where serve's lookups gained
      // 10-20%.
      const auto ids = ids_of(0, pending.size());
      check(ids.size() <= k_prepared_max ? exec_reused(db, tx, sql, text_array(ids))
                                         : tx.exec_params(sql, text_array(ids)),
            0, pending.size());
    } else {
      // A large batch: its lookup in statements of k_pipelined_chunk tokens
      // sent back to back (libpqxx's pipeline: one multi-statement query,
      // the ids inline), so that the server looks up the next ones while
      // the rows of one are checked here. The ids are the token's own
      // (checked characters), quoted all the same.
      pqxx::pipeline pipe(tx);
      try {
        pipe.retain(static_cast<int>(pending.size() / k_pipelined_chunk + 1)); // all at once:
        std::vector<std::pair<pqxx::pipeline::query_id, std::size_t>> sent;
        for (std::size_t from = 0; from < pending.size(); from += k_pipelined_chunk) {
          const auto to = std::min(pending.size(), from + k_pipelined_chunk);
          sent.emplace_back(pipe.insert(probes(tx.quote(text_array(ids_of(from, to))))), from);
        }
        pipe.resume(); // sent
        for (const auto& [query, from] : sent) {
          check(pipe.retrieve(query), from, std::min(pending.size(), from + k_pipelined_chunk));
        }
      } catch (const std::exception& e) {
        // The statements not yet answered are read off the connection:
        // the pipeline's destructor would cancel them and leave their
        // results there, for the next pipelined batch to trip over. A
        // connection lost on the way is said so, as libpqxx says it of a
        // single statement (its pipeline reports it as an SQL error).
        try {
          pipe.flush();
        } catch (const std::exception&) {
        }
        const PGconn* c = db.impl().conn.raw();
        if (c == nullptr || PQstatus(c) != CONNECTION_OK) {
          throw pqxx::broken_connection(e.what());
        }
        throw;
      }
    }
    if (!version_checked) {
      require_schema_version(version_of(tx.exec("select " + k_version_sql)[0][0]));
    }
  });
  std::optional<Actor> actor_; // looked up (NSS) only when something is recorded
  const auto actor = [&]() -> const Actor& {
    if (!actor_) {
      actor_ = current_actor();
    }
    return *actor_;
  };
  // The write, and what follows it: counted uses are settled (a use the
  // write did not take is refused), rotated-out tokens' uses flagged and
  // the failures recorded. All in one transaction when a use is counted or
  // flagged: a batch that answers `error` has counted and flagged none. A
  // write of last_used_at alone commits by itself.
  const bool alone = std::none_of(accepted.begin(), accepted.end(),
                                  [](const Accepted& x) { return x.counted || x.rotated; });
  const auto write_and_record = [&](pqxx::transaction_base& tx) {
    std::set<std::string> touch_ids;
    std::set<std::string> count_ids;
    json last_addr = json::object();
    json asked = json::object();
    for (const auto& x : accepted) {
      if (x.counted) {
        count_ids.insert(x.id);
        auto& n = asked[x.id];
        n = n.is_null() ? 1 : n.get<int>() + 1;
      } else {
        touch_ids.insert(x.id);
      }
      if (x.address) {
        last_addr[x.id] = *x.address; // the last one given wins
      }
    }
    // Uses granted per counted token: its limit less its count before.
    std::map<std::string, std::int64_t> granted;
    bool wrote = true;
    try {
      for (const auto& row :
           tx.exec_params(write_sql, text_array({touch_ids.begin(), touch_ids.end()}),
                          text_array({count_ids.begin(), count_ids.end()}), last_addr.dump(),
                          asked.dump())) {
        granted[row[0].c_str()] = row[2].as<std::int64_t>() - row[1].as<std::int64_t>();
      }
    } catch (const pqxx::sql_error& e) {
      // A standby (it was a primary a minute ago, say): nothing written.
      if (!is_read_only_error(e)) {
        throw;
      }
      db.impl().saw_read_only();
      wrote = false;
    }
    std::vector<std::string> unwritten; // counted uses the write did not take
    for (const auto& x : accepted) {
      if (x.counted && wrote && granted.count(x.id) == 0) {
        unwritten.push_back(x.id);
      }
    }
    const auto changed = unwritten.empty()
                           ? std::map<std::string, std::string>{}
                           : changed_reasons(tx, unwritten, last_addr);
    for (const auto& x : accepted) {
      if (!x.counted) {
        continue;
      }
      if (!wrote) {
        deny(answers[x.index], "forbidden", x.id);
        continue;
      }
      const auto it = granted.find(x.id);
      if (it == granted.end()) {
        deny(answers[x.index], reason_of(changed, x.id), x.id);
      } else if (it->second > 0) {
        --it->second; // in input order: the first ones get the remaining uses
      } else {
        deny(answers[x.index], "used-up", x.id);
      }
    }
    if (!wrote) {
      return false; // read-only: nothing can be written (and the transaction has failed)
    }
    std::vector<std::string> rotated;
    for (const auto& x : accepted) {
      if (x.rotated && answers[x.index].ok) {
        rotated.push_back(x.id);
      }
    }
    if (!rotated.empty()) {
      flag_rotated_use(tx, rotated, actor());
    }
    if (req.audit && !alone && !failures.empty()) {
      record_failures(tx, failures, actor());
    }
    return true;
  };
  if (!accepted.empty()) {
    const bool done = guarded(db, [&] {
      if (alone) {
        pqxx::nontransaction tx(db.impl().conn);
        return write_and_record(tx);
      }
      pqxx::work tx(db.impl().conn);
      if (!write_and_record(tx)) {
        return false;
      }
      tx.commit();
      return true;
    });
    if (done && !alone) {
      return answers; // the failures were recorded with the write
    }
  }
  // No write in a transaction (or a standby refused it): the failures
  // alone, none on a standby.
  if (req.audit && !failures.empty()) {
    optional_write(db, [&] {
      pqxx::nontransaction tx(db.impl().conn);
      record_failures(tx, failures, actor());
    });
  }
  return answers;
}

} // namespace tokenadm
