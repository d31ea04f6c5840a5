// Cancelling a running statement from outside the thread that runs it.
#pragma once

#include <tokenadm/db.hpp>

namespace tokenadm {

// Asks the server to cancel the statement `db` is running (libpq's cancel
// request, on its own socket). Safe to call from another thread while the
// owning thread waits on a statement; a no-op when nothing runs. The
// interrupted statement then fails and its transaction is rolled back.
// Returns false when the request could not be sent.
bool cancel_statement(Db& db) noexcept;

} // namespace tokenadm
