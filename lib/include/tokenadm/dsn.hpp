// Turning what the admin gave us into something libpq accepts.
#pragma once

#include <string>

namespace tokenadm {

inline constexpr int k_default_connect_timeout = 10;

// Normalises a DSN into libpq key=value form: URIs, including SQLAlchemy
// URLs (postgresql+psycopg2://), are parsed by libpq and rebuilt, and
// connect_timeout (10 s by default) is added unless the DSN or
// PGCONNECT_TIMEOUT sets one. An empty DSN leaves everything else to libpq's defaults (PG*
// variables, ~/.pgpass, services).
// Throws ConnectError with a hint for unknown schemes (posgres://) and for
// strings libpq cannot parse; the message never contains the DSN's password.
std::string normalise_dsn(const std::string& dsn,
                          int connect_timeout = k_default_connect_timeout);

// True if the DSN carries a password (so a file holding it is a secret).
bool dsn_has_password(const std::string& dsn);

// The DSN with its password replaced by "***", for display.
std::string mask_dsn(const std::string& dsn);

// The DSN to use, first found wins: `flag` (--dsn), `positional` (the
// gs-compatible `token create DSN`), $TOKENADM_DSN, `from_config`; empty
// means libpq's own defaults (PG* variables, ~/.pgpass, PGSERVICE).
std::string resolve_dsn(const std::string& flag, const std::string& positional,
                        const std::string& from_config = {});

// `message` with every occurrence of the password in `dsn` (and of the
// password in PGPASSWORD) masked, cut to its first line.
std::string scrub_message(const std::string& message, const std::string& dsn);

} // namespace tokenadm
