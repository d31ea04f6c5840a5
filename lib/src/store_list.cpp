// Listing and showing tokens, and the expiry notification queries.
#include "store_impl.hpp"

#include "tokenadm/address.hpp"
#include "tokenadm/audit.hpp"
#include "tokenadm/cancel.hpp"
#include "tokenadm/duration.hpp"
#include "tokenadm/schema.hpp"
#include "tokenadm/text.hpp"
#include "tokenadm/token.hpp"

#include <algorithm>
#include <charconv>
#include <memory>

namespace tokenadm {

using namespace detail;

namespace {

// One row of COPY ... TO STDOUT in text format, split into its fields and
// unescaped in place; a null field (\N) has a null pointer.
struct CopyRow {
  static constexpr std::size_t k_max = 32;
  std::string_view field[k_max];
  std::size_t count = 0;
  bool null(std::size_t i) const { return field[i].data() == nullptr; }
  std::string_view operator[](std::size_t i) const { return field[i]; }
};

// Splits `line` (len bytes, its newline included or not) into `row`,
// undoing COPY's text escapes: \b \f \n \r \t \v and \ before any
// other byte stand for that byte.
void split_copy_row(char* line, std::size_t len, CopyRow& row)
{
  if (len > 0 && line[len - 1] == '\n') {
    --len;
  }
  row.count = 0;
  char* end = line + len;
  char* p = line;
  for (;;) {
    char* start = p;
    char* out = p;
    while (p < end && *p != '\t') {
      if (*p == '\\' && p + 1 < end) {
        const char e = p[1];
        p += 2;
        switch (e) {
        case 'b': *out++ = '\b'; break;
        case 'f': *out++ = '\f'; break;
        case 'n': *out++ = '\n'; break;
        case 'r': *out++ = '\r'; break;
        case 't': *out++ = '\t'; break;
        case 'v': *out++ = '\v'; break;
        case 'N':
          if (out == start && (p == end || *p == '\t')) {
            out = nullptr; // a null field
            break;
          }
          *out++ = e;
          break;
        default: *out++ = e; break;
        }
        if (out == nullptr) {
          break;
        }
      } else {
        *out++ = *p++;
      }
    }
    if (row.count < CopyRow::k_max) {
      row.field[row.count++] =
        out == nullptr ? std::string_view() : std::string_view(start, static_cast<std::size_t>(out - start));
    }
    if (p >= end) {
      break;
    }
    ++p; // the tab
  }
}

// Throws what libpqxx would have for a failed statement, for guarded().
[[noreturn]] void throw_failed(PGconn* c, PGresult* r, const std::string& query)
{
  std::string msg = r != nullptr ? PQresultErrorMessage(r) : "";
  if (msg.empty()) {
    msg = PQerrorMessage(c);
  }
  const char* state = r != nullptr ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  const std::string sqlstate = state != nullptr ? state : "";
  if (PQstatus(c) != CONNECTION_OK) {
    throw pqxx::broken_connection(msg);
  }
  throw pqxx::sql_error(msg, query, sqlstate.empty() ? nullptr : sqlstate.c_str());
}

// Runs `query`, a COPY ... TO STDOUT, on the connection libpqxx holds (inside
// its transaction), calling `each` for every row as it arrives: rows are
// never held, so memory stays flat. Errors are thrown as libpqxx's. When
// `each` throws, the COPY is cancelled and drained first, so the connection
// is left as libpqxx expects it.
template<typename F>
void copy_out(Db& db, const std::string& query, F&& each)
{
  PGconn* c = db.impl().conn.raw();
  if (c == nullptr) {
    throw pqxx::broken_connection("the connection is closed");
  }
  auto drain = [c] {
    while (PGresult* r = PQgetResult(c)) {
      PQclear(r);
    }
  };
  if (PQsendQuery(c, query.c_str()) == 0) {
    throw_failed(c, nullptr, query);
  }
  {
    std::unique_ptr<PGresult, decltype(&PQclear)> r(PQgetResult(c), &PQclear);
    if (PQresultStatus(r.get()) != PGRES_COPY_OUT) {
      drain();
      throw_failed(c, r.get(), query);
    }
  }
  CopyRow row;
  for (;;) {
    char* buf = nullptr;
    const int n = PQgetCopyData(c, &buf, 0);
    if (n < 0) {
      break;
    }
    std::unique_ptr<char, decltype(&PQfreemem)> owned(buf, &PQfreemem);
    split_copy_row(buf, static_cast<std::size_t>(n), row);
    try {
      each(row);
    } catch (...) {
      (void)cancel_statement(db);
      for (;;) {
        char* rest = nullptr;
        const int m = PQgetCopyData(c, &rest, 0);
        if (rest != nullptr) {
          PQfreemem(rest);
        }
        if (m < 0) {
          break;
        }
      }
      drain();
      throw;
    }
  }
  std::unique_ptr<PGresult, decltype(&PQclear)> r(PQgetResult(c), &PQclear);
  const bool ok = PQresultStatus(r.get()) == PGRES_COMMAND_OK;
  if (!ok) {
    drain();
    throw_failed(c, r.get(), query);
  }
  drain();
}

void set(std::string& s, std::string_view v) { s.assign(v.data(), v.size()); }

void set(std::optional<std::string>& s, std::string_view v)
{
  if (v.data() == nullptr) {
    s.reset();
  } else if (s) {
    s->assign(v.data(), v.size());
  } else {
    s.emplace(v);
  }
}

std::int64_t integer(std::string_view v)
{
  std::int64_t n = 0;
  std::from_chars(v.data(), v.data() + v.size(), n);
  return n;
}

// As split_words(v, ","), reusing `out`'s strings.
void split_commas(std::vector<std::string>& out, std::string_view v)
{
  std::size_t k = 0;
  std::size_t i = 0;
  while (i < v.size()) {
    const auto b = v.find_first_not_of(',', i);
    if (b == std::string_view::npos) {
      break;
    }
    auto e = v.find(',', b);
    if (e == std::string_view::npos) {
      e = v.size();
    }
    if (k < out.size()) {
      out[k].assign(v.data() + b, e - b);
    } else {
      out.emplace_back(v.substr(b, e - b));
    }
    ++k;
    i = e;
  }
  out.resize(k);
}

// A listed row (k_info_cols, then the seconds to expiry) into `t`, as
// read_info() does, reusing t's storage: a row costs few allocations.
void read_listed(const CopyRow& r, TokenInfo& t)
{
  if (r.count != 24) {
    throw pqxx::failure("list: a row of " + std::to_string(r.count) + " columns");
  }
  set(t.id, r[0]);
  set(t.owner, r[1]);
  set(t.label, r[2]);
  split_commas(t.roles, r[3]);
  t.scopes.clear();
  if (r[4] != "[]") {
    t.scopes = json::parse(r[4]).get<std::vector<std::string>>();
  }
  set(t.contact, r[5]);
  t.meta.clear();
  if (r[6] != "{}") {
    const auto meta = json::parse(r[6]);
    for (auto it = meta.cbegin(); it != meta.cend(); ++it) {
      t.meta.emplace_back(it.key(), it->is_string() ? it->get<std::string>() : it->dump());
    }
  }
  set(t.state, r[7]);
  set(t.created_at, r[8]);
  set(t.created_by, r[9]);
  set(t.expires_at, r[10]);
  set(t.last_used_at, r[11]);
  set(t.revoked_at, r[12]);
  set(t.revoked_by, r[13]);
  set(t.revoke_reason, r[14]);
  set(t.replaced_by, r[15]);
  split_commas(t.allow_from, r[16]);
  if (r.null(17)) {
    t.max_uses.reset();
  } else {
    t.max_uses = integer(r[17]);
  }
  t.uses = integer(r[18]);
  set(t.suspended_at, r[19]);
  set(t.suspended_by, r[20]);
  set(t.suspend_reason, r[21]);
  t.used_from.clear();
  if (r[22] != "[]") {
    for (const auto& e : json::parse(r[22])) {
      t.used_from.emplace_back(e.value("addr", ""), e.value("at", ""));
    }
  }
  if (r.null(23)) {
    t.ttl_seconds.reset();
  } else {
    t.ttl_seconds = integer(r[23]);
  }
}

} // namespace

void list_tokens(Db& db, const ListFilter& filter,
                 const std::function<void(const TokenInfo&)>& sink)
{
  if (filter.role && std::find(k_roles.begin(), k_roles.end(), *filter.role) == k_roles.end()) {
    throw UsageError("--role: unknown role '" + filter.role->substr(0, 32)
                     + "' (use api, feed, vcs, http or all)");
  }
  if (filter.used_from) {
    (void)parse_cidr(*filter.used_from, "--used-from");
  }
  if (filter.created_before) {
    check_time(*filter.created_before, "--created-before");
  }
  if (filter.limit && *filter.limit <= 0) {
    throw UsageError("--limit must be positive");
  }
  // Natural order: runs of digits compare as numbers (label2 < label10).
  auto natural = [](const std::string& col) {
    return "array(select case when m[1] ~ '^[0-9]' then lpad(m[1], 30, '0') else m[1] end"
           " from regexp_matches(" + col + ", '[0-9]+|[^0-9]+', 'g') as m)";
  };
  std::string order;
  if (filter.sort.empty()) {
    order = "case when $9::bigint is not null then coalesce(t.last_used_at, t.created_at) end,";
  } else if (filter.sort == "expires") {
    order = "t.expires_at nulls last,";
  } else if (filter.sort == "owner") {
    order = natural("t.owner") + ",";
  } else if (filter.sort == "label") {
    order = natural("t.label") + ",";
  } else if (filter.sort == "last-used") {
    order = "t.last_used_at nulls first,";
  } else if (filter.sort != "created") {
    throw UsageError("--sort: '" + filter.sort.substr(0, 32) + "' is not one of "
                     + join(k_list_sorts, ", "));
  }
  std::string sql =
    "copy (select * from (select " + k_info_cols
    + ", floor(extract(epoch from t.expires_at - now()))::bigint"
      " from tokenadm.tokens t where ($1::text is null or t.id = $1)"
      " and ($2::text is null or t.owner = $2) and ($3::text is null or t.label = $3)"
      " and ($4::text is null or $4 = any(t.roles) or 'all' = any(t.roles))"
      " and ($5::bigint is null or (t.expires_at <= now() + make_interval(secs => $5::bigint)"
      "  and " + k_active_sql + "))"
      " and ($6::timestamptz is null or t.created_at < $6::timestamptz)"
      " and ($8::cidr is null or exists (select 1 from jsonb_array_elements(t.used_from) e"
      "  where (e->>'addr')::inet <<= $8::cidr))"
      " and ($9::bigint is null or (" + k_active_sql + " and coalesce(t.last_used_at, t.created_at)"
      "  < now() - make_interval(secs => $9::bigint)))"
      " order by " + order + " t.created_at, t.id) s where $7 = 'all' or s.state = $7"
      " limit $10::bigint) to stdout";
  if (filter.unused_for && *filter.unused_for <= 0) {
    throw UsageError("--unused-for must be longer than 0");
  }
  const auto within = seconds_param(filter.expiring_within);
  const auto unused_for = seconds_param(filter.unused_for);
  guarded(db, [&] {
    pqxx::read_transaction tx(db.impl().conn);
    // COPY takes no parameters: the server checks and quotes each value
    // here, as a parameter of this statement (so a bad one fails as it
    // always has), and the literals go into the COPY, in this transaction
    // (so now() and 'now' are the same).
    const auto r = tx.exec_params(
      "select " + k_version_sql + ", quote_nullable($1::text), quote_nullable($2::text),"
      " quote_nullable($3::text), quote_nullable($4::text), quote_nullable($5::bigint),"
      " quote_nullable($6::text), quote_literal($7::text), quote_nullable($8::text),"
      " quote_nullable($9::bigint), quote_nullable($10::bigint), $6::timestamptz, $8::cidr",
      nullable(filter.id), nullable(filter.owner), nullable(filter.label), nullable(filter.role),
      nullable(within), nullable(filter.created_before), filter.state, nullable(filter.used_from),
      nullable(unused_for), nullable(seconds_param(filter.limit)));
    require_schema_version(version_of(r[0][0]));
    std::string copy;
    for (std::size_t i = 0; i < sql.size(); ++i) {
      if (sql[i] != '$') {
        copy += sql[i];
        continue;
      }
      std::size_t n = 0;
      while (i + 1 < sql.size() && sql[i + 1] >= '0' && sql[i + 1] <= '9') {
        n = n * 10 + static_cast<std::size_t>(sql[++i] - '0');
      }
      copy += r[0][static_cast<pqxx::row::size_type>(n)].c_str();
    }
    TokenInfo info;
    copy_out(db, copy, [&](CopyRow& row) {
      read_listed(row, info);
      sink(info);
    });
  });
}

TokenInfo show_token(Db& db, const std::string& id)
{
  if (!valid_id(id)) {
    throw NotFound(printable_id(id) + ": a token ID has 10 characters");
  }
  std::optional<TokenInfo> found;
  ListFilter f;
  f.id = id;
  list_tokens(db, f, [&](const TokenInfo& t) { found = t; });
  if (!found) {
    throw NotFound(id + ": no such token");
  }
  return *found;
}

std::vector<TokenInfo> expiring_unannounced(Db& db, std::int64_t within)
{
  return guarded(db, [&] {
    pqxx::nontransaction tx(db.impl().conn);
    require_schema_version(version_of(tx.exec("select " + k_version_sql)[0][0]));
    return query_infos(tx,
                       k_active_sql + " and t.expires_at <= now() + make_interval(secs => $1::bigint)"
                       " and t.notified_expiry is distinct from t.expires_at",
                       std::to_string(within));
  });
}

bool claim_announcement(Db& db, const std::string& id, const Actor& actor)
{
  return guarded(db, [&] {
    pqxx::nontransaction tx(db.impl().conn);
    const auto r = tx.exec_params(
      "with upd as (update tokenadm.tokens set notified_expiry = expires_at where id = $1"
      " and notified_expiry is distinct from expires_at returning id, owner, expires_at),"
      " aud as (insert into tokenadm.audit " + k_audit_cols +
      " select now(), 'notify', upd.id, upd.owner, $2, nullif($3, ''), $4, 'ok',"
      " 'expiring ' || " + iso("upd.expires_at") + " from upd)"
      " select count(*) from upd",
      id, actor.describe(), actor.sudo_user, actor.host);
    return r[0][0].as<int>() == 1;
  });
}

void release_announcement(Db& db, const std::string& id)
{
  guarded(db, [&] {
    pqxx::nontransaction tx(db.impl().conn);
    tx.exec_params("update tokenadm.tokens set notified_expiry = null where id = $1", id);
  });
}

} // namespace tokenadm
