#include "tokenadm/config.hpp"

#include "tokenadm/dsn.hpp"
#include "tokenadm/duration.hpp"
#include "tokenadm/errors.hpp"
#include "tokenadm/text.hpp"
#include "tokenadm/token.hpp"

#include <toml++/toml.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <sstream>

namespace tokenadm {

namespace {

std::string octal_mode(mode_t m)
{
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(m & 07777));
  return buf;
}

// Stat of the file a path finally names; ConfigError if it cannot be read.
struct stat stat_or_throw(const std::string& path, const std::string& what)
{
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    throw ConfigError(what + " " + path + ": " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    throw ConfigError(what + " " + path + ": not a regular file");
  }
  return st;
}

void check_owner(const std::string& path, const std::string& what, const struct stat& st)
{
  if (st.st_uid != geteuid() && st.st_uid != 0) {
    throw ConfigError(what + " " + path + " is owned by uid " + std::to_string(st.st_uid)
                      + ", not by you or root: refused");
  }
}

struct Checked {
  std::string text;
  struct stat st {};
};

// Opens, then checks what was opened (fstat on that descriptor, so the file
// cannot be swapped between check and read): a regular file owned by you
// or root that neither group nor others can write. Whoever can write a
// config or secret file can point tokenadm at a database they control, so
// such a file is refused whatever it holds. `secret`: nor read.
Checked read_checked(const std::string& path, const std::string& what, bool secret)
{
  // O_NONBLOCK: opening a FIFO must not hang; it is refused below anyway.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    throw ConfigError(what + " " + path + ": " + std::strerror(errno));
  }
  Checked out;
  try {
    if (::fstat(fd, &out.st) != 0) {
      throw ConfigError(what + " " + path + ": " + std::strerror(errno));
    }
    if (!S_ISREG(out.st.st_mode)) {
      throw ConfigError(what + " " + path + ": not a regular file");
    }
    check_owner(path, what, out.st);
    if ((out.st.st_mode & 022) != 0) {
      throw ConfigError(what + " " + path + " has mode " + octal_mode(out.st.st_mode)
                        + " (group or others may write it): refused; chmod go-w " + path);
    }
    if (secret && (out.st.st_mode & 077) != 0) {
      throw ConfigError(what + " " + path + " has mode " + octal_mode(out.st.st_mode)
                        + " (group or others may read it): refused; chmod 600 " + path);
    }
    char buf[4096];
    for (;;) {
      const auto n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n < 0) {
        throw ConfigError(what + " " + path + ": " + std::strerror(errno));
      }
      if (n == 0) {
        break;
      }
      out.text.append(buf, static_cast<std::size_t>(n));
      if (out.text.size() > 1024 * 1024) {
        throw ConfigError(what + " " + path + ": larger than 1 MiB");
      }
    }
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  return out;
}

// One TOML document being applied to a Config, key by key.
class Reader {
public:
  Reader(Config& cfg, std::string path) : m_cfg(cfg), m_path(std::move(path)) {}

  [[noreturn]] void fail(const toml::node& node, const std::string& key, const std::string& why)
  {
    throw ConfigError(m_path + ":" + std::to_string(node.source().begin.line) + ": " + key
                      + ": " + why);
  }

  void note(const std::string& key, const toml::node& node)
  {
    m_cfg.sources[key] = m_path + ":" + std::to_string(node.source().begin.line);
  }

  std::string str(const toml::node& node, const std::string& key)
  {
    const auto v = node.value<std::string>();
    if (!node.is_string() || !v) {
      fail(node, key, "expected a string");
    }
    note(key, node);
    return *v;
  }

  bool boolean(const toml::node& node, const std::string& key)
  {
    if (!node.is_boolean()) {
      fail(node, key, "expected true or false");
    }
    note(key, node);
    return *node.value<bool>();
  }

