// Who is acting, for created_by/revoked_by and the audit trail.
#pragma once

#include <string>

namespace tokenadm {

struct Actor {
  std::string user;      // the effective OS user
  std::string sudo_user; // $SUDO_USER, or empty
  std::string host;

  // "root (sudo from alice)" or "alice".
  std::string describe() const;
};

Actor current_actor();

} // namespace tokenadm
