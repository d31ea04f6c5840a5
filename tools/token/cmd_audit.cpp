#include "common.hpp"
#include "table.hpp"
#include "usage.hpp"

#include <tokenadm/audit.hpp>
#include <tokenadm/text.hpp>

#include <iostream>
#include <optional>

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
  // The actions the store writes (lib/src/store_*.cpp, audit.cpp).
  const std::vector<std::string> actions{"create", "ensure", "import", "revoke", "rotate",
                                         "renew", "suspend", "resume", "prune", "verify",
                                         "verify-failed", "mail", "notify"};
  sub->add_option("--action", o->action, "Only this action: " + tokenadm::join(actions, ", "))
    ->check(one_of(actions));
  sub->add_option("--since", o->since, "From this time (ISO 8601)")->type_name("TIME");
  sub->add_option("--until", o->until, "Before this time (ISO 8601)")->type_name("TIME");
  sub->add_option("--limit", o->limit, "At most N rows")->type_name("N")->check(in_range(1, 1000000000));
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
            // Columns as wide as their contents in the first 100 rows.
            std::optional<Table> table;
            if (o->format == "table") {
              table.emplace(std::vector<std::string>{"AT", "ACTION", "ID", "OWNER", "OUTCOME",
                                                     "ACTOR", "REASON"},
                            std::vector<std::size_t>{3, 5}, std::vector<std::size_t>{});
            }
            tokenadm::list_audit(*db, f, [&](const tokenadm::AuditEntry& e) {
              if (o->format == "json") {
                std::cout << (first ? "[" : ",") << audit_json(e).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
              } else if (o->format == "tsv") {
                std::cout << e.at << '\t' << e.action << '\t' << cell(e.token_id) << '\t'
                          << cell(e.owner) << '\t' << e.outcome << '\t' << cell(e.actor) << '\t'
                          << cell(e.host) << '\t' << cell(e.reason) << '\t' << e.count << '\n';
              } else {
                std::string reason = cell(e.reason);
                if (e.count > 1) {
                  reason += " (x" + std::to_string(e.count) + ")";
                }
                table->add({e.at, e.action, cell(e.token_id), cell(e.owner), e.outcome,
                            cell(e.actor), reason});
              }
              check_stdout();
              first = false;
            });
            if (o->format == "json") {
              std::cout << (first ? "[]\n" : "]\n");
            } else if (table) {
              table->finish();
            }
            std::cout << std::flush;
            return 0;
          }};
}

} // namespace tokencli
