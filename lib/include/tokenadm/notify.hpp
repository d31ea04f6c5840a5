// Notification mails about tokens: what they say and to whom they go.
#pragma once

#include "tokenadm/config.hpp"
#include "tokenadm/identity.hpp"
#include "tokenadm/store.hpp"

#include <optional>
#include <string>
#include <vector>

namespace tokenadm {

class Db;

struct Notice {
  std::string type; // created revoked leaked rotated expiring expired unused suspended resumed
  std::string id;
  std::string owner;
  std::string label;
  std::optional<std::string> contact;
  std::optional<std::string> expires_at;
  std::string detail; // one extra sentence (e.g. the replacement's id)
};

Notice notice_of(const std::string& type, const TokenInfo& t, const std::string& detail = {});

// Who gets `n`: its contact, plus email.email_to (the admins' copy and the
// fallback), without repeats.
std::vector<std::string> recipients(const EmailConfig& email, const Notice& n);

// Mails `n` to recipients(); nothing when there are none (neither is
// set. Never fails the caller: a failure is returned as a one-line warning
// (and recorded in the audit trail when `db` is given); success returns
// nothing.
std::optional<std::string> send_notice(const EmailConfig& email, const Notice& n,
                                       const Actor& actor, Db* db);

} // namespace tokenadm