  int integer(const toml::node& node, const std::string& key, int lo, int hi)
  {
    if (!node.is_integer()) {
      fail(node, key, "expected a number");
    }
    const auto v = *node.value<std::int64_t>();
    if (v < lo || v > hi) {
      fail(node, key, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
    }
    note(key, node);
    return static_cast<int>(v);
  }

  std::int64_t duration(const toml::node& node, const std::string& key)
  {
    const auto text = str(node, key);
    try {
      return parse_duration(text, key);
    } catch (const UsageError& e) {
      fail(node, key, "expected a duration such as \"90d\" (30m, 12h, 2w, 1y)");
    }
  }

  std::vector<std::string> strings(const toml::node& node, const std::string& key)
  {
    const auto* arr = node.as_array();
    if (arr == nullptr) {
      fail(node, key, "expected an array of strings");
    }
    std::vector<std::string> out;
    for (const auto& el : *arr) {
      if (!el.is_string()) {
        fail(el, key, "expected an array of strings");
      }
      out.push_back(*el.value<std::string>());
    }
    note(key, node);
    return out;
  }

  using Handler = std::function<void(const toml::node&)>;

  // Applies `handlers` to `table`; any other key is an error.
  void table(const toml::table& t, const std::string& prefix,
             const std::map<std::string, Handler>& handlers)
  {
    for (const auto& [k, v] : t) {
      const std::string name = prefix + std::string(k.str());
      const auto it = handlers.find(std::string(k.str()));
      if (it == handlers.end()) {
        throw ConfigError(m_path + ":" + std::to_string(k.source().begin.line)
                          + ": unknown key '" + name.substr(0, 64) + "'");
      }
      it->second(v);
    }
  }

  const std::string& path() const { return m_path; }

private:
  Config& m_cfg;
  std::string m_path;
};

void apply_file(Config& cfg, const std::string& path)
{
  const auto file = read_checked(path, "config file", false);
  const auto& st = file.st;
  const auto& text = file.text;
  toml::table doc;
  try {
    doc = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    throw ConfigError(path + ":" + std::to_string(e.source().begin.line) + ": "
                      + std::string(e.description()));
  }
  cfg.path = path;
  Reader r(cfg, path);
  bool secret = false;
  std::string dsn_file;
  std::string verify_dsn_file;
  r.table(
    doc, "",
    {
      {"dsn",
       [&](const toml::node& n) {
         cfg.dsn = r.str(n, "dsn");
         secret = secret || dsn_has_password(cfg.dsn);
       }},
      {"dsn_file", [&](const toml::node& n) { dsn_file = r.str(n, "dsn_file"); }},
      {"verify_dsn",
       [&](const toml::node& n) {
         cfg.verify_dsn = r.str(n, "verify_dsn");
         secret = secret || dsn_has_password(cfg.verify_dsn);
       }},
      {"verify_dsn_file",
       [&](const toml::node& n) { verify_dsn_file = r.str(n, "verify_dsn_file"); }},
      {"connect_timeout",
       [&](const toml::node& n) { cfg.connect_timeout = r.integer(n, "connect_timeout", 1, 3600); }},
      {"timeout", [&](const toml::node& n) { cfg.timeout = r.integer(n, "timeout", 0, 86400); }},
      {"read_only", [&](const toml::node& n) { cfg.read_only = r.boolean(n, "read_only"); }},
      {"notify_at",
       [&](const toml::node& n) {
         cfg.notify_at.clear();
         for (const auto& text : r.strings(n, "notify_at")) {
           try {
             cfg.notify_at.push_back(parse_duration(text, "notify_at"));
           } catch (const UsageError&) {
             r.fail(n, "notify_at", "expected durations such as [\"30d\", \"7d\", \"1d\"]");
           }
         }
         if (cfg.notify_at.empty()) {
           r.fail(n, "notify_at", "expected at least one duration");
         }
       }},
      {"revoke_unused_after",
       [&](const toml::node& n) { cfg.revoke_unused_after = r.duration(n, "revoke_unused_after"); }},
      {"token",
       [&](const toml::node& n) {
         if (!n.is_table()) {
           r.fail(n, "token", "expected a [token] table");
         }
         r.table(*n.as_table(), "token.",
                 {
                   {"prefix", [&](const toml::node& v) { cfg.prefix = r.str(v, "token.prefix"); }},
                   {"default_ttl",
                    [&](const toml::node& v) {
                      cfg.policy.default_ttl = r.duration(v, "token.default_ttl");
                    }},
                   {"max_ttl",
                    [&](const toml::node& v) { cfg.policy.max_ttl = r.duration(v, "token.max_ttl"); }},
                   {"allow_no_expiry",
                    [&](const toml::node& v) {
                      cfg.policy.allow_no_expiry = r.boolean(v, "token.allow_no_expiry");
                    }},
                   {"roles", [&](const toml::node& v) { cfg.policy.roles = r.strings(v, "token.roles"); }},
                   {"digest", [&](const toml::node& v) { cfg.digest = r.str(v, "token.digest"); }},
                   {"pepper_file",
                    [&](const toml::node& v) { cfg.pepper_file = r.str(v, "token.pepper_file"); }},
                   {"previous_pepper_files",
                    [&](const toml::node& v) {
                      cfg.previous_pepper_files = r.strings(v, "token.previous_pepper_files");
                    }},
                 });
       }},
      {"email",
       [&](const toml::node& n) {
         if (!n.is_table()) {
           r.fail(n, "email", "expected an [email] table");
         }
         auto& e = cfg.email;
         auto s = [&](std::string& field, const char* key) {
           return [&field, key, &r](const toml::node& v) {
             field = r.str(v, std::string("email.") + key);
           };
         };
         auto b = [&](bool& field, const char* key) {
           return [&field, key, &r](const toml::node& v) {
             field = r.boolean(v, std::string("email.") + key);
           };
         };
         std::string password_file;
         r.table(*n.as_table(), "email.",
                 {
                   {"smtp_server", s(e.smtp_server, "smtp_server")},
                   {"smtp_port",
                    [&](const toml::node& v) { e.smtp_port = r.integer(v, "email.smtp_port", 1, 65535); }},
                   {"smtp_username", s(e.smtp_username, "smtp_username")},
                   {"smtp_password",
                    [&](const toml::node& v) {
                      e.smtp_password = r.str(v, "email.smtp_password");
                      secret = secret || !e.smtp_password.empty();
                    }},
                   {"smtp_password_file", s(password_file, "smtp_password_file")},
                   {"smtp_use_ssl", b(e.smtp_use_ssl, "smtp_use_ssl")},
                   {"smtp_use_tls", b(e.smtp_use_tls, "smtp_use_tls")},
                   {"smtp_auth", s(e.smtp_auth, "smtp_auth")},
                   {"smtp_allow_plaintext_auth",
                    b(e.smtp_allow_plaintext_auth, "smtp_allow_plaintext_auth")},
                   {"smtp_ca_file", s(e.smtp_ca_file, "smtp_ca_file")},
                   {"app_email_from", s(e.app_email_from, "app_email_from")},
                   {"email_prefix", s(e.email_prefix, "email_prefix")},
                   {"email_to", s(e.email_to, "email_to")},
                 });
         if (!password_file.empty()) {
           e.smtp_password = read_secret_file(password_file, "email.smtp_password_file");
         }
       }},
      {"serve",
       [&](const toml::node& n) {
         if (!n.is_table()) {
           r.fail(n, "serve", "expected a [serve] table");
         }
         auto& sv = cfg.serve;
         auto num = [&](int& field, const char* key, int lo, int hi) {
           return [&field, key, lo, hi, &r](const toml::node& v) {
             field = r.integer(v, std::string("serve.") + key, lo, hi);
           };
         };
         r.table(*n.as_table(), "serve.",
                 {
                   {"listen", [&](const toml::node& v) { sv.listen = r.strings(v, "serve.listen"); }},
                   {"auth_path",
                    [&](const toml::node& v) { sv.auth_path = r.str(v, "serve.auth_path"); }},
                   {"trusted_proxies",
                    [&](const toml::node& v) {
                      sv.trusted_proxies = r.strings(v, "serve.trusted_proxies");
                    }},
                   {"allow_query_token",
                    [&](const toml::node& v) {
                      sv.allow_query_token = r.boolean(v, "serve.allow_query_token");
                    }},
                   {"threads", num(sv.threads, "threads", 1, 256)},
                   {"max_connections", num(sv.max_connections, "max_connections", 1, 1000000)},
                   {"connection_timeout", num(sv.connection_timeout, "connection_timeout", 1, 3600)},
                   {"request_timeout", num(sv.request_timeout, "request_timeout", 1, 3600)},
                   {"max_header_size", num(sv.max_header_size, "max_header_size", 1024, 1048576)},
                   {"pool_size", num(sv.pool_size, "pool_size", 1, 256)},
                   {"drain_timeout", num(sv.drain_timeout, "drain_timeout", 0, 3600)},
                 });
       }},
    });
  if (secret && (st.st_mode & 077) != 0) {
    throw ConfigError("config file " + path + " holds a password and has mode "
                      + octal_mode(st.st_mode) + ": refused; chmod 600 " + path);
  }
  if (!dsn_file.empty()) {
    cfg.dsn = read_secret_file(dsn_file, "dsn_file");
  }
  if (!verify_dsn_file.empty()) {
    cfg.verify_dsn = read_secret_file(verify_dsn_file, "verify_dsn_file");
  }
}

std::string env(const char* name)
{
  const char* v = std::getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

std::optional<std::string> find_file(const std::string& flag_path, std::string& how)
{
  if (!flag_path.empty()) {
    how = "flag --config";
    return flag_path;
  }
  if (auto e = env("TOKENADM_CONFIG"); !e.empty()) {
    how = "env TOKENADM_CONFIG";
    return e;
  }
  std::string base = env("XDG_CONFIG_HOME");
  if (base.empty() && !env("HOME").empty()) {
    base = env("HOME") + "/.config";
  }
  for (const auto& candidate :
       {base.empty() ? std::string() : base + "/tokenadm/tokenadm.toml",
        std::string("/etc/tokenadm/tokenadm.toml")}) {
    struct stat st {};
    if (!candidate.empty() && ::stat(candidate.c_str(), &st) == 0) {
      how = "search";
      return candidate;
    }
  }
  return std::nullopt;
}

void validate(const Config& cfg)
{
  auto where = [&](const std::string& key) {
    const auto it = cfg.sources.find(key);
    return (it == cfg.sources.end() ? std::string("default") : it->second) + ": " + key;
  };
  if (!valid_prefix(cfg.prefix)) {
    throw ConfigError(where("token.prefix") + ": '" + cfg.prefix.substr(0, 16)
                      + "' is not 1 to 8 lower-case letters");
  }
  if (cfg.policy.default_ttl > cfg.policy.max_ttl) {
    throw ConfigError(where("token.default_ttl") + ": " + format_duration(cfg.policy.default_ttl)
                      + " is longer than token.max_ttl (" + format_duration(cfg.policy.max_ttl)
                      + ")");
  }
  for (const auto& role : cfg.policy.roles) {
    if (std::find(k_roles.begin(), k_roles.end(), role) == k_roles.end()) {
      throw ConfigError(where("token.roles") + ": unknown role '" + role.substr(0, 32)
                        + "' (api, feed, vcs, http, all)");
    }
  }
  if (cfg.digest != "sha256" && cfg.digest != "hmac-sha256") {
    throw ConfigError(where("token.digest") + ": '" + cfg.digest.substr(0, 32)
                      + "' is not sha256 or hmac-sha256");
  }
  if (cfg.serve.auth_path.empty() || cfg.serve.auth_path[0] != '/'
      || cfg.serve.auth_path == "/healthz" || cfg.serve.auth_path == "/metrics") {
    throw ConfigError(where("serve.auth_path") + ": '" + cfg.serve.auth_path.substr(0, 64)
                      + "' is not a path starting with / (other than /healthz and /metrics)");
  }
  if (cfg.digest == "hmac-sha256" && cfg.pepper_file.empty()) {
    throw ConfigError(where("token.digest") + ": hmac-sha256 needs token.pepper_file");
  }
}

} // namespace

void check_secret_file(const std::string& path, const std::string& what)
{
  const auto st = stat_or_throw(path, what);
  check_owner(path, what, st);
  if ((st.st_mode & 077) != 0) {
    throw ConfigError(what + " " + path + " has mode " + octal_mode(st.st_mode)
                      + " (group or others may read it): refused; chmod 600 " + path);
  }
}

std::string read_secret_file(const std::string& path, const std::string& what)
{
  auto text = read_checked(path, what, true).text;
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
    text.pop_back();
  }
  if (text.empty()) {
    throw ConfigError(what + " " + path + " is empty");
  }
  return text;
}

