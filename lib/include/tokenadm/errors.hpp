// The few error types of tokenadm. Every message is safe to print: it never
// holds a password, a token secret or an unfiltered libpq message.
#pragma once

#include <stdexcept>
#include <string>

namespace tokenadm {

// Base of every tokenadm error. code() is a short machine word used in JSON
// output ("usage", "connect", "revoked", ...).
class Error : public std::runtime_error {
public:
  Error(std::string code, const std::string& message)
    : std::runtime_error(message), m_code(std::move(code))
  {
  }
  const std::string& code() const noexcept { return m_code; }
  // The process exit status this error maps to (SPEC: 1 connect, 2 other).
  virtual int exit_code() const noexcept { return 2; }

private:
  std::string m_code;
};

// The initial connection could not be made: DSN not understood, server not
// reachable, authentication/TLS failed, connect timeout. Exit status 1.
class ConnectError : public Error {
public:
  explicit ConnectError(const std::string& message) : Error("connect", message) {}
  int exit_code() const noexcept override { return 1; }
};

class UsageError : public Error {
public:
  explicit UsageError(const std::string& message) : Error("usage", message) {}
};

class ConfigError : public Error {
public:
  explicit ConfigError(const std::string& message) : Error("config", message) {}
};

// Anything the database said after the connection was made.
class DbError : public Error {
public:
  explicit DbError(const std::string& message, std::string code = "database")
    : Error(std::move(code), message)
  {
  }
};

// The connection was lost during a commit, whose outcome is unknown: code
// "unavailable", but never retried, as it may have been applied (a use
// counted twice).
class InDoubtError : public DbError {
public:
  explicit InDoubtError(const std::string& message) : DbError(message, "unavailable") {}
};

class NotFound : public Error {
public:
  explicit NotFound(const std::string& message) : Error("not_found", message) {}
};

// A token failed verification. reason() is one of: malformed checksum unknown
// revoked expired forbidden.
class TokenRejected : public Error {
public:
  TokenRejected(const std::string& reason, const std::string& detail)
    : Error(reason, reason + ": " + detail)
  {
  }
  const std::string& reason() const noexcept { return code(); }
};

// Replaces anything shaped like a tokenadm token in `text` with
// "<redacted>", so that no error path can echo a secret by accident.
std::string redact_tokens(const std::string& text);

} // namespace tokenadm
