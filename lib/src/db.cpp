#include "db_impl.hpp"

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
