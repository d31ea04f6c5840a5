#include "common.hpp"

#include <tokenadm/dsn.hpp>
#include <tokenadm/duration.hpp>
#include <tokenadm/errors.hpp>
#include <tokenadm/identity.hpp>
#include <tokenadm/text.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>

namespace tokencli {

namespace {

volatile std::sig_atomic_t g_connected = 0;
// Where stderr really is while connect() has it pointed at /dev/null.
volatile std::sig_atomic_t g_stderr_fd = STDERR_FILENO;

void on_alarm(int)
{
  // Only async-signal-safe calls here.
  const char* msg = g_connected ? "token: timed out: the command did not finish within --timeout\n"
                                : "token: timed out while connecting to the database\n";
  (void)!write(g_stderr_fd, msg, std::strlen(msg));
  _exit(g_connected ? 2 : 1);
}


} // namespace

void arm_deadline(int seconds)
{
  if (seconds <= 0) {
    return;
  }
  struct sigaction sa {};
  sa.sa_handler = on_alarm;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGALRM, &sa, nullptr);
  alarm(static_cast<unsigned>(seconds));
}

std::pair<std::string, std::string> effective_dsn(const Globals& g,
                                                  const std::string& positional_dsn)
{
  const auto dsn = tokenadm::resolve_dsn(g.dsn, positional_dsn, g.cfg.dsn);
  std::string source = "libpq defaults";
  if (!g.dsn.empty()) {
    source = "flag --dsn";
  } else if (!positional_dsn.empty()) {
    source = "argument";
  } else if (const char* e = std::getenv("TOKENADM_DSN"); e != nullptr && *e != '\0') {
    source = "env TOKENADM_DSN";
  } else if (!g.cfg.dsn.empty()) {
    const auto it = g.cfg.sources.find("dsn");
    source = it != g.cfg.sources.end() ? it->second : "dsn_file";
  }
  return {dsn, source};
}

std::unique_ptr<tokenadm::Db> connect(const Globals& g, const std::string& positional_dsn)
{
  // libpq prints server notices that arrive while connecting (say
  // "WARNING: terminating connection due to immediate shutdown") straight
  // to stderr, before any notice processor can be set. Errors must stay
  // one line: stderr is parked on /dev/null until the connection is made.
  const int saved = ::dup(STDERR_FILENO);
  const int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (saved >= 0 && null >= 0) {
    g_stderr_fd = saved;
    ::dup2(null, STDERR_FILENO);
  }
  if (null >= 0) {
    ::close(null);
  }
  auto restore = [saved] {
    if (saved >= 0) {
      ::dup2(saved, STDERR_FILENO);
      g_stderr_fd = STDERR_FILENO;
      ::close(saved);
    }
  };
  std::unique_ptr<tokenadm::Db> db;
  try {
    db = std::make_unique<tokenadm::Db>(effective_dsn(g, positional_dsn).first,
                                        g.cfg.connect_timeout);
  } catch (...) {
    restore();
    throw;
  }
  restore();
  g_connected = 1;
  return db;
}

CLI::Option* add_format(CLI::App& app, Globals& g, std::string& format,
                        const std::vector<std::string>& choices)
{
  return app
    .add_option_function<std::string>(
      "--format",
      [&g, &format](const std::string& value) {
        format = value;
        g.json = value == "json";
      },
      "Output format: " + tokenadm::join(choices, "|") + " (default " + format + ")")
    ->check(CLI::IsMember(choices))
    ->type_name("FORMAT");
}

void add_token_options(CLI::App& app, TokenOptions& o, bool with_details)
{
  app.add_option("--owner", o.owner, "Who the token is for (empty: site-wide)");
  app.add_option("--label", o.label, "What the token is for");
  app.add_option("--role", o.roles, "api, feed, vcs, http or all (default all); repeatable")
    ->delimiter(',')
    ->type_name("ROLE");
  app.add_option("--scope", o.scopes, "Limit to a scope (repo, group...); repeatable")
    ->type_name("SCOPE");
  if (with_details) {
    app.add_option("--contact", o.contact, "Email address to notify about this token")
      ->type_name("EMAIL");
    app.add_option("--meta", o.meta, "Metadata key=value; repeatable")->type_name("KEY=VALUE");
  }
  auto* in = app.add_option("--expires-in", o.expires_in, "Lifetime: 30m, 12h, 90d, 1y")
               ->type_name("DURATION");
  auto* at = app.add_option("--expires-at", o.expires_at, "Expiry time, ISO 8601")
               ->type_name("TIME");
  auto* never = app.add_flag("--no-expiry", o.no_expiry, "Never expire (if the policy allows)");
  in->excludes(at)->excludes(never);
  at->excludes(never);
}

