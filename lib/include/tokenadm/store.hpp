// The queries. Each public function is one transaction (most are one
// statement, so one round trip), and each change writes its audit row in
// the same transaction.
#pragma once

#include "tokenadm/digest.hpp"
#include "tokenadm/identity.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace tokenadm {

class Db;

inline const std::vector<std::string> k_roles = {"api", "feed", "vcs", "http", "all"};

using Meta = std::vector<std::pair<std::string, std::string>>;

struct TokenInfo {
  std::string id;
  std::string owner;
  std::string label;
  std::vector<std::string> roles;
  std::vector<std::string> scopes;
  std::optional<std::string> contact;
  Meta meta;
  std::string state; // active, suspended, expired or revoked
  std::string created_at;
  std::string created_by;
  std::optional<std::string> expires_at;
  std::optional<std::string> last_used_at;
  std::optional<std::string> revoked_at;
  std::optional<std::string> revoked_by;
  std::optional<std::string> revoke_reason;
  std::optional<std::string> replaced_by;
  std::vector<std::string> allow_from; // address ranges; empty: any address
  std::optional<std::int64_t> max_uses;
  std::int64_t uses = 0;
  std::optional<std::string> suspended_at;
  std::optional<std::string> suspended_by;
  std::optional<std::string> suspend_reason;
  // The last client addresses verify was given, newest first (at most 5
  // distinct): (address, last seen).
  std::vector<std::pair<std::string, std::string>> used_from;
  // Seconds from the database's now() to expires_at (negative once past),
  // set by list_tokens for a token that expires.
  std::optional<std::int64_t> ttl_seconds;
};

// What the configuration allows new tokens to be.
struct Policy {
  std::int64_t default_ttl = 90 * 86400;
  std::int64_t max_ttl = 365 * 86400;
  bool allow_no_expiry = false;
  std::vector<std::string> roles = k_roles; // roles create may grant
};

struct NewToken {
  std::string prefix = "tka";
  std::string owner;
  std::string label;
  std::vector<std::string> roles{"all"};
  std::vector<std::string> scopes;
  std::optional<std::string> contact;
  Meta meta;
  // At most one of these; none means policy.default_ttl.
  std::optional<std::int64_t> expires_in;
  std::optional<std::string> expires_at;
  bool no_expiry = false;
  // Address ranges the token is accepted from (canonical, see
  // parse_cidr); empty: any address.
  std::vector<std::string> allow_from;
  // Accepted at most this many times (1 to 2^31-1); none: no limit.
  std::optional<std::int64_t> max_uses;
};

struct CreatedToken {
  std::string token; // the plaintext: print it, never log it
  TokenInfo info;
};

// Checks roles, text fields and the expiry choice against the policy before
// any database work. Throws UsageError.
void validate_new_token(const NewToken& spec, const Policy& policy);

// Creates the token in one statement (insert + audit row) and returns it
// after the commit.
CreatedToken create_token(Db& db, const NewToken& spec, const Policy& policy,
                          const Hasher& hasher, const Actor& actor);

// Told (done, total) now and then by long operations, for a progress line.
using Progress = std::function<void(std::size_t done, std::size_t total)>;

// Creates labels.size() tokens like `spec` (each with its label) in one
// transaction through COPY, audit rows included; returned after the commit.
std::vector<CreatedToken> create_tokens_bulk(Db& db, const NewToken& spec,
                                             const std::vector<std::string>& labels,
                                             const Policy& policy, const Hasher& hasher,
                                             const Actor& actor, const Progress& progress = {});

struct Ensured {
  bool created = false;
  std::optional<CreatedToken> token; // when created (or converged)
  TokenInfo existing;                // the active one found; id empty when none
  // How the active one differs from the spec: "roles", "scopes", "expiry".
  std::vector<std::string> differs;
  std::optional<std::string> replaced; // converge: the ID revoked for `token`
};

struct EnsureRequest {
  enum class Mode {
    create,   // make one when none is active; report drift only
    dry_run,  // change nothing
    converge, // also replace a drifted one (a rotation, audited)
  };
  Mode mode = Mode::create;
  // The ID in an existing --output file: anything other than it being
  // the active token is refused (UsageError) before any change.
  std::optional<std::string> expect_id;
  // Expiry counts as drift only when the caller asked for one explicitly.
  bool compare_expiry = false;
};

// Provisioning: creates a token for spec.owner + spec.label unless an
// active one exists, and compares an existing one with `spec` (roles and
// scopes as sets; expiry: --no-expiry vs an expiry, --expires-at exactly,
// --expires-in as the lifetime from creation within 1% or a minute).
// Concurrent calls for the same pair create exactly one (advisory lock on
// the pair).
Ensured ensure_token(Db& db, const NewToken& spec, const Policy& policy,
                     const Hasher& hasher, const Actor& actor,
                     const EnsureRequest& request = {});

