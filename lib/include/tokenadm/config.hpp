// tokenadm.toml: where it is found, what it may hold, and where each
// effective value came from (flag > environment > file > default).
#pragma once

#include "tokenadm/store.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace tokenadm {

struct EmailConfig {
  std::string smtp_server; // empty: mail is written to the log instead
  int smtp_port = 25;
  std::string smtp_username;
  std::string smtp_password; // from smtp_password or smtp_password_file
  bool smtp_use_ssl = false;
  bool smtp_use_tls = false;
  std::string smtp_auth; // e.g. "PLAIN LOGIN"; empty: libcurl decides
  // SMTP AUTH on a connection without TLS (the password in clear) only
  // when this says so.
  bool smtp_allow_plaintext_auth = false;
  std::string smtp_ca_file; // PEM CA bundle for TLS; empty: the system's
  std::string app_email_from = "tokenadm <tokenadm@localhost>";
  std::string email_prefix = "[tokenadm]";
  std::string email_to;
  // With no smtp_server, each mail is written to stderr instead, unless
  // this is false (token --quiet); either way it counts as sent.
  bool log_unsent = true;
};

// [serve]: token serve, the forward-auth HTTP endpoint.
struct ServeConfig {
  // "HOST:PORT", "[V6]:PORT" or "unix:/path"; --listen replaces the list.
  std::vector<std::string> listen{"127.0.0.1:8099"};
  std::string auth_path = "/verify";
  // Peers whose X-Forwarded-For / X-Real-IP are believed: addresses, CIDR
  // ranges, or "unix" for peers on a unix socket.
  std::vector<std::string> trusted_proxies;
  bool allow_query_token = false; // RFC 6750 ?access_token=
  int threads = 2;                // HTTP threads per listening socket
  int max_connections = 1024;     // per listening socket
  int connection_timeout = 30;    // seconds a connection may sit idle
  int request_timeout = 10;       // seconds for a request's headers to arrive
  int max_header_size = 8192;     // bytes of request line and headers
  int pool_size = 4;              // database connections
  int drain_timeout = 30;         // seconds SIGTERM waits for answers in flight
  int cache_ttl = 0;              // seconds an accepted answer is reused; 0: none
};

struct Config {
  std::string path;                // the file read; empty when none was found
  std::string dsn;                 // from dsn or dsn_file (not the environment)
  // from verify_dsn or verify_dsn_file (not the environment); empty: verify
  // uses the main DSN. See resolve_verify_dsn.
  std::string verify_dsn;
  int connect_timeout = 10;        // seconds
  int timeout = 60;                // whole-command deadline, seconds; 0: none
  bool read_only = false;          // verify never writes (hot standby)
  std::string prefix = "tka";
  Policy policy;
  std::string digest = "sha256";   // or "hmac-sha256"
  std::string pepper_file;
  std::vector<std::string> previous_pepper_files;
  EmailConfig email;
  ServeConfig serve;
  // notify's lead times (seconds) when --at is not given.
  std::vector<std::int64_t> notify_at{7 * 86400};
  // notify revokes tokens unused this long (a warning a week before).
  std::optional<std::int64_t> revoke_unused_after;
  // key -> where its value came from: "default", "FILE:LINE",
  // "env TOKENADM_X", "flag --x".
  std::map<std::string, std::string> sources;
};

// Finds and reads the configuration: `flag_path` (--config), else
// $TOKENADM_CONFIG, else $XDG_CONFIG_HOME/tokenadm/tokenadm.toml (default
// ~/.config), else /etc/tokenadm/tokenadm.toml; none is fine. Then applies
// TOKENADM_* environment overrides. Throws ConfigError naming the key and
// line for unknown keys and wrong types, and refuses (like libpq's .pgpass)
// a file that holds a secret and is readable by group or others, or that is
// owned by someone other than the user or root.
Config load_config(const std::string& flag_path);

// Every effective setting as (key, value, source) with secrets masked, for
// `token config show`.
struct ShownSetting {
  std::string key;
  std::string value;
  std::string source;
};
std::vector<ShownSetting> show_config(const Config& config, const std::string& effective_dsn,
                                      const std::string& dsn_source,
                                      const std::pair<std::string, std::string>& verify_dsn);

// The DSN that verification (verify, verify --batch, Verifier, serve) uses,
// and where it came from, first found wins: `flag` (--verify-dsn),
// $TOKENADM_VERIFY_DSN, the configuration's verify_dsn or verify_dsn_file;
// else `main_dsn` (the DSN every other command uses, with its source),
// whose source is then reported as "dsn (SOURCE)". Typically every node of
// a replicated cluster with target_session_attrs=prefer-standby.
std::pair<std::string, std::string> resolve_verify_dsn(
  const std::string& flag, const Config& config,
  const std::pair<std::string, std::string>& main_dsn);

// Refuses a file that holds a secret when it is not owned by the user (or
// root) or when group or others may read it. `what` names it in messages.
void check_secret_file(const std::string& path, const std::string& what);

// Reads a secret file after check_secret_file; trailing newlines removed.
std::string read_secret_file(const std::string& path, const std::string& what);

} // namespace tokenadm