tokenadm::NewToken to_spec(const TokenOptions& o, const tokenadm::Config& cfg)
{
  tokenadm::NewToken spec;
  spec.prefix = cfg.prefix;
  spec.owner = o.owner;
  spec.label = o.label;
  if (!o.roles.empty()) {
    spec.roles = o.roles;
  } else if (std::find(cfg.policy.roles.begin(), cfg.policy.roles.end(), "all")
             == cfg.policy.roles.end()) {
    throw tokenadm::UsageError("--role is needed: the policy (token.roles) does not allow the "
                               "default role 'all'; choose from "
                               + tokenadm::join(cfg.policy.roles, ", "));
  }
  spec.scopes = o.scopes;
  if (!o.contact.empty()) {
    spec.contact = o.contact;
  }
  for (const auto& kv : o.meta) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos) {
      throw tokenadm::UsageError("--meta '" + kv.substr(0, 64) + "': use key=value");
    }
    spec.meta.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
  }
  if (!o.expires_in.empty()) {
    spec.expires_in = tokenadm::parse_duration(o.expires_in, "--expires-in");
  }
  if (!o.expires_at.empty()) {
    spec.expires_at = o.expires_at;
  }
  spec.no_expiry = o.no_expiry;
  tokenadm::validate_new_token(spec, cfg.policy);
  return spec;
}

void TokenOutput::add_options(CLI::App& app, Globals& g)
{
  add_format(app, g, m_format, {"text", "json"});
  app.add_option("--output", m_output, "Write the token to FILE (created 0600), not stdout")
    ->type_name("FILE");
}

void TokenOutput::open(bool tolerate_existing)
{
  if (m_output.empty()) {
    return;
  }
  m_fd = ::open(m_output.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (m_fd < 0 && errno == EEXIST && tolerate_existing) {
    m_existing = true;
    return;
  }
  if (m_fd < 0) {
    throw tokenadm::UsageError("--output " + m_output + ": " + std::strerror(errno)
                               + (errno == EEXIST ? " (it is never overwritten)" : ""));
  }
}

TokenOutput::~TokenOutput()
{
  if (m_fd >= 0) {
    ::close(m_fd);
    ::unlink(m_output.c_str());
  }
}

std::size_t read_some(int fd, char* buf, std::size_t size, const std::string& what)
{
  for (;;) {
    const auto n = ::read(fd, buf, size);
    if (n >= 0) {
      return static_cast<std::size_t>(n);
    }
    if (errno != EINTR) {
      throw tokenadm::UsageError("cannot read " + what + ": " + std::strerror(errno));
    }
  }
}

void write_fully(int fd, const std::string& text, const std::string& what)
{
  std::size_t done = 0;
  while (done < text.size()) {
    const auto n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      throw tokenadm::Error("output", "cannot write " + what + ": " + std::strerror(errno));
    }
    done += static_cast<std::size_t>(n);
  }
}

void TokenOutput::write_file(const std::string& text)
{
  write_fully(m_fd, text, "--output " + m_output);
  const bool ok = ::fsync(m_fd) == 0;
  const bool closed = ::close(m_fd) == 0;
  m_fd = -1;
  if (!ok || !closed) {
    throw tokenadm::Error("output", "--output " + m_output + ": " + std::strerror(errno));
  }
}

void TokenOutput::emit(const tokenadm::CreatedToken& created, const nlohmann::json& extra)
{
  if (m_fd >= 0) {
    write_file(created.token + "\n");
  }
  if (m_format == "json") {
    auto j = token_json(created.info);
    if (m_output.empty()) {
      j["token"] = created.token;
    }
    for (const auto& [k, v] : extra.items()) {
      j[k] = v;
    }
    std::cout << j.dump() << '\n' << std::flush;
  } else if (m_output.empty()) {
    std::cout << created.token << '\n' << std::flush;
  }
  if (isatty(STDERR_FILENO)) {
    note("created " + created.info.id + " (owner '" + created.info.owner + "', expires "
         + created.info.expires_at.value_or("never") + ")");
  }
}

