// Private to db.cpp/store_*.cpp/schema.cpp: the only place libpqxx is seen.
#pragma once

#include "tokenadm/db.hpp"
#include "tokenadm/errors.hpp"
#include "tokenadm/identity.hpp"

#include <libpq-fe.h>
#include <pqxx/pqxx>

#include <chrono>
#include <optional>
#include <set>
#include <utility>
#include <string>
#include <string_view>

namespace tokenadm {

// pqxx::connection (libpqxx 6.4's basic_connection_base<connect_direct>)
// that also hands out its PGconn: libpqxx 6.4 has no streamed COPY TO
// STDOUT nor single-row mode, so the paths that need them (list) use libpq
// directly on this same connection, between libpqxx's statements. The
// policy sees every handle the connection gets or drops.
class Connection : public pqxx::connection_base {
public:
  explicit Connection(const std::string& options)
    : connection_base(m_policy), m_options(options), m_policy(m_options)
  {
    init();
  }
  ~Connection() noexcept { close(); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Null while the connection is closed.
  PGconn* raw() const noexcept { return m_policy.m_handle; }
  // Counts the handles the connection has had: a new one is a new session
  // (even should libpq's new handle have the old one's address).
  unsigned long session() const noexcept { return m_policy.m_sessions; }

private:
  struct Policy : pqxx::connect_direct {
    using connect_direct::connect_direct;
    handle do_startconnect(handle h) override { return keep(connect_direct::do_startconnect(h)); }
    handle do_completeconnect(handle h) override
    {
      return keep(connect_direct::do_completeconnect(h));
    }
    handle do_dropconnect(handle h) noexcept override
    {
      return keep(connect_direct::do_dropconnect(h));
    }
    handle do_disconnect(handle h) noexcept override
    {
      return keep(connect_direct::do_disconnect(h));
    }
    handle keep(handle h) noexcept
    {
      if (h != m_handle) {
        ++m_sessions;
      }
      return m_handle = h;
    }
    PGconn* m_handle = nullptr;
    unsigned long m_sessions = 0;
  };
  std::string m_options; // must be initialised before m_policy
  Policy m_policy;
};

struct Db::Impl {
  explicit Impl(const std::string& conninfo) : conn(conninfo), dsn(conninfo) {}
  Connection conn;
  std::string dsn; // for scrubbing messages

  // The server refused a write (a hot standby, or default_transaction_read_only):
  // for a minute, optional writes are skipped without asking again. Then
  // they are tried once more: a standby may have been promoted meanwhile.
  bool read_only_now() const { return std::chrono::steady_clock::now() < read_only_until; }
  void saw_read_only() { read_only_until = std::chrono::steady_clock::now() + std::chrono::minutes(1); }
  std::chrono::steady_clock::time_point read_only_until{};

  // The session the statements in `prepared` live in (see exec_reused):
  // Connection::session and the backend's process id (PQreset keeps the
  // handle).
  std::pair<unsigned long, int> session{0, 0};
  bool direct = false; // the session is with PostgreSQL itself, not a pooler
  std::set<std::string> prepared;
};

// SQLSTATE 25006, read_only_sql_transaction: what a hot standby answers to
// any write.
inline bool is_read_only_error(const pqxx::sql_error& e)
{
  return e.sqlstate() == "25006";
}

std::string first_line_scrubbed(Db& db, const std::string& message);

// The schema's version, as every statement reads it: an immutable function
// that token init defines (schema.cpp, migration 7), folded by the planner
// into a constant.
inline const std::string k_version_sql = "tokenadm.schema_version_now()";

// Runs `f`, turning libpqxx exceptions into DbError with a safe message.
// Undefined schema/table becomes DbError("schema") telling the admin to run
// token init.
template<typename F>
auto guarded(Db& db, F&& f) -> decltype(f())
{
  try {
    return f();
  } catch (const pqxx::sql_error& e) {
    const auto& state = e.sqlstate();
    if (state == "42703") {
      throw DbError("the tokenadm schema is out of date: run token init", "schema");
    }
    if (state.rfind("22", 0) == 0) {
      // Data exceptions come from values the user typed (a timestamp, say).
      throw UsageError("invalid value: " + first_line_scrubbed(db, e.what()));
    }
    if (state == "42883" && std::string_view(e.what()).find("schema_version_now") != std::string_view::npos) {
      // A schema from before version 7 (see k_version_sql).
      throw DbError("the tokenadm schema is older than this token needs: run token init", "schema");
    }
    if (state == "3F000" || state == "42P01") {
      throw DbError("the tokenadm schema is missing from this database: run token init",
                    "schema");
    }
    throw DbError("database error: " + first_line_scrubbed(db, e.what()));
  } catch (const pqxx::broken_connection& e) {
    throw DbError("lost the connection to the database: " + first_line_scrubbed(db, e.what()),
                  "unavailable");
  } catch (const pqxx::in_doubt_error& e) {
    throw InDoubtError("the connection was lost during a commit; the outcome is unknown: "
                       + first_line_scrubbed(db, e.what()));
  } catch (const pqxx::failure& e) {
    throw DbError("database error: " + first_line_scrubbed(db, e.what()));
  }
}

// Runs `f`, a write that is worth doing but not worth failing for (the
// bookkeeping of a verify: last_used_at, audit rows), through guarded().
// On a read-only server it is skipped; see Impl::read_only_now.
template<typename F>
void optional_write(Db& db, F&& f)
{
  if (db.impl().read_only_now()) {
    return;
  }
  guarded(db, [&] {
    try {
      f();
    } catch (const pqxx::sql_error& e) {
      if (!is_read_only_error(e)) {
        throw;
      }
      db.impl().saw_read_only();
    }
  });
}

// record_verify_failure (tokenadm/audit.hpp) in the caller's transaction:
// a verify whose write counted uses records its failures in the same one.
void record_verify_failure(pqxx::transaction_base& tx, const std::string& reason,
                           const std::optional<std::string>& token_id, const Actor& actor,
                           int count);

// Is the session with PostgreSQL itself, not with a pooler such as
// pgbouncer (which in transaction mode hands each transaction to any
// server connection)? It is when the server sees the address and port it
// was reached at (its own `port` setting, and inet_server_addr() the
// address connected to, or both a Unix socket); through a pooler or any
// proxy they differ.
bool direct_session(Db& db, pqxx::transaction_base& tx);

// The server the session is with, of those a multi-host DSN names: its
// host (or socket directory), address and port as libpq connected to them.
// Empty without a connection.
std::string server_endpoint(Db& db);

// Runs `sql`, a statement whose one parameter $1 is `arg`, prepared once a
// session: PostgreSQL then plans it once, not at every run (planning is
// half a small lookup's server time). Only with PostgreSQL itself (see
// direct_session): a pooler must not be left named statements. Should one
// pass as direct anyway, a statement missing from (or already on) the
// server connection, or one whose result changed shape under it, sends the
// session back to unprepared statements. Statements
// are named by a digest of their text: a name found prepared is the same
// text. `arg` (the ids looked up) is public: it shows in the server's view
// of the statement.
pqxx::result exec_reused(Db& db, pqxx::nontransaction& tx, const std::string& sql,
                         const std::string& arg);

// SQL that renders a timestamptz column as ISO 8601 UTC text.
std::string iso(const std::string& expr);

} // namespace tokenadm
