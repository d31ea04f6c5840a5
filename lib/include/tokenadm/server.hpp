// The forward-auth HTTP endpoint behind `token serve`: nginx auth_request,
// Caddy forward_auth and Traefik ForwardAuth ask it whether the request's
// Bearer token is good, and it answers from a Verifier.
//
//   GET <auth_path>   Authorization: Bearer <token>, optional ?role=&scope=
//                     (or X-Tokenadm-Role / X-Tokenadm-Scope)
//     200  X-Token-Owner, X-Token-Id
//     401  WWW-Authenticate: Bearer ... error="invalid_token" (RFC 6750)
//     403  error="insufficient_scope" (role, scope or address)
//     400  error="invalid_request" (ambiguous or unknown role)
//     503  the database cannot be reached or its schema is not current
//   GET /healthz      200 when the database answers with the current schema
//   GET /metrics      Prometheus text format
//
// Built on libmicrohttpd (epoll, a thread pool per listening socket). An
// HTTP thread never waits for the database: a request that needs it is
// suspended and queued; pool_size dispatcher threads take everything queued
// and answer requests with the same role and scope with one query
// (coalescing), then resume them. With serve.cache_ttl, an accepted answer
// is reused until the database announces a change to tokens (see
// lib/src/serve_cache.hpp). The token is never logged.
#pragma once

#include "tokenadm/config.hpp"
#include "tokenadm/verifier.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tokenadm {

struct ServerOptions {
  // What to listen on ("HOST:PORT", "[V6]:PORT", "unix:/path"), used as
  // given: the caller chooses between --listen and config.serve.listen.
  std::vector<std::string> listen;
  // Listening sockets inherited from systemd (socket activation).
  std::vector<int> inherited_fds;
  // touch and audit; pool_size is taken from config.serve.pool_size.
  VerifierOptions verifier;
  // Seconds an accepted answer may be reused (a --cache-ttl flag); unset:
  // config.serve.cache_ttl. 0: no cache.
  std::optional<int> cache_ttl{};
  // One line per event (start, reload, database lost and back, stop).
  // Called from any thread; never given a token.
  std::function<void(const std::string&)> log;
};

// Listening sockets passed by systemd socket activation (LISTEN_PID is
// this process, LISTEN_FDS=n: fds 3..3+n-1), taken once: the variables are
// removed from the environment. Empty when there are none.
std::vector<int> systemd_listen_fds();

class Server {
public:
  // Binds every address, then serves from background threads. Throws
  // UsageError (an address or trusted_proxies entry that cannot be
  // understood), Error("listen") (binding failed), ConfigError or
  // ConnectError (from the Verifier).
  Server(const Config& config, ServerOptions options);
  // Stops at once (see drain() for a graceful stop).
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // What is being listened on, with the real port when 0 was asked for.
  std::vector<std::string> addresses() const;

  // Takes auth_path, trusted_proxies, allow_query_token, cache_ttl and the
  // database settings (dsn, digest, peppers, read_only, pool_size) from
  // `config`; requests in flight finish with the old ones, and the cache
  // starts empty. The listening sockets and
  // the limits stay as they were. Throws like the constructor, and then
  // changes nothing.
  void reload(const Config& config);

  // Stops accepting connections, waits up to `timeout_seconds` for the
  // requests in flight to be answered, then stops. False when some were
  // still waiting (for a database that does not answer): the server is
  // then left running in the background, for the caller to exit.
  bool drain(int timeout_seconds);

  // The /metrics text.
  std::string metrics() const;

  struct Impl;

private:
  std::unique_ptr<Impl> m_impl;
};

} // namespace tokenadm