void TokenOutput::emit_all(const std::vector<tokenadm::CreatedToken>& created)
{
  std::string text;
  text.reserve(created.size() * 56);
  for (const auto& c : created) {
    text += c.token;
    text += '\n';
  }
  if (m_fd >= 0) {
    write_file(text);
  }
  if (m_format == "json") {
    std::cout << '[';
    bool first = true;
    for (const auto& c : created) {
      auto j = token_json(c.info);
      if (m_output.empty()) {
        j["token"] = c.token;
      }
      std::cout << (first ? "\n" : ",\n") << j.dump();
      first = false;
    }
    std::cout << "\n]\n" << std::flush;
  } else if (m_output.empty()) {
    std::cout << text << std::flush;
  }
  if (isatty(STDERR_FILENO)) {
    note("created " + std::to_string(created.size()) + " tokens");
  }
}

nlohmann::json token_json(const tokenadm::TokenInfo& t)
{
  auto opt = [](const std::optional<std::string>& v) -> nlohmann::json {
    return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
  };
  nlohmann::json meta = nlohmann::json::object();
  for (const auto& [k, v] : t.meta) {
    meta[k] = v;
  }
  return {
    {"id", t.id},
    {"owner", t.owner},
    {"label", t.label},
    {"roles", t.roles},
    {"scopes", t.scopes},
    {"contact", opt(t.contact)},
    {"meta", meta},
    {"state", t.state},
    {"created_at", t.created_at},
    {"created_by", t.created_by},
    {"expires_at", opt(t.expires_at)},
    {"last_used_at", opt(t.last_used_at)},
    {"revoked_at", opt(t.revoked_at)},
    {"revoked_by", opt(t.revoked_by)},
    {"revoke_reason", opt(t.revoke_reason)},
    {"replaced_by", opt(t.replaced_by)},
  };
}

void print_details(const tokenadm::TokenInfo& t)
{
  auto line = [](const char* key, const std::string& value) {
    std::cout << key << ": " << value << '\n';
  };
  line("id", t.id);
  line("owner", t.owner);
  line("label", t.label);
  line("state", t.state);
  line("roles", tokenadm::join(t.roles, ","));
  line("scopes", tokenadm::join(t.scopes, ","));
  line("contact", t.contact.value_or(""));
  for (const auto& [k, v] : t.meta) {
    line(("meta." + k).c_str(), v);
  }
  line("created_at", t.created_at);
  line("created_by", t.created_by);
  line("expires_at", t.expires_at.value_or("never"));
  line("last_used_at", t.last_used_at.value_or("never"));
  line("revoked_at", t.revoked_at.value_or(""));
  line("revoked_by", t.revoked_by.value_or(""));
  line("revoke_reason", t.revoke_reason.value_or(""));
  line("replaced_by", t.replaced_by.value_or(""));
}

void announce(const Globals& g, tokenadm::Db& db, const tokenadm::Notice& notice)
{
  if (const auto warning =
        tokenadm::send_notice(g.cfg.email, notice, tokenadm::current_actor(), &db)) {
    note(*warning);
  }
}

namespace {
bool g_quiet = false;
} // namespace

ProgressLine::ProgressLine(std::string what)
  : m_what(std::move(what)), m_tty(isatty(STDERR_FILENO) != 0)
{
}

ProgressLine::~ProgressLine()
{
  if (m_shown) {
    std::cerr << "\r\033[K" << std::flush;
  }
}

void ProgressLine::update(std::size_t done, std::size_t total)
{
  if (!m_tty || g_quiet) {
    return;
  }
  std::cerr << "\rtoken: " << m_what << ' ' << done << '/' << total << std::flush;
  m_shown = true;
}

void set_quiet(bool quiet)
{
  g_quiet = quiet;
}

void note(const std::string& message)
{
  if (g_quiet && message.rfind("warning", 0) != 0) {
    return;
  }
  std::cerr << "token: " << tokenadm::redact_tokens(message) << '\n';
}

bool LineReader::next(std::string& line, bool& too_long)
{
  line.clear();
  too_long = false;
  bool any = false;
  for (;;) {
    if (m_pos == m_len) {
      if (m_eof) {
        return any;
      }
      const auto n = read_some(m_fd, m_buf, sizeof m_buf, "input");
      if (n == 0) {
        m_eof = true;
        continue;
      }
      m_pos = 0;
      m_len = n;
    }
    any = true;
    const char* start = m_buf + m_pos;
    const auto* nl = static_cast<const char*>(std::memchr(start, '\n', m_len - m_pos));
    const std::size_t take = nl != nullptr ? static_cast<std::size_t>(nl - start) : m_len - m_pos;
    if (!too_long) {
      if (line.size() + take > m_limit) {
        too_long = true;
        line.clear();
      } else {
        line.append(start, take);
      }
    }
    m_pos += take;
    if (nl != nullptr) {
      ++m_pos;
      return true;
    }
  }
}

} // namespace tokencli
