#include "common.hpp"

#include <tokenadm/address.hpp>
#include <tokenadm/duration.hpp>
#include <tokenadm/errors.hpp>
#include <tokenadm/text.hpp>

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <iostream>

namespace tokencli {

namespace {


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
          tokenadm::join(t.roles, ","),
          t.state,
          t.created_at,
          t.expires_at.value_or("never"),
          t.last_used_at.value_or("-")};
}

// The terminal's width when stdout is one; 0 (no limit) otherwise.
std::size_t terminal_width()
{
  if (!isatty(STDOUT_FILENO)) {
    return 0;
  }
  winsize ws{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
    return ws.ws_col;
  }
  return 0;
}

// Columns padded to their widest cell. On a terminal, the `droppable`
// columns are left out and then the free-text ones (`shrinkable`) cut, with
// "~", in that order, until the table fits its width; pipes and files always
// get every column whole.
void print_table(std::vector<std::vector<std::string>> rows, const std::vector<std::size_t>& shrinkable,
                 const std::vector<std::size_t>& droppable)
{
  std::vector<std::size_t> width(rows[0].size(), 0);
  for (const auto& r : rows) {
    for (std::size_t i = 0; i < r.size(); ++i) {
      width[i] = std::max(width[i], r[i].size());
    }
  }
  if (const auto limit = terminal_width(); limit > 0) {
    auto total = [&] {
      std::size_t t = 0;
      for (auto w : width) {
        t += w + 2;
      }
      return t - 2;
    };
    std::vector<std::size_t> dropped;
    for (auto i : droppable) {
      if (total() <= limit) {
        break;
      }
      dropped.push_back(i);
      width[i] = 0;
    }
    while (total() > limit) {
      std::size_t* widest = nullptr;
      for (auto i : shrinkable) {
        if (width[i] > 8 && (widest == nullptr || width[i] > *widest)) {
          widest = &width[i];
        }
      }
      if (widest == nullptr) {
        break; // nothing left to cut: let the terminal wrap
      }
      --*widest;
    }
    for (auto& r : rows) {
      for (auto i : shrinkable) {
        if (r[i].size() > width[i]) {
          r[i] = r[i].substr(0, width[i] - 1) + "~";
        }
      }
    }
    // Highest index first, so the others stay valid.
    std::sort(dropped.rbegin(), dropped.rend());
    for (auto& r : rows) {
      for (auto i : dropped) {
        r.erase(r.begin() + static_cast<std::ptrdiff_t>(i));
      }
    }
    for (auto i : dropped) {
      width.erase(width.begin() + static_cast<std::ptrdiff_t>(i));
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
    check_stdout();
  }
}

} // namespace

Command setup_list(CLI::App& app, Globals& g)
{
  struct Options {
    std::string owner, label, role, expiring_within, created_before, used_from, unused_for;
    std::string state = "all";
    std::string format = "table";
  };
  auto* sub = app.add_subcommand("list", "List tokens (never their secrets)");
  auto o = std::make_shared<Options>();
  sub->add_option("--owner", o->owner, "Only this owner's tokens");
  sub->add_option("--label", o->label, "Only tokens with this label");
  sub->add_option("--role", o->role, "Only tokens with this role (or all)")->type_name("ROLE");
  sub->add_option("--state", o->state, "active, suspended, expired, revoked or all (default all)")
    ->check(CLI::IsMember({"active", "suspended", "expired", "revoked", "all"}));
  sub->add_option("--used-from", o->used_from,
                  "Only tokens one of whose last 5 client addresses is in CIDR")
    ->type_name("CIDR");
  sub->add_option("--expiring-within", o->expiring_within,
                  "Only active tokens that expire within DURATION")
    ->type_name("DURATION");
  sub->add_option("--created-before", o->created_before, "Only tokens created before TIME")
    ->type_name("TIME");
  sub->add_option("--unused-for", o->unused_for,
                  "Only active tokens not used (or, never used, created) for DURATION, least "
                  "recently used first")
    ->type_name("DURATION");
  add_format(*sub, g, o->format, {"table", "tsv", "json"});

  return {sub, [&g, o, sub] {
            tokenadm::ListFilter filter;
            if (sub->count("--owner") > 0) {
              filter.owner = o->owner;
            }
            if (sub->count("--label") > 0) {
              filter.label = o->label;
            }
            if (!o->role.empty()) {
              filter.role = o->role;
            }
            if (!o->expiring_within.empty()) {
              filter.expiring_within =
                tokenadm::parse_duration(o->expiring_within, "--expiring-within");
            }
            if (sub->count("--unused-for") > 0) {
              filter.unused_for = tokenadm::parse_duration(o->unused_for, "--unused-for");
            }
            if (!o->created_before.empty()) {
              filter.created_before = o->created_before;
            }
            filter.state = o->state;
            if (!o->used_from.empty()) {
              filter.used_from = tokenadm::parse_cidr(o->used_from, "--used-from");
            }
            auto db = connect(g);
            if (o->format == "tsv") {
              tokenadm::list_tokens(*db, filter, [](const tokenadm::TokenInfo& t) {
                std::cout << t.id << '\t' << cell(t.owner) << '\t' << cell(t.label) << '\t'
                          << tokenadm::join(t.roles, ",") << '\t' << t.state << '\t' << t.created_at << '\t'
                          << t.expires_at.value_or("") << '\t' << t.last_used_at.value_or("")
                          << '\n';
                check_stdout();
              });
            } else if (o->format == "json") {
              // "[" only once a row (or the end) shows the query worked, so
              // a failure prints one {"error": ...} document and nothing else.
              bool first = true;
              tokenadm::list_tokens(*db, filter, [&first](const tokenadm::TokenInfo& t) {
                std::cout << (first ? "[" : ",") << token_json(t).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
                check_stdout();
                first = false;
              });
              std::cout << (first ? "[]\n" : "]\n");
            } else {
              // The table needs every row for its column widths; tsv and
              // json stream.
              std::vector<std::vector<std::string>> rows{
                {"ID", "OWNER", "LABEL", "ROLES", "STATE", "CREATED", "EXPIRES", "LAST-USED"}};
              tokenadm::list_tokens(*db, filter, [&rows](const tokenadm::TokenInfo& t) {
                rows.push_back(table_row(t));
              });
              // On a narrow terminal CREATED goes first, then LAST-USED.
              print_table(std::move(rows), {1, 2}, {5, 7});
            }
            std::cout << std::flush;
            return 0;
          }};
}

Command setup_show(CLI::App& app, Globals& g)
{
  struct Options {
    std::string id;
    std::string format = "text";
  };
  auto* sub = app.add_subcommand("show", "Show one token's details (never its secret)");
  auto o = std::make_shared<Options>();
  sub->add_option("id", o->id, "Token ID")->required()->type_name("ID");
  add_format(*sub, g, o->format, {"text", "json"});
  return {sub, [&g, o] {
            take_id(o->id);
            set_subject(o->id);
            auto db = connect(g);
            const auto t = tokenadm::show_token(*db, o->id);
            if (o->format == "json") {
              std::cout << token_json(t).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
            } else {
              print_details(t);
            }
            return 0;
          }};
}

} // namespace tokencli
