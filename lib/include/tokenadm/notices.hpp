// notify --at: notices per token and lead time, and unused-token warnings,
// each claimed once (table tokenadm.notices).
#pragma once

#include "tokenadm/identity.hpp"
#include "tokenadm/store.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tokenadm {

class Db;

// A notice due about a token. kind "expiring": the tightest lead time
// (seconds) it has crossed; "expired": expired within the longest lead
// time; "unused": it will be revoked within a week for not being used for
// `lead` seconds (revoke_unused_after). Not yet claimed.
struct DueNotice {
  TokenInfo token;
  std::string kind;
  std::int64_t lead = 0;
  std::string about;                // the expiry, or the last use, as stored
  std::vector<std::int64_t> claims; // the lead times claimed with it
};

// The notices due now for lead times `leads` (each > 0); unused warnings
// only with `unused_after`. An expiry announced at a lead time is not
// announced again at a longer one.
std::vector<DueNotice> notices_due(Db& db, std::vector<std::int64_t> leads,
                                   std::optional<std::int64_t> unused_after);

// Claims `n` (with an audit row): true for exactly one of any number of
// concurrent callers, false when it was claimed before. release_notice()
// undoes a claim whose mail could not be sent, so the next run tries again.
bool claim_notice(Db& db, const DueNotice& n, const Actor& actor);
void release_notice(Db& db, const DueNotice& n);

// One notify run at a time: held() for exactly one of any number of
// overlapping runs, until destroyed. The lock lives in a transaction of its
// own on `db` (a connection used for nothing else), so it also holds
// through pgbouncer's transaction pooling, and dies with the connection.
class RunLock {
public:
  explicit RunLock(Db& db);
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;
  bool held() const { return m_held; }

private:
  struct Tx;
  std::unique_ptr<Tx> m_tx;
  bool m_held = false;
};

} // namespace tokenadm
