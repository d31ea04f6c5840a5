// Connecting: the DSN in SPEC order, the whole-command deadline, and mail after a change.
#include "common.hpp"

#include <tokenadm/dsn.hpp>
#include <tokenadm/identity.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <cstring>

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

void announce(const Globals& g, tokenadm::Db& db, const tokenadm::Notice& notice)
{
  if (const auto warning =
        tokenadm::send_notice(g.cfg.email, notice, tokenadm::current_actor(), &db)) {
    note(*warning);
  }
}

} // namespace tokencli
