// The audit trail: one row per change, written by the store in the same
// statement as the change; failed verifications folded per minute.
#pragma once

#include "tokenadm/identity.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace tokenadm {

class Db;

struct AuditEntry {
  std::int64_t id = 0;
  std::string at;
  std::string action; // create ensure revoke rotate renew prune import verify verify-failed mail notify
  std::optional<std::string> token_id;
  std::optional<std::string> owner;
  std::string actor;
  std::optional<std::string> sudo_user;
  std::string host;
  std::string outcome;
  std::optional<std::string> reason;
  std::optional<std::string> details; // JSON text
  int count = 1;                      // verify-failed rows: failures folded into this one
};

struct AuditFilter {
  std::optional<std::string> token_id;
  std::optional<std::string> owner;
  std::optional<std::string> action;
  std::optional<std::string> since; // timestamps PostgreSQL parses
  std::optional<std::string> until;
  std::optional<std::int64_t> limit;
};

// Newest first, streamed through a cursor.
void list_audit(Db& db, const AuditFilter& filter,
                const std::function<void(const AuditEntry&)>& sink);

// A failed verification (reason: unknown revoked expired forbidden), never
// the token: one row per reason, actor and host per minute, whose count
// grows, so a flood cannot grow the table without bound.
// `count` folds that many failures of the same reason at once (batches).
void record_verify_failure(Db& db, const std::string& reason,
                           const std::optional<std::string>& token_id, const Actor& actor,
                           int count = 1);

// An event that is not a change of a token (a mail that failed, a notice
// sent), in its own statement.
void record_event(Db& db, const std::string& action, const std::optional<std::string>& token_id,
                  const std::optional<std::string>& owner, const std::string& outcome,
                  const std::string& reason, const Actor& actor);

} // namespace tokenadm
