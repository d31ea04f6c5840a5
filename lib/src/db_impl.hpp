// Private to db.cpp/store_*.cpp/schema.cpp: the only place libpqxx is seen.
#pragma once

#include "tokenadm/db.hpp"
#include "tokenadm/errors.hpp"

#include <pqxx/pqxx>

#include <string>

namespace tokenadm {

struct Db::Impl {
  explicit Impl(const std::string& conninfo) : conn(conninfo), dsn(conninfo) {}
  pqxx::connection conn;
  std::string dsn; // for scrubbing messages
};

std::string first_line_scrubbed(Db& db, const std::string& message);

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
    if (state == "3F000" || state == "42P01") {
      throw DbError("the tokenadm schema is missing from this database: run token init",
                    "schema");
    }
    throw DbError("database error: " + first_line_scrubbed(db, e.what()));
  } catch (const pqxx::broken_connection& e) {
    throw DbError("lost the connection to the database: " + first_line_scrubbed(db, e.what()),
                  "unavailable");
  } catch (const pqxx::in_doubt_error& e) {
    throw DbError("the connection was lost during a commit; the outcome is unknown: "
                    + first_line_scrubbed(db, e.what()),
                  "unavailable");
  } catch (const pqxx::failure& e) {
    throw DbError("database error: " + first_line_scrubbed(db, e.what()));
  }
}

// SQL that renders a timestamptz column as ISO 8601 UTC text.
std::string iso(const std::string& expr);

} // namespace tokenadm
