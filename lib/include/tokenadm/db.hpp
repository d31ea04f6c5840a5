// A connection to the tokenadm database. Nothing outside db/store sees
// libpqxx: its exceptions become ConnectError (exit 1) or DbError (exit 2).
#pragma once

#include <memory>
#include <string>

namespace tokenadm {

class Db {
public:
  // Connects to `dsn` (see normalise_dsn; empty means libpq's defaults).
  // Throws ConnectError with a message that never holds the password.
  explicit Db(const std::string& dsn, int connect_timeout = 10);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  struct Impl;
  Impl& impl() { return *m_impl; }

private:
  std::unique_ptr<Impl> m_impl;
};

} // namespace tokenadm