struct ListFilter {
  std::optional<std::string> id;
  std::optional<std::string> owner;
  std::optional<std::string> label;
  std::optional<std::string> role;           // has this role, or all
  std::optional<std::int64_t> expiring_within; // active and expiring within N s
  std::optional<std::string> created_before; // a timestamp PostgreSQL parses
  std::string state = "all";                 // active, suspended, expired, revoked, all
  std::optional<std::string> used_from;      // a range one of its last addresses is in
  // Active and last used (or, never used, created) more than N s ago;
  // listed oldest use first.
  std::optional<std::int64_t> unused_for;
  // Order: "created" (the default), "expires" (never last), "owner",
  // "label" (both natural: label2 before label10), "last-used" (never
  // first); each then by creation. Empty: created, or with unused_for least
  // recently used first.
  std::string sort;
  std::optional<std::int64_t> limit; // at most N rows
};

// The values ListFilter::sort takes.
inline const std::vector<std::string> k_list_sorts{"created", "expires", "owner", "label",
                                                   "last-used"};

// Calls `sink` for each matching token, oldest first (with unused_for, least
// recently used first; or in filter.sort's order), streaming (one COPY TO
// STDOUT) so memory stays flat however many rows match. The TokenInfo
// passed is reused from row to row: copy it to keep it.
void list_tokens(Db& db, const ListFilter& filter,
                 const std::function<void(const TokenInfo&)>& sink);

// One token; throws NotFound.
TokenInfo show_token(Db& db, const std::string& id);

// Moves the expiry of an unrevoked token to now + `expires_in` (within the
// policy). Throws NotFound, or TokenRejected("revoked").
TokenInfo renew_token(Db& db, const std::string& id, std::int64_t expires_in,
                      const Policy& policy, const Actor& actor);

struct Rotated {
  CreatedToken token;     // the new one
  std::string old_id;
  std::string old_revoked_at; // now, or now + overlap
};

// A new token with the old one's owner, label, roles, scopes, contact,
// metadata, address ranges and use limit (its count starts again); the old
// one is revoked at once or after `overlap` seconds and
// points to its replacement. One statement. Throws NotFound, or
// TokenRejected("revoked") for a revoked or already rotated token.
Rotated rotate_token(Db& db, const std::string& id, std::int64_t overlap,
                     std::optional<std::int64_t> expires_in, const Policy& policy,
                     const Hasher& hasher, const std::string& prefix, const Actor& actor);

// Active tokens expiring within `within` seconds whose current expiry has
// not been announced yet (notify).
std::vector<TokenInfo> expiring_unannounced(Db& db, std::int64_t within);

// Claims the announcement of the current expiry of `id` (with an audit
// row): true for exactly one of any number of concurrent callers, false
// when it was already announced. release_announcement() undoes a claim
// whose mail could not be sent, so that the next run tries again.
bool claim_announcement(Db& db, const std::string& id, const Actor& actor);
void release_announcement(Db& db, const std::string& id);

// Deletes tokens revoked or expired more than `older_than` seconds ago
// (audit rows stay; each deletion adds one). With `dry_run`, only lists.
std::vector<TokenInfo> prune_tokens(Db& db, std::int64_t older_than, bool dry_run,
                                    const Actor& actor, const Progress& progress = {});

// Legacy plaintext tokens (gs's base62 token, Kallithea's 40-hex keys):
// 16 to 256 characters of [A-Za-z0-9.~+/=-]. No '_', so a mangled tokenadm
// token is never taken for one (it stays malformed, rejected offline).
bool looks_like_legacy_token(std::string_view text);

struct ImportResult {
  std::vector<std::string> ids; // generated ids of the imported tokens
  std::size_t duplicates = 0;   // already present, left alone
};

// Stores the digests of `tokens` (all or none) with generated ids and the
// attributes of `spec` (owner, label, roles, scopes, expiry).
ImportResult import_tokens(Db& db, const std::vector<std::string>& tokens, const NewToken& spec,
                           const Policy& policy, const Hasher& hasher, const Actor& actor,
                           const std::string& source, const Progress& progress = {});

// Imports GroupServer's site token from its `option` table row
// (component_id 'gs.auth.token', option_id 'authToken'); with
// `remove_plaintext`, deletes that row in the same transaction.
ImportResult import_from_gs(Db& db, const NewToken& spec, const Policy& policy,
                            const Hasher& hasher, const Actor& actor, bool remove_plaintext);

struct RevokeOutcome {
  std::string id;
  enum class Status { revoked, already_revoked, unknown } status;
  std::optional<std::string> revoked_at;
  std::string owner;
  std::string label;
  std::optional<std::string> contact; // for the notification mail
};

// Revokes `ids` in one statement; unknown ones are reported, not fatal.
std::vector<RevokeOutcome> revoke_tokens(Db& db, const std::vector<std::string>& ids,
                                         const std::optional<std::string>& reason,
                                         const Actor& actor);

// A bulk revoke's selection: active tokens of an owner, with a label
// and/or unused for a time, or (all_expired) every expired, unrevoked token.
struct RevokeFilter {
  std::optional<std::string> owner;
  std::optional<std::string> label;
  bool all_expired = false;
  // Active tokens last used (or, never used, created) more than this many
  // seconds ago; with owner and label, all must hold.
  std::optional<std::int64_t> unused_for;
};

