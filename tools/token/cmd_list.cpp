#include "common.hpp"

#include <iostream>

namespace tokencli {

namespace {

struct ListOptions {
  std::string owner;
  bool owner_set = false;
  std::string state = "all";
  std::string format = "table";
};

std::string join(const std::vector<std::string>& v, const char* sep)
{
  std::string out;
  for (const auto& s : v) {
    out += (out.empty() ? "" : sep) + s;
  }
  return out;
}

// Tabs and newlines would break a tsv line; owners and labels cannot hold
// them today, but the output must not depend on that.
std::string cell(const std::string& s)
{
  std::string out = s;
  for (auto& c : out) {
    if (c == '\t' || c == '\n' || c == '\r') {
      c = ' ';
    }
  }
  return out;
}

std::vector<std::string> table_row(const tokenadm::TokenInfo& t)
{
  return {t.id,
          cell(t.owner),
          cell(t.label),
          join(t.roles, ","),
          t.state,
          t.created_at,
          t.expires_at.value_or("never"),
          t.last_used_at.value_or("-")};
}

} // namespace

Command setup_list(CLI::App& app, Globals& g)
{
  auto* sub = app.add_subcommand("list", "List tokens (never their secrets)");
  auto o = std::make_shared<ListOptions>();
  sub->add_option("--owner", o->owner, "Only this owner's tokens");
  sub->add_option("--state", o->state, "active, expired, revoked or all (default all)")
    ->check(CLI::IsMember({"active", "expired", "revoked", "all"}));
  add_format(*sub, g, o->format, {"table", "tsv", "json"});

  return {sub, [&g, o, sub] {
            tokenadm::ListFilter filter;
            if (sub->count("--owner") > 0) {
              filter.owner = o->owner;
            }
            filter.state = o->state;
            auto db = connect(g);
            if (o->format == "tsv") {
              tokenadm::list_tokens(*db, filter, [](const tokenadm::TokenInfo& t) {
                std::cout << t.id << '\t' << cell(t.owner) << '\t' << cell(t.label) << '\t'
                          << join(t.roles, ",") << '\t' << t.state << '\t' << t.created_at
                          << '\t' << t.expires_at.value_or("") << '\t'
                          << t.last_used_at.value_or("") << '\n';
              });
            } else if (o->format == "json") {
              bool first = true;
              std::cout << '[';
              tokenadm::list_tokens(*db, filter, [&first](const tokenadm::TokenInfo& t) {
                std::cout << (first ? "\n" : ",\n") << token_json(t).dump();
                first = false;
              });
              std::cout << (first ? "]\n" : "\n]\n");
            } else {
              std::vector<std::vector<std::string>> rows{
                {"ID", "OWNER", "LABEL", "ROLES", "STATE", "CREATED", "EXPIRES", "LAST-USED"}};
              tokenadm::list_tokens(*db, filter, [&rows](const tokenadm::TokenInfo& t) {
                rows.push_back(table_row(t));
              });
              std::vector<std::size_t> width(rows[0].size(), 0);
              for (const auto& r : rows) {
                for (std::size_t i = 0; i < r.size(); ++i) {
                  width[i] = std::max(width[i], r[i].size());
                }
              }
              for (const auto& r : rows) {
                std::string line;
                for (std::size_t i = 0; i < r.size(); ++i) {
                  line += r[i];
                  if (i + 1 < r.size()) {
                    line += std::string(width[i] - r[i].size() + 2, ' ');
                  }
                }
                std::cout << line << '\n';
              }
            }
            std::cout << std::flush;
            return 0;
          }};
}

} // namespace tokencli
