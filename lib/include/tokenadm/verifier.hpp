// In-process token checks for a C++ service: a Verifier answers "is this
// token good?" from any number of threads, over a small pool of
// connections, and never throws for a token it rejects.
//
//   tokenadm::Verifier verifier(std::getenv("TOKENADM_DSN"));
//   auto r = verifier.verify(token_from_request, "api");
//   if (!r.ok) return deny(r.reason);
//   remote_user = r.owner;
//
// Include only the standard library: this header is all a consumer needs
// (link with tokenadm::tokenadm, or `pkg-config --libs tokenadm`).
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tokenadm {

struct Config;

struct VerifierOptions {
  // Connections kept, opened lazily when a verify finds none idle; at most
  // this many verifies talk to the database at once, the others wait. 0 is
  // taken as 1.
  std::size_t pool_size = 4;
  // Record last_used_at (at most once a minute per token) and flag use of a
  // rotated-out token. Off: verify never writes (hot standby replicas).
  bool touch = true;
  // Record failed verifications (rate-limited) in the audit trail.
  bool audit = true;
  // Seconds to wait for a new connection. Unset: 10 for a DSN, the
  // configuration's connect_timeout for a Config.
  std::optional<int> connect_timeout{};
  // Fill VerifyResult::roles with all the token's roles, at the cost of a
  // second query per accepted token. Off: see VerifyResult::roles.
  bool fetch_roles = false;
  // For the Config constructor: this DSN rather than $TOKENADM_DSN or the
  // configuration's (a --dsn flag). Used for verification only when no
  // verify DSN is found (see verify_dsn).
  std::optional<std::string> dsn{};
  // Verify on this DSN rather than the constructor's: typically every node
  // of a replicated cluster with target_session_attrs=prefer-standby. For
  // the Config constructor, empty means $TOKENADM_VERIFY_DSN, else the
  // configuration's verify_dsn (or verify_dsn_file), else its DSN. On a hot
  // standby nothing is written (no last_used_at, no audit row), and a
  // use-limited token is refused (forbidden: its use cannot be counted).
  std::string verify_dsn{};
};

struct VerifyResult {
  bool ok = false;
  std::string id;    // the token's public id, when ok
  std::string owner; // when ok; may be empty for a site-wide token
  // When ok: every role of the token if VerifierOptions::fetch_roles is set;
  // otherwise only the role that was asked for (and granted), or nothing
  // when no role was asked for. verify_token answers with one query that
  // does not return the roles; a second query on every success would double
  // the cost of the common case, so it is opt-in.
  std::vector<std::string> roles;
  // Empty when ok. Otherwise one of:
  //   malformed checksum    the text cannot be a token (no query was made)
  //   unknown revoked expired suspended
  //   address               bound to address ranges the address is not in
  //                         (or no address was given)
  //   used-up               its use limit (max_uses) is reached
  //   forbidden             it lacks the role, or is not valid for the scope,
  //                         or it has a use limit and touch is off (a use
  //                         that cannot be counted is never accepted)
  //   unavailable           no database connection could be made, or it was
  //                         lost; the next call connects again
  //   schema                the tokenadm schema is missing or too old (run
  //                         `token init`)
  //   error                 any other database failure
  // Only ok means the token is good: treat every other reason as a denial.
  std::string reason;
  // One line for a log when not ok: never the token, never a password.
  std::string message;
};

// Thread safety: verify() may be called from any number of threads at
// once; each call takes a connection from the pool (waiting while all
// pool_size are busy) and gives it back. Construction and destruction are
// not concurrent with anything: every verify() must have returned before
// the Verifier is destroyed or moved from.
//
// Connections: none is opened by the constructors. A connection that fails
// is dropped; when a pooled connection turns out to be lost (the server
// restarted, say), the idle ones are dropped too and the call is tried
// once more on a new connection, so a restart costs no false denial. There
// is no deadline on a query beyond libpq's: give the DSN keepalives or
// tcp_user_timeout if the server may hang.
//
// The token is never logged, stored or put in an exception or message by
// the Verifier or the library; only its public id is.
class Verifier {
public:
  // `dsn` in any form the CLI takes (see normalise_dsn); empty means
  // libpq's defaults. Tokens are digested with plain SHA-256, so a database
  // that uses an HMAC pepper needs the Config constructor. Throws
  // ConnectError, at once, for a DSN that cannot be understood.
  explicit Verifier(const std::string& dsn, VerifierOptions options = {});
  Verifier(const std::string& dsn, int connect_timeout);
  // Like the CLI's verify: the DSN from VerifierOptions::verify_dsn, else
  // $TOKENADM_VERIFY_DSN, else the configuration's verify_dsn or
  // verify_dsn_file, else VerifierOptions::dsn, else $TOKENADM_DSN, else its
  // dsn or dsn_file, else
  // libpq's defaults; the configuration's digest, peppers
  // and connect_timeout; read_only = true turns touch and audit off. Throws
  // ConfigError (pepper files) or ConnectError (DSN).
  explicit Verifier(const Config& config, VerifierOptions options = {});
  ~Verifier();
  Verifier(Verifier&&) noexcept;
  Verifier& operator=(Verifier&&) noexcept;
  Verifier(const Verifier&) = delete;
  Verifier& operator=(const Verifier&) = delete;

  // Checks `token` (a tokenadm token or an imported legacy one), and that
  // it has `role` (or the role all) and is valid for `scope` when given.
  // `address` is the client's IPv4 or IPv6 address: a token bound to
  // address ranges is accepted only from them, and the token's last
  // addresses are kept. Never throws for a rejected token or a database
  // failure: see VerifyResult::reason.
  VerifyResult verify(const std::string& token, std::optional<std::string> role = {},
                      std::optional<std::string> scope = {},
                      std::optional<std::string> address = {});

  // Checks several tokens that need the same role and scope with one query
  // (coalescing: a server answers requests that arrive together this way).
  // Answers are in input order; malformed ones never reach the database.
  // A rotated-out token in its overlap is accepted and flagged in the
  // audit trail, as by verify(). `addresses`, when not empty, has each
  // token's client address ("" for none), checked as verify() checks its
  // `address`; a bad one is answered "malformed". Never throws for a
  // rejection or a database failure. Results carry no message but for
  // failures (the reason stands for it).
  std::vector<VerifyResult> verify_many(const std::vector<std::string>& tokens,
                                        std::optional<std::string> role = {},
                                        std::optional<std::string> scope = {},
                                        const std::vector<std::string>& addresses = {});

  // Can a connection be had, and is the schema the one this build needs?
  // reason is empty when ok, else "unavailable", "schema" or "error".
  struct Health {
    bool ok = false;
    int schema_version = 0; // what the database has, when it was reached
    std::string reason;
    std::string message;
  };
  Health check();

  // The pool now, and connections opened to replace lost ones so far.
  struct Stats {
    std::size_t in_use = 0;
    std::size_t idle = 0;
    unsigned long long reconnects = 0;
  };
  Stats stats() const;

private:
  friend struct VerifierInternals; // the library's own server (lib/src)
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

} // namespace tokenadm
