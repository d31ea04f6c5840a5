#include "common.hpp"
#include "table.hpp"
#include "usage.hpp"

#include <tokenadm/address.hpp>
#include <tokenadm/duration.hpp>
#include <tokenadm/errors.hpp>
#include <tokenadm/text.hpp>

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

// kubeadm's TTL: the time left in its largest whole unit.
std::string ttl(const tokenadm::TokenInfo& t)
{
  if (t.state == "revoked") {
    return "-";
  }
  if (!t.expires_at) {
    return "never";
  }
  const auto s = t.ttl_seconds.value_or(0);
  if (s <= 0) {
    return "expired";
  }
  if (s >= 86400) {
    return std::to_string(s / 86400) + "d";
  }
  if (s >= 3600) {
    return std::to_string(s / 3600) + "h";
  }
  if (s >= 60) {
    return std::to_string(s / 60) + "m";
  }
  return std::to_string(s) + "s";
}

// stdout for a listing: rows gather in one buffer written 64 KB at a time,
// not a field at a time.
class ListOut {
public:
  std::string& buf() { return m_buf; }
  void row_done()
  {
    if (m_buf.size() >= 1 << 16) {
      flush();
    }
  }
  void flush()
  {
    std::cout.write(m_buf.data(), static_cast<std::streamsize>(m_buf.size()));
    m_buf.clear();
    check_stdout();
  }
  // On the way out after a failure: what was listed so far, as unbuffered
  // output would have shown it, with no error of its own.
  void flush_quietly() noexcept
  {
    try {
      std::cout.write(m_buf.data(), static_cast<std::streamsize>(m_buf.size()));
    } catch (...) {
    }
    m_buf.clear();
  }

private:
  std::string m_buf;
};

// Runs list_tokens with `format_row` appending each row to one buffer.
template<typename F>
void list_buffered(tokenadm::Db& db, const tokenadm::ListFilter& filter, ListOut& out,
                   F&& format_row)
{
  try {
    tokenadm::list_tokens(db, filter, [&](const tokenadm::TokenInfo& t) {
      format_row(out.buf(), t);
      out.row_done();
    });
  } catch (...) {
    out.flush_quietly();
    throw;
  }
  out.flush();
}

// tsv's cell() appended to `out`.
void append_cell(std::string& out, const std::string& s)
{
  const auto from = out.size();
  out += s;
  for (auto i = from; i < out.size(); ++i) {
    if (out[i] == '\t' || out[i] == '\n' || out[i] == '\r') {
      out[i] = ' ';
    }
  }
}

void append_joined(std::string& out, const std::vector<std::string>& items, char sep)
{
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) {
      out += sep;
    }
    out += items[i];
  }
}

void tsv_row(std::string& out, const tokenadm::TokenInfo& t)
{
  out += t.id;
  out += '\t';
  append_cell(out, t.owner);
  out += '\t';
  append_cell(out, t.label);
  out += '\t';
  append_joined(out, t.roles, ',');
  out += '\t';
  out += t.state;
  out += '\t';
  out += t.created_at;
  out += '\t';
  out += t.expires_at.value_or("");
  out += '\t';
  out += t.last_used_at.value_or("");
  out += '\n';
}

// A JSON string as nlohmann's dump (-1, ' ', false, replace) writes it:
// plain ASCII as it is, anything else through nlohmann itself.
void json_string(std::string& out, const std::string& s)
{
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x80 || c == '"' || c == '\\') {
      out += nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      return;
    }
  }
  out += '"';
  out += s;
  out += '"';
}

void json_opt(std::string& out, const std::optional<std::string>& s)
{
  if (s) {
    json_string(out, *s);
  } else {
    out += "null";
  }
}

void json_strings(std::string& out, const std::vector<std::string>& items)
{
  out += '[';
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) {
      out += ',';
    }
    json_string(out, items[i]);
  }
  out += ']';
}