Config load_config(const std::string& flag_path)
{
  Config cfg;
  std::string how;
  if (const auto path = find_file(flag_path, how)) {
    apply_file(cfg, *path);
    cfg.sources["config"] = how;
  }
  // The environment beats the file.
  auto from_env = [&](const char* name, const std::string& key,
                      const std::function<void(const std::string&)>& set) {
    const auto v = env(name);
    if (v.empty()) {
      return;
    }
    try {
      set(v);
    } catch (const UsageError& e) {
      // A message that names the variable already (a duration's) needs
      // no second prefix.
      const std::string what = e.what();
      const std::string prefix = std::string("env ") + name + ": ";
      throw ConfigError(what.rfind(prefix, 0) == 0 ? what : prefix + what);
    }
    cfg.sources[key] = std::string("env ") + name;
  };
  auto to_bool = [](const std::string& v) {
    if (v == "1" || v == "true" || v == "yes") {
      return true;
    }
    if (v == "0" || v == "false" || v == "no") {
      return false;
    }
    throw UsageError("expected true or false");
  };
  auto to_int = [](const std::string& v, int lo, int hi) {
    if (v.empty() || v.size() > 9 || v.find_first_not_of("0123456789") != std::string::npos) {
      throw UsageError("expected a number");
    }
    const int n = std::stoi(v);
    if (n < lo || n > hi) {
      throw UsageError("must be between " + std::to_string(lo) + " and " + std::to_string(hi));
    }
    return n;
  };
  from_env("TOKENADM_CONNECT_TIMEOUT", "connect_timeout",
           [&](const std::string& v) { cfg.connect_timeout = to_int(v, 1, 3600); });
  from_env("TOKENADM_TIMEOUT", "timeout",
           [&](const std::string& v) { cfg.timeout = to_int(v, 0, 86400); });
  from_env("TOKENADM_READ_ONLY", "read_only",
           [&](const std::string& v) { cfg.read_only = to_bool(v); });
  from_env("TOKENADM_PREFIX", "token.prefix", [&](const std::string& v) { cfg.prefix = v; });
  from_env("TOKENADM_DEFAULT_TTL", "token.default_ttl", [&](const std::string& v) {
    cfg.policy.default_ttl = parse_duration(v, "env TOKENADM_DEFAULT_TTL");
  });
  from_env("TOKENADM_MAX_TTL", "token.max_ttl", [&](const std::string& v) {
    cfg.policy.max_ttl = parse_duration(v, "env TOKENADM_MAX_TTL");
  });
  from_env("TOKENADM_ALLOW_NO_EXPIRY", "token.allow_no_expiry",
           [&](const std::string& v) { cfg.policy.allow_no_expiry = to_bool(v); });
  from_env("TOKENADM_DIGEST", "token.digest", [&](const std::string& v) { cfg.digest = v; });
  from_env("TOKENADM_PEPPER_FILE", "token.pepper_file",
           [&](const std::string& v) { cfg.pepper_file = v; });
  validate(cfg);
  return cfg;
}

