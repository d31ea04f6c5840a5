#include "tokenadm/verifier.hpp"

#include "tokenadm/config.hpp"
#include "tokenadm/db.hpp"
#include "tokenadm/digest.hpp"
#include "tokenadm/dsn.hpp"
#include "tokenadm/errors.hpp"
#include "tokenadm/store.hpp"

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <utility>

namespace tokenadm {

struct Verifier::Impl {
  Impl(std::string dsn_, int timeout, VerifierOptions options_, Hasher hasher_)
    : dsn(std::move(dsn_)), connect_timeout(timeout), options(std::move(options_)),
      hasher(std::move(hasher_))
  {
    options.pool_size = std::max<std::size_t>(options.pool_size, 1);
    // Only to refuse a DSN that can never work now rather than on every call.
    (void)normalise_dsn(dsn, connect_timeout);
  }

  struct Lease {
    std::unique_ptr<Db> db;
    bool reused = false; // came from the pool rather than just opened
  };

  // An idle connection, else a new one if fewer than pool_size are open,
  // else waits. Throws ConnectError when a new one cannot be opened.
  Lease acquire()
  {
    std::unique_lock lock(mutex);
    freed.wait(lock, [&] { return !idle.empty() || open < options.pool_size; });
    if (!idle.empty()) {
      Lease lease{std::move(idle.back()), true};
      idle.pop_back();
      return lease;
    }
    ++open; // reserved while connecting, which happens outside the lock
    lock.unlock();
    try {
      return Lease{std::make_unique<Db>(dsn, connect_timeout), false};
    } catch (...) {
      discard(false);
      throw;
    }
  }

  void release(std::unique_ptr<Db> db)
  {
    {
      const std::lock_guard lock(mutex);
      idle.push_back(std::move(db));
    }
    freed.notify_one();
  }

  // A leased connection was closed. With `drop_idle` (the connection was
  // lost, so the server probably went away), the idle ones are closed too.
  void discard(bool drop_idle)
  {
    std::vector<std::unique_ptr<Db>> closing;
    {
      const std::lock_guard lock(mutex);
      --open;
      if (drop_idle) {
        open -= idle.size();
        closing.swap(idle);
      }
    }
    freed.notify_all();
  }

  const std::string dsn;
  const int connect_timeout;
  VerifierOptions options;
  const Hasher hasher;

  std::mutex mutex;
  std::condition_variable freed;
  std::vector<std::unique_ptr<Db>> idle;
  std::size_t open = 0; // idle + leased + being opened
};

Verifier::Verifier(const std::string& dsn, VerifierOptions options)
  : m_impl(std::make_unique<Impl>(dsn, options.connect_timeout.value_or(k_default_connect_timeout),
                                  options, Hasher{}))
{
}

Verifier::Verifier(const std::string& dsn, int connect_timeout)
  : Verifier(dsn, VerifierOptions{.connect_timeout = connect_timeout})
{
}

Verifier::Verifier(const Config& config, VerifierOptions options)
{
  if (config.read_only) {
    options.touch = false;
    options.audit = false;
  }
  m_impl = std::make_unique<Impl>(resolve_dsn({}, {}, config.dsn),
                                  options.connect_timeout.value_or(config.connect_timeout),
                                  options, Hasher(config));
}

Verifier::~Verifier() = default;
Verifier::Verifier(Verifier&&) noexcept = default;
Verifier& Verifier::operator=(Verifier&&) noexcept = default;

VerifyResult Verifier::verify(const std::string& token, std::optional<std::string> role,
                              std::optional<std::string> scope)
{
  VerifyResult r;
  try {
    // Offline first: a malformed token never waits for a connection.
    precheck_token(token);
    const VerifyRequest req{std::move(role), std::move(scope), m_impl->options.touch,
                            m_impl->options.audit};
    for (int attempt = 0;; ++attempt) {
      auto lease = m_impl->acquire();
      try {
        const auto v = verify_token(*lease.db, token, req, m_impl->hasher);
        if (m_impl->options.fetch_roles) {
          r.roles = show_token(*lease.db, v.id).roles;
        } else if (req.role) {
          r.roles = {*req.role};
        }
        r.id = v.id;
        r.owner = v.owner;
        r.ok = true;
        m_impl->release(std::move(lease.db));
        return r;
      } catch (const TokenRejected&) {
        m_impl->release(std::move(lease.db));
        throw;
      } catch (const DbError& e) {
        const bool lost = e.code() == "unavailable";
        m_impl->discard(lost);
        // A pooled connection that died while idle says nothing about the
        // server now: one more try, on a new connection.
        if (lost && lease.reused && attempt == 0) {
          continue;
        }
        throw;
      } catch (...) {
        m_impl->discard(false);
        throw;
      }
    }
  } catch (const TokenRejected& e) {
    // Messages are safe by contract (errors.hpp); redacting is insurance.
    r.reason = e.reason();
    r.message = redact_tokens(e.what());
  } catch (const ConnectError& e) {
    r.reason = "unavailable";
    r.message = redact_tokens(e.what());
  } catch (const DbError& e) {
    r.reason = e.code() == "unavailable" || e.code() == "schema" ? e.code() : "error";
    r.message = redact_tokens(e.what());
  } catch (const std::exception& e) {
    r.reason = "error";
    r.message = redact_tokens(e.what());
  }
  r.ok = false;
  r.id.clear();
  r.owner.clear();
  r.roles.clear();
  return r;
}

} // namespace tokenadm