// token_json(t) dumped as list prints it, byte for byte, without building
// the document: its keys in nlohmann's (sorted) order. Rows with metadata
// or client addresses take nlohmann's own path.
void json_row(std::string& out, const tokenadm::TokenInfo& t)
{
  if (!t.meta.empty() || !t.used_from.empty()) {
    out += token_json(t).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return;
  }
  out += "{\"allow_from\":";
  if (t.allow_from.empty()) {
    out += "null";
  } else {
    json_strings(out, t.allow_from);
  }
  out += ",\"contact\":";
  json_opt(out, t.contact);
  out += ",\"created_at\":";
  json_string(out, t.created_at);
  out += ",\"created_by\":";
  json_string(out, t.created_by);
  out += ",\"expires_at\":";
  json_opt(out, t.expires_at);
  out += ",\"id\":";
  json_string(out, t.id);
  out += ",\"label\":";
  json_string(out, t.label);
  out += ",\"last_used_at\":";
  json_opt(out, t.last_used_at);
  out += ",\"max_uses\":";
  out += t.max_uses ? std::to_string(*t.max_uses) : "null";
  out += ",\"meta\":{},\"owner\":";
  json_string(out, t.owner);
  out += ",\"remaining_uses\":";
  out += t.max_uses ? std::to_string(std::max<std::int64_t>(0, *t.max_uses - t.uses)) : "null";
  out += ",\"replaced_by\":";
  json_opt(out, t.replaced_by);
  out += ",\"revoke_reason\":";
  json_opt(out, t.revoke_reason);
  out += ",\"revoked_at\":";
  json_opt(out, t.revoked_at);
  out += ",\"revoked_by\":";
  json_opt(out, t.revoked_by);
  out += ",\"roles\":";
  json_strings(out, t.roles);
  out += ",\"scopes\":";
  json_strings(out, t.scopes);
  out += ",\"state\":";
  json_string(out, t.state);
  out += ",\"suspend_reason\":";
  json_opt(out, t.suspend_reason);
  out += ",\"suspended_at\":";
  json_opt(out, t.suspended_at);
  out += ",\"suspended_by\":";
  json_opt(out, t.suspended_by);
  out += ",\"used_from\":[],\"uses\":";
  out += std::to_string(t.uses);
  out += '}';
}

std::vector<std::string> table_row(const tokenadm::TokenInfo& t)
{
  return {t.id,
          cell(t.owner),
          cell(t.label),
          tokenadm::join(t.roles, ","),
          t.state,
          ttl(t),
          t.created_at,
          t.expires_at.value_or("never"),
          t.last_used_at.value_or("-")};
}

} // namespace

Command setup_list(CLI::App& app, Globals& g)
{
  struct Options {
    std::string owner, label, role, expiring_within, created_before, used_from, unused_for;
    std::string state = "all";
    std::string format = "table";
    std::string sort;
    std::int64_t limit = 0;
    bool no_headers = false;
  };
  auto* sub = app.add_subcommand("list", "List tokens (never their secrets)");
  auto o = std::make_shared<Options>();
  sub->add_option("--owner", o->owner, "Only this owner's tokens");
  sub->add_option("--label", o->label, "Only tokens with this label");
  sub->add_option("--role", o->role, "Only tokens with this role (or all)")->type_name("ROLE");
  sub->add_option("--state", o->state, "active, suspended, expired, revoked or all (default all)")
    ->check(one_of({"active", "suspended", "expired", "revoked", "all"}));
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
  sub->add_option("--sort", o->sort,
                  "Order by " + tokenadm::join(tokenadm::k_list_sorts, ", ")
                    + " (default created; owner and label naturally: label2 before label10)")
    ->check(one_of(tokenadm::k_list_sorts));
  sub->add_option("--limit", o->limit, "At most N rows")
    ->type_name("N")
    ->check(in_range(1, 1000000000));
  sub->add_flag("--no-headers", o->no_headers, "No header line in a table (tsv has none)");
  add_format(*sub, g, o->format, {"table", "tsv", "json"});

  return {sub, [&g, o, sub] {
            tokenadm::ListFilter filter;
            filter.sort = o->sort;
            if (sub->count("--limit") > 0) {
              filter.limit = o->limit;
            }
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
              ListOut out;
              list_buffered(*db, filter, out, tsv_row);
            } else if (o->format == "json") {
              // "[" only once a row (or the end) shows the query worked, so
              // a failure prints one {"error": ...} document and nothing else.
              ListOut out;
              bool first = true;
              list_buffered(*db, filter, out, [&first](std::string& buf, const tokenadm::TokenInfo& t) {
                buf += first ? '[' : ',';
                first = false;
                json_row(buf, t);
              });
              std::cout << (first ? "[]\n" : "]\n");
            } else {
              // Widths from the first 100 rows: the table streams as tsv
              // does. On a narrow terminal CREATED goes first, then
              // LAST-USED, then EXPIRES (TTL says it in short).
              Table table({"ID", "OWNER", "LABEL", "ROLES", "STATE", "TTL", "CREATED", "EXPIRES",
                           "LAST-USED"},
                          {1, 2}, {6, 8, 7}, !o->no_headers);
              tokenadm::list_tokens(*db, filter,
                                    [&table](const tokenadm::TokenInfo& t) { table.add(table_row(t)); });
              table.finish();
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
