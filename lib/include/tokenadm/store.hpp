// The queries. Each public function is one transaction (most are one
// statement, so one round trip), and each change writes its audit row in
// the same transaction.
#pragma once

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
  std::string state; // active, expired or revoked
  std::string created_at;
  std::string created_by;
  std::optional<std::string> expires_at;
  std::optional<std::string> last_used_at;
  std::optional<std::string> revoked_at;
  std::optional<std::string> revoked_by;
  std::optional<std::string> revoke_reason;
  std::optional<std::string> replaced_by;
};

struct ExpiryPolicy {
  std::int64_t default_ttl = 90 * 86400;
  std::int64_t max_ttl = 365 * 86400;
  bool allow_no_expiry = false;
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
};

struct CreatedToken {
  std::string token; // the plaintext: print it, never log it
  TokenInfo info;
};

// Checks roles, text fields and the expiry choice against the policy before
// any database work. Throws UsageError.
void validate_new_token(const NewToken& spec, const ExpiryPolicy& policy);

// Creates the token in one statement (insert + audit row) and returns it
// after the commit.
CreatedToken create_token(Db& db, const NewToken& spec, const ExpiryPolicy& policy,
                          const Actor& actor);

struct ListFilter {
  std::optional<std::string> owner;
  std::string state = "all"; // active, expired, revoked, all
};

// Calls `sink` for each matching token, oldest first.
void list_tokens(Db& db, const ListFilter& filter,
                 const std::function<void(const TokenInfo&)>& sink);

struct RevokeOutcome {
  std::string id;
  enum class Status { revoked, already_revoked, unknown } status;
  std::optional<std::string> revoked_at;
};

// Revokes `ids` in one statement; unknown ones are reported, not fatal.
std::vector<RevokeOutcome> revoke_tokens(Db& db, const std::vector<std::string>& ids,
                                         const std::optional<std::string>& reason,
                                         const Actor& actor);

// The active tokens of `owner` (what a bulk revoke would hit).
std::vector<TokenInfo> active_tokens_of(Db& db, const std::string& owner);

struct VerifyRequest {
  std::optional<std::string> role;
  std::optional<std::string> scope;
};

struct Verified {
  std::string id;
  std::string owner;
};

// Checks a presented token: shape and checksum offline, then one query.
// Throws TokenRejected with the reason on any failure.
Verified verify_token(Db& db, const std::string& token, const VerifyRequest& req);

} // namespace tokenadm
