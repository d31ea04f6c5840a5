// tokenadm.toml: where it is found, what it may hold, and where each
// effective value came from (flag > environment > file > default).
#pragma once

#include "tokenadm/store.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
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
  std::string smtp_ca_file; // PEM CA bundle for TLS; empty: the system's
  std::string app_email_from = "tokenadm <tokenadm@localhost>";
  std::string email_prefix = "[tokenadm]";
  std::string email_to;
};

struct Config {
  std::string path;                // the file read; empty when none was found
  std::string dsn;                 // from dsn or dsn_file (not the environment)
  int connect_timeout = 10;        // seconds
  int timeout = 60;                // whole-command deadline, seconds; 0: none
  bool read_only = false;          // verify never writes (hot standby)
  std::string prefix = "tka";
  Policy policy;
  std::string digest = "sha256";   // or "hmac-sha256"
  std::string pepper_file;
  std::vector<std::string> previous_pepper_files;
  EmailConfig email;
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
                                      const std::string& dsn_source);

// Refuses a file that holds a secret when it is not owned by the user (or
// root) or when group or others may read it. `what` names it in messages.
void check_secret_file(const std::string& path, const std::string& what);

// Reads a secret file after check_secret_file; trailing newlines removed.
std::string read_secret_file(const std::string& path, const std::string& what);

} // namespace tokenadm
