// token serve: the forward-auth HTTP endpoint (lib/src/server.cpp). This
// file only reads options, handles signals and logs.
#include "common.hpp"
#include "usage.hpp"

#include <tokenadm/errors.hpp>
#include <tokenadm/server.hpp>

#include <pthread.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <mutex>

namespace tokencli {

namespace {

struct ServeOptions {
  std::vector<std::string> listen;
  std::optional<int> cache_ttl;
  bool no_touch = false;
  bool no_audit = false;
};

// One whole line per write(2), so lines from several threads never mix.
void log_line(const std::string& message)
{
  static std::mutex mutex;
  std::string line = "token: " + message;
  for (auto& c : line) {
    if (c == '\n' || c == '\r') {
      c = ' ';
    }
  }
  line += '\n';
  const std::lock_guard lock(mutex);
  try {
    write_fully(STDERR_FILENO, line, "log");
  } catch (...) {
    // stderr gone: keep serving
  }
}

tokenadm::ServerOptions server_options(const Globals& g, const ServeOptions& o,
                                       std::vector<int> inherited)
{
  tokenadm::ServerOptions so;
  so.inherited_fds = std::move(inherited);
  // --listen replaces serve.listen; sockets from systemd replace it too.
  if (!o.listen.empty()) {
    so.listen = o.listen;
  } else if (so.inherited_fds.empty()) {
    so.listen = g.cfg.serve.listen;
  }
  so.verifier.touch = !o.no_touch && !g.cfg.read_only;
  so.verifier.audit = so.verifier.touch && !o.no_audit;
  if (!g.dsn.empty()) {
    so.verifier.dsn = g.dsn;
  }
  // Verification's own DSN (standbys, say): --verify-dsn here; the Verifier
  // finds TOKENADM_VERIFY_DSN and verify_dsn itself.
  so.verifier.verify_dsn = g.verify_dsn;
  so.cache_ttl = o.cache_ttl;
  so.log = log_line;
  return so;
}

int run(Globals& g, const ServeOptions& o)
{
  disarm_deadline(); // --timeout bounds a command, not a server
  // Signals are taken by sigwait() below; every thread the server starts
  // inherits this mask.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  tokenadm::Server server(g.cfg, server_options(g, o, tokenadm::systemd_listen_fds()));
  for (const auto& a : server.addresses()) {
    log_line("listening on " + a);
  }
  for (;;) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) {
      continue;
    }
    if (sig == SIGHUP) {
      try {
        auto cfg = tokenadm::load_config(g.config_path);
        if (cfg.serve.listen != g.cfg.serve.listen) {
          log_line("reload: serve.listen changed; the sockets stay as they are until a restart");
        }
        server.reload(cfg);
        g.cfg = std::move(cfg);
        log_line("reloaded the configuration");
      } catch (const tokenadm::Error& e) {
        log_line("reload failed, the old configuration stays: " + std::string(e.what()));
      }
      continue;
    }
    log_line("stopping: answering the requests in flight");
    if (!server.drain(g.cfg.serve.drain_timeout)) {
      log_line("stopped with requests unanswered after serve.drain_timeout ("
               + std::to_string(g.cfg.serve.drain_timeout) + " s)");
      std::_Exit(2);
    }
    log_line("stopped");
    return 0;
  }
}

} // namespace

Command setup_serve(CLI::App& app, Globals& g)
{
  auto* sub = app.add_subcommand(
    "serve", "Forward-auth HTTP endpoint for nginx auth_request, Caddy forward_auth, Traefik");
  auto o = std::make_shared<ServeOptions>();
  sub->add_option("--listen", o->listen,
                  "HOST:PORT, [IPV6]:PORT or unix:/path to listen on; repeatable "
                  "(default serve.listen, 127.0.0.1:8099)")
    ->type_name("ADDR");
  sub->add_option("--cache-ttl", o->cache_ttl,
                  "Reuse an accepted token's answer for up to SECONDS, until a change to tokens "
                  "is heard (default serve.cache_ttl, 0: never)")
    ->type_name("SECONDS")
    ->check(in_range(0, 3600));
  add_write_flags(*sub, o->no_touch, o->no_audit);
  return {sub, [&g, o] { return run(g, *o); }};
}

} // namespace tokencli
