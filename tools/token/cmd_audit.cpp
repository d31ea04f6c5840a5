#include "common.hpp"

#include <tokenadm/audit.hpp>

#include <iostream>

namespace tokencli {

namespace {

nlohmann::json audit_json(const tokenadm::AuditEntry& e)
{
  auto opt = [](const std::optional<std::string>& v) -> nlohmann::json {
    return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
  };
  return {
    {"event_id", e.id},
    {"at", e.at},
    {"action", e.action},
    {"id", opt(e.token_id)},
    {"owner", opt(e.owner)},
    {"actor", e.actor},
    {"sudo_user", opt(e.sudo_user)},
    {"host", e.host},
    {"outcome", e.outcome},
    {"reason", opt(e.reason)},
    {"details", e.details ? nlohmann::json::parse(*e.details) : nlohmann::json(nullptr)},
    {"count", e.count},
  };
}

std::string cell(const std::optional<std::string>& s)
{
  std::string out = s.value_or("");
  for (auto& c : out) {
    if (c == '\t' || c == '\n' || c == '\r') {
      c = ' ';
    }
  }
  return out;
}

} // namespace

Command setup_audit(CLI::App& app, Globals& g)
{
  struct Options {
    std::string token, owner, action, since, until;
    std::int64_t limit = 0;
    std::string format = "table";
  };
  auto* sub = app.add_subcommand("audit", "Show the audit trail, newest first");
  auto o = std::make_shared<Options>();
  sub->add_option("--token", o->token, "Only this token ID")->type_name("ID");
  sub->add_option("--owner", o->owner, "Only this owner");
  sub->add_option("--action", o->action,
                  "Only this action (create ensure revoke rotate renew prune import verify "
                  "verify-failed mail notify)");
  sub->add_option("--since", o->since, "From this time (ISO 8601)")->type_name("TIME");
  sub->add_option("--until", o->until, "Before this time (ISO 8601)")->type_name("TIME");
  sub->add_option("--limit", o->limit, "At most N rows")->type_name("N");
  add_format(*sub, g, o->format, {"table", "tsv", "json"});

  return {sub, [&g, o, sub] {
            tokenadm::AuditFilter f;
            auto set = [&](const char* name, const std::string& v,
                           std::optional<std::string>& field) {
              if (sub->count(name) > 0) {
                field = v;
              }
            };
            take_id(o->token);
            set("--token", o->token, f.token_id);
            set("--owner", o->owner, f.owner);
            set("--action", o->action, f.action);
            set("--since", o->since, f.since);
            set("--until", o->until, f.until);
            if (sub->count("--limit") > 0) {
              f.limit = o->limit;
            }
            auto db = connect(g);
            bool first = true;
            const char* header = "AT                    ACTION         ID          OWNER  OUTCOME  "
                                 "ACTOR  REASON\n";
            tokenadm::list_audit(*db, f, [&](const tokenadm::AuditEntry& e) {
              if (first && o->format == "table") {
                std::cout << header;
              }
              if (o->format == "json") {
                std::cout << (first ? "[" : ",") << audit_json(e).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
              } else if (o->format == "tsv") {
                std::cout << e.at << '\t' << e.action << '\t' << cell(e.token_id) << '\t'
                          << cell(e.owner) << '\t' << e.outcome << '\t' << cell(e.actor) << '\t'
                          << cell(e.host) << '\t' << cell(e.reason) << '\t' << e.count << '\n';
              } else {
                auto pad = [](std::string s, std::size_t w) {
                  return s.size() >= w ? s + " " : s + std::string(w - s.size(), ' ');
                };
                std::string reason = cell(e.reason);
                if (e.count > 1) {
                  reason += " (x" + std::to_string(e.count) + ")";
                }
                std::cout << pad(e.at, 22) << pad(e.action, 15) << pad(cell(e.token_id), 12)
                          << pad(cell(e.owner), 7) << pad(e.outcome, 9) << pad(e.actor, 7)
                          << reason << '\n';
              }
              check_stdout();
              first = false;
            });
            if (o->format == "json") {
              std::cout << (first ? "[]\n" : "]\n");
            } else if (first && o->format == "table") {
              std::cout << header;
            }
            std::cout << std::flush;
            return 0;
          }};
}

} // namespace tokencli