std::pair<std::string, std::string> resolve_verify_dsn(
  const std::string& flag, const Config& cfg, const std::pair<std::string, std::string>& main_dsn)
{
  if (!flag.empty()) {
    return {flag, "flag --verify-dsn"};
  }
  if (const char* e = std::getenv("TOKENADM_VERIFY_DSN"); e != nullptr && *e != '\0') {
    return {e, "env TOKENADM_VERIFY_DSN"};
  }
  if (!cfg.verify_dsn.empty()) {
    const auto it = cfg.sources.find("verify_dsn");
    return {cfg.verify_dsn, it != cfg.sources.end() ? it->second : "verify_dsn_file"};
  }
  return {main_dsn.first, "dsn (" + main_dsn.second + ")"};
}

std::vector<ShownSetting> show_config(const Config& cfg, const std::string& effective_dsn,
                                      const std::string& dsn_source,
                                      const std::pair<std::string, std::string>& verify_dsn)
{
  auto src = [&](const std::string& key) {
    const auto it = cfg.sources.find(key);
    return it == cfg.sources.end() ? std::string("default") : it->second;
  };
  auto list = [](const std::vector<std::string>& v) { return "[" + join(v, ", ") + "]"; };
  auto yes = [](bool b) { return std::string(b ? "true" : "false"); };
  const auto& e = cfg.email;
  return {
    {"config", cfg.path.empty() ? "(none found)" : cfg.path, src("config")},
    {"dsn", effective_dsn.empty() ? "(libpq defaults: PG* variables, ~/.pgpass)" : mask_dsn(effective_dsn),
     dsn_source},
    {"verify_dsn",
     verify_dsn.first.empty() ? "(libpq defaults: PG* variables, ~/.pgpass)"
                              : mask_dsn(verify_dsn.first),
     verify_dsn.second},
    {"connect_timeout", std::to_string(cfg.connect_timeout), src("connect_timeout")},
    {"timeout", std::to_string(cfg.timeout), src("timeout")},
    {"read_only", yes(cfg.read_only), src("read_only")},
    {"notify_at", [&] {
       std::vector<std::string> v;
       for (const auto l : cfg.notify_at) {
         v.push_back(format_duration(l));
       }
       return list(v);
     }(), src("notify_at")},
    {"revoke_unused_after",
     cfg.revoke_unused_after ? format_duration(*cfg.revoke_unused_after) : std::string("(never)"),
     src("revoke_unused_after")},
    {"token.prefix", cfg.prefix, src("token.prefix")},
    {"token.default_ttl", format_duration(cfg.policy.default_ttl), src("token.default_ttl")},
    {"token.max_ttl", format_duration(cfg.policy.max_ttl), src("token.max_ttl")},
    {"token.allow_no_expiry", yes(cfg.policy.allow_no_expiry), src("token.allow_no_expiry")},
    {"token.roles", list(cfg.policy.roles), src("token.roles")},
    {"token.digest", cfg.digest, src("token.digest")},
    {"token.pepper_file", cfg.pepper_file, src("token.pepper_file")},
    {"token.previous_pepper_files", list(cfg.previous_pepper_files),
     src("token.previous_pepper_files")},
    {"email.smtp_server", e.smtp_server, src("email.smtp_server")},
    {"email.smtp_port", std::to_string(e.smtp_port), src("email.smtp_port")},
    {"email.smtp_username", e.smtp_username, src("email.smtp_username")},
    {"email.smtp_password", e.smtp_password.empty() ? "" : "***",
     cfg.sources.count("email.smtp_password_file") ? src("email.smtp_password_file")
                                                   : src("email.smtp_password")},
    {"email.smtp_use_ssl", yes(e.smtp_use_ssl), src("email.smtp_use_ssl")},
    {"email.smtp_use_tls", yes(e.smtp_use_tls), src("email.smtp_use_tls")},
    {"email.smtp_auth", e.smtp_auth, src("email.smtp_auth")},
    {"email.smtp_allow_plaintext_auth", yes(e.smtp_allow_plaintext_auth),
     src("email.smtp_allow_plaintext_auth")},
    {"email.smtp_ca_file", e.smtp_ca_file, src("email.smtp_ca_file")},
    {"email.app_email_from", e.app_email_from, src("email.app_email_from")},
    {"email.email_prefix", e.email_prefix, src("email.email_prefix")},
    {"email.email_to", e.email_to, src("email.email_to")},
    {"serve.listen", list(cfg.serve.listen), src("serve.listen")},
    {"serve.auth_path", cfg.serve.auth_path, src("serve.auth_path")},
    {"serve.trusted_proxies", list(cfg.serve.trusted_proxies), src("serve.trusted_proxies")},
    {"serve.allow_query_token", yes(cfg.serve.allow_query_token), src("serve.allow_query_token")},
    {"serve.threads", std::to_string(cfg.serve.threads), src("serve.threads")},
    {"serve.max_connections", std::to_string(cfg.serve.max_connections),
     src("serve.max_connections")},
    {"serve.connection_timeout", std::to_string(cfg.serve.connection_timeout),
     src("serve.connection_timeout")},
    {"serve.request_timeout", std::to_string(cfg.serve.request_timeout),
     src("serve.request_timeout")},
    {"serve.max_header_size", std::to_string(cfg.serve.max_header_size),
     src("serve.max_header_size")},
    {"serve.pool_size", std::to_string(cfg.serve.pool_size), src("serve.pool_size")},
    {"serve.drain_timeout", std::to_string(cfg.serve.drain_timeout), src("serve.drain_timeout")},
  };
}

} // namespace tokenadm