// Revokes what `filter` selects in one statement.
std::vector<RevokeOutcome> revoke_matching(Db& db, const RevokeFilter& filter,
                                           const std::optional<std::string>& reason,
                                           const Actor& actor);

// revoke --leaked: `leaked` are tokens found in leaked material (tokenadm
// tokens, whose check characters the caller has verified, or legacy ones).
// Revokes the stored tokens they match (reason "leaked", `source` in the
// audit rows' details) in one statement: a token with an id is found by its
// id and then its digest compared, a legacy one by its digest (Hasher::
// candidates) among legacy rows. One outcome per element, in order; one
// matching no stored token is unknown, with an empty id.
std::vector<RevokeOutcome> revoke_leaked(Db& db, const std::vector<std::string>& leaked,
                                          const Hasher& hasher,
                                          const std::string& source, const Actor& actor);

// What revoke_matching would revoke.
std::vector<TokenInfo> tokens_matching(Db& db, const RevokeFilter& filter);

// Switches tokens off (suspend) or on again (resume) without revoking
// them, in one statement with an audit row per change. `changed` false:
// already in that state (or revoked, for suspend: nothing to do).
struct SuspendOutcome {
  std::string id;
  enum class Status { changed, unchanged, unknown } status;
  std::string owner;
  std::string label;
  std::optional<std::string> contact;
};
std::vector<SuspendOutcome> suspend_tokens(Db& db, const std::vector<std::string>& ids,
                                           bool suspend, const std::optional<std::string>& reason,
                                           const Actor& actor);
// The same for a bulk filter (as revoke_matching; all_expired is refused).
std::vector<SuspendOutcome> suspend_matching(Db& db, const RevokeFilter& filter, bool suspend,
                                             const std::optional<std::string>& reason,
                                             const Actor& actor);

struct VerifyRequest {
  std::optional<std::string> role;
  std::optional<std::string> scope;
  // Record last_used_at (at most once a minute per token) and flag use of a
  // rotated-out token in the audit trail. Off for read-only replicas.
  bool touch = true;
  // Record a failure (unknown revoked expired forbidden) in the audit trail.
  bool audit = true;
  // The client's address: needed by a token bound to address ranges, and
  // kept among the token's last addresses (when touching).
  std::optional<std::string> address;
  // verify_batch: fill BatchAnswer::cacheable_for (token serve's cache);
  // one more column computed for each row looked up.
  bool cache_hint = false;
};

struct Verified {
  std::string id;
  std::string owner;
  // Set for a rotated-out token still in its overlap: its replacement and
  // when it stops working.
  std::optional<std::string> replaced_by;
  std::optional<std::string> stops_at;
  std::vector<std::string> roles; // every role of the token, as the lookup read them
};

// --role names one of the known roles; anything else is a UsageError, not
// a token that lacks it (and 'all' on a token must not let a typo pass).
void validate_verify_request(const VerifyRequest& req);

// Checks a presented token: shape and checksum offline, then one query,
// which also counts a use of a use-limited token (atomically; such a token
// is refused when req.touch is off, as its use could not be counted).
// Legacy (imported) tokens are looked up by digest. Throws TokenRejected
// with the reason on any failure.
Verified verify_token(Db& db, const std::string& token, const VerifyRequest& req,
                      const Hasher& hasher);

// The answer for one token of a batch.
struct BatchAnswer {
  bool ok = false;
  std::string id;     // when ok
  std::string owner;  // when ok
  // when not: malformed checksum unknown revoked expired suspended address
  // forbidden used-up
  std::string reason;
  // When ok and VerifyRequest::cache_hint was set: for how many more
  // seconds the row, unchanged, gives the same answer (until it expires;
  // infinity when it never does), as of the lookup. 0 when each use must
  // reach the database: a use-limited token
  // (each use is counted) or a rotated-out one (its use is flagged).
  double cacheable_for = 0;
};

// Checks many tokens with one query (plus, unless req.touch is off, one
// update of last_used_at and use counts, and one audit upsert per failure
// reason). On a hot standby nothing is written and use-limited tokens are
// denied "forbidden" (their use cannot be counted).
// Malformed and bad-checksum tokens never reach the database. Answers are
// in input order. Throws DbError (code "unavailable" when the connection
// is lost).
// `addresses`, when not empty, has one client address per token ("" for
// none; req.address is ignored); a malformed one is answered "malformed".
std::vector<BatchAnswer> verify_batch(Db& db, const std::vector<std::string>& tokens,
                                      const VerifyRequest& req, const Hasher& hasher,
                                      const std::vector<std::string>& addresses = {});

// Throws TokenRejected("malformed"/"checksum") unless `token` could be
// valid: a well-formed tokenadm token or a legacy token's shape. No query.
void precheck_token(const std::string& token);

} // namespace tokenadm
