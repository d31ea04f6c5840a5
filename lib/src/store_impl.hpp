// Private to the store_*.cpp files: the helpers and SQL fragments the
// queries share. The only other place libpqxx is seen besides db_impl.hpp.
#pragma once

#include "db_impl.hpp"
#include "tokenadm/digest.hpp"
#include "tokenadm/store.hpp"
#include "tokenadm/text.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tokenadm::detail {

using nlohmann::json;

// Inline, so every store file sees them initialised before its own
// namespace-scope strings built from them.
inline const std::string k_state_sql =
  "case when t.revoked_at is not null and t.revoked_at <= now() then 'revoked'"
  " when t.expires_at is not null and t.expires_at <= now() then 'expired'"
  " when t.suspended_at is not null then 'suspended'"
  " else 'active' end";

inline const std::string k_active_sql =
  "(t.revoked_at is null or t.revoked_at > now())"
  " and (t.expires_at is null or t.expires_at > now())";

// The columns read_info() expects, in order.
inline const std::string k_info_cols =
  "t.id, t.owner, t.label, array_to_string(t.roles, ','), array_to_json(t.scopes)::text,"
  " t.contact, t.meta::text, "
  + k_state_sql + " as state, " + iso("t.created_at") + ", t.created_by, " + iso("t.expires_at")
  + ", " + iso("t.last_used_at") + ", " + iso("t.revoked_at")
  + ", t.revoked_by, t.revoke_reason, t.replaced_by, array_to_string(t.allow_from, ','),"
  " t.max_uses, t.uses, " + iso("t.suspended_at") + ", t.suspended_by, t.suspend_reason,"
  " t.used_from::text";

// The audit columns every change fills; the values are $A.. placeholders
// bound by audit_params().
inline const std::string k_audit_cols =
  "(at, action, token_id, owner, actor, sudo_user, host, outcome, reason)";

std::optional<std::string> opt(const pqxx::field& f);

TokenInfo read_info(const pqxx::row& r);

const char* nullable(const std::optional<std::string>& s);

std::optional<std::string> seconds_param(const std::optional<std::int64_t>& s);

int version_of(const pqxx::field& f);

// A text[] literal of hex digests (no quoting needed).
std::string hex_array(const std::vector<StoredDigest>& digests);

// The address list to store after a use from `addr_sql` (an inet
// expression, or null for none) by token row `row`: that address first
// with the time now, then the others, at most 5.
std::string used_from_sql(const std::string& row, const std::string& addr_sql);

// A text[] literal of arbitrary strings, quoted for PostgreSQL.
std::string text_array(const std::vector<std::string>& items);

// The k_info_cols rows of tokens t matching `where` (one parameter $1).
std::vector<TokenInfo> query_infos(pqxx::transaction_base& tx, const std::string& where,
                                   const std::string& param);

} // namespace tokenadm::detail
