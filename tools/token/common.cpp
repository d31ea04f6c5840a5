#include "common.hpp"

#include <tokenadm/dsn.hpp>
#include <tokenadm/errors.hpp>

#include <unistd.h>

#include <csignal>
#include <cstring>
#include <iostream>

namespace tokencli {

namespace {

volatile std::sig_atomic_t g_connected = 0;
int g_deadline = 0;

void on_alarm(int)
{
  // Only async-signal-safe calls here.
  const char* msg = g_connected ? "token: timed out: the command did not finish within --timeout\n"
                                : "token: timed out while connecting to the database\n";
  (void)!write(STDERR_FILENO, msg, std::strlen(msg));
  _exit(g_connected ? 2 : 1);
}

} // namespace

void arm_deadline(int seconds)
{
  g_deadline = seconds;
  if (seconds <= 0) {
    return;
  }
  struct sigaction sa {};
  sa.sa_handler = on_alarm;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGALRM, &sa, nullptr);
  alarm(static_cast<unsigned>(seconds));
}

std::unique_ptr<tokenadm::Db> connect(const Globals& g, const std::string& positional_dsn)
{
  auto db = std::make_unique<tokenadm::Db>(tokenadm::resolve_dsn(g.dsn, positional_dsn));
  g_connected = 1;
  return db;
}

CLI::Option* add_format(CLI::App& app, Globals& g, std::string& format,
                        const std::vector<std::string>& choices)
{
  std::string list;
  for (const auto& c : choices) {
    list += (list.empty() ? "" : "|") + c;
  }
  return app
    .add_option_function<std::string>(
      "--format",
      [&g, &format](const std::string& value) {
        format = value;
        g.json = value == "json";
      },
      "Output format: " + list + " (default " + format + ")")
    ->check(CLI::IsMember(choices))
    ->type_name("FORMAT");
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

void note(const std::string& message)
{
  std::cerr << "token: " << tokenadm::redact_tokens(message) << '\n';
}

} // namespace tokencli
