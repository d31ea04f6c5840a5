#include "db_impl.hpp"

#include "tokenadm/digest.hpp"
#include "tokenadm/dsn.hpp"

namespace tokenadm {

Db::Db(const std::string& dsn, int connect_timeout)
{
  const auto conninfo = normalise_dsn(dsn, connect_timeout);
  try {
    m_impl = std::make_unique<Impl>(conninfo);
  } catch (const pqxx::failure& e) {
    // Masked as given too: a URI's user:password part is wider than what
    // libpq took for the password when it holds an unencoded '@'.
    throw ConnectError("cannot connect to the database: "
                       + scrub_message(scrub_message(e.what(), conninfo), dsn));
  }
}

Db::~Db() = default;

std::string first_line_scrubbed(Db& db, const std::string& message)
{
  auto msg = scrub_message(message, db.impl().dsn);
  if (msg.rfind("ERROR:  ", 0) == 0) {
    msg.erase(0, 8);
  }
  return msg;
}

bool direct_session(Db& db, pqxx::transaction_base& tx)
{
  PGconn* const raw = db.impl().conn.raw();
  const char* port = raw != nullptr ? PQport(raw) : nullptr;
  const char* addr = raw != nullptr ? PQhostaddr(raw) : nullptr;
  return port != nullptr && addr != nullptr
         && tx.exec_params("select current_setting('port') = $1"
                           " and inet_server_addr() is not distinct from nullif($2, '')::inet",
                           std::string(port), std::string(addr))[0][0]
              .as<bool>();
}

std::string server_endpoint(Db& db)
{
  PGconn* const raw = db.impl().conn.raw();
  if (raw == nullptr || PQstatus(raw) != CONNECTION_OK) {
    return {};
  }
  const auto text = [](const char* s) { return std::string(s == nullptr ? "" : s); };
  // in_hot_standby: reported by PostgreSQL 14 and later, at no cost.
  return text(PQhost(raw)) + " " + text(PQhostaddr(raw)) + " " + text(PQport(raw)) + " "
         + text(PQparameterStatus(raw, "in_hot_standby"));
}

pqxx::result exec_reused(Db& db, pqxx::nontransaction& tx, const std::string& sql,
                         const std::string& arg)
{
  auto& im = db.impl();
  PGconn* const raw = im.conn.raw();
  const std::pair<unsigned long, int> session{im.conn.session(),
                                              raw != nullptr ? PQbackendPID(raw) : 0};
  if (im.session != session) {
    const bool direct = direct_session(db, tx);
    im.prepared.clear();
    im.direct = direct;
    im.session = session;
  }
  if (im.direct) {
    const auto name = "tokenadm_" + sha256_hex(sql).substr(0, 16);
    try {
      if (im.prepared.count(name) == 0) {
        tx.exec("prepare " + name + " as " + sql);
        im.prepared.insert(name);
      }
      return tx.exec("execute " + name + "(" + tx.quote(arg) + ")");
    } catch (const pqxx::sql_error& e) {
      // 26000: missing; 42P05: already there; 0A000: its result's shape
      // changed under it (the schema was upgraded meanwhile).
      const auto& state = e.sqlstate();
      if (state != "26000" && state != "42P05" && state != "0A000") {
        throw;
      }
      im.direct = false;
    }
  }
  return tx.exec_params(sql, arg);
}

std::string iso(const std::string& expr)
{
  return "to_char(" + expr + " at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')";
}

} // namespace tokenadm

#include "tokenadm/cancel.hpp"

namespace tokenadm {

bool cancel_statement(Db& db) noexcept
{
  try {
    db.impl().conn.cancel_query();
    return true;
  } catch (...) {
    return false;
  }
}

} // namespace tokenadm
