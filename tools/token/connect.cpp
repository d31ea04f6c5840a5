// The DSN in SPEC order, and mail after a change (connect() is in lifecycle.cpp).
#include "common.hpp"

#include <tokenadm/dsn.hpp>
#include <tokenadm/identity.hpp>

#include <cstdlib>

namespace tokencli {

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

std::pair<std::string, std::string> verify_dsn(const Globals& g)
{
  return tokenadm::resolve_verify_dsn(g.verify_dsn, g.cfg, effective_dsn(g));
}

void announce(const Globals& g, tokenadm::Db& db, const tokenadm::Notice& notice)
{
  if (const auto warning =
        tokenadm::send_notice(g.cfg.email, notice, tokenadm::current_actor(), &db)) {
    note(*warning);
  }
}

} // namespace tokencli
