// What the library's own server needs of a Verifier beyond its public
// interface (tokenadm/verifier.hpp).
#pragma once

#include "tokenadm/db.hpp"
#include "tokenadm/verifier.hpp"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tokenadm {

struct VerifierInternals {
  // Verifier::verify_many, also giving for each answer the seconds it may
  // be reused while its row is unchanged (BatchAnswer::cacheable_for; 0
  // for a rejection or a failure) and the server that answered (see
  // server_endpoint), when `cacheable_for` is not null.
  static std::vector<VerifyResult> verify_many(Verifier& v, const std::vector<std::string>& tokens,
                                               std::optional<std::string> role,
                                               std::optional<std::string> scope,
                                               const std::vector<std::string>& addresses,
                                               std::vector<double>* cacheable_for,
                                               std::string* endpoint = nullptr);

  // A new connection (not from the pool) to the database the Verifier
  // checks tokens on, with its connect timeout. Throws ConnectError.
  static std::unique_ptr<Db> connect(const Verifier& v);
};

} // namespace tokenadm
