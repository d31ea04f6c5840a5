#include "tokenadm/verifier.hpp"

#include "db_impl.hpp"
#include "verifier_internals.hpp"

#include "tokenadm/config.hpp"
#include "tokenadm/db.hpp"
#include "tokenadm/digest.hpp"
#include "tokenadm/dsn.hpp"
#include "tokenadm/errors.hpp"
#include "tokenadm/schema.hpp"
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
    if (to_replace > 0) {
      --to_replace;
      ++reconnects;
    }
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
      ++to_replace;
      if (drop_idle) {
        open -= idle.size();
        to_replace += idle.size();
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
  std::size_t to_replace = 0; // connections dropped and not opened again yet
  unsigned long long reconnects = 0;

  // Runs fn(db) on a pooled connection. A pooled connection that turns out
  // to be lost is dropped (with the idle ones) and fn is tried once more on
  // a new one. Only database failures drop the connection.
  template <class Fn> auto with_connection(Fn&& fn)
  {
    for (int attempt = 0;; ++attempt) {
      auto lease = acquire();
      try {
        auto out = fn(*lease.db);
        release(std::move(lease.db));
        return out;
      } catch (const TokenRejected&) {
        release(std::move(lease.db));
        throw;
      } catch (const DbError& e) {
        const bool lost = e.code() == "unavailable";
        discard(lost);
        // A pooled connection that died while idle says nothing about the
        // server now: one more try, on a new connection. Not after a
        // commit that may have been applied.
        if (lost && lease.reused && attempt == 0 && dynamic_cast<const InDoubtError*>(&e) == nullptr) {
          continue;
        }
        throw;
      } catch (...) {
        // Not a database failure (a usage error, a bad allocation): the
        // connection is as healthy as it was.
        release(std::move(lease.db));
        throw;
      }
    }
  }
};

namespace {

// A failure (not a rejection) as a result's reason and message.
template <class Result> void set_failure(Result& r, std::exception_ptr ep)
{
  try {
    std::rethrow_exception(ep);
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
}

} // namespace

Verifier::Verifier(const std::string& dsn, VerifierOptions options)
  : m_impl(std::make_unique<Impl>(options.verify_dsn.empty() ? dsn : options.verify_dsn,
                                  options.connect_timeout.value_or(k_default_connect_timeout),
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
  const auto dsn =
    resolve_verify_dsn(options.verify_dsn, config,
                       {resolve_dsn(options.dsn.value_or(""), {}, config.dsn), "dsn"})
      .first;
  m_impl = std::make_unique<Impl>(dsn,
                                  options.connect_timeout.value_or(config.connect_timeout),
                                  options, Hasher(config));
}

Verifier::~Verifier() = default;
Verifier::Verifier(Verifier&&) noexcept = default;
Verifier& Verifier::operator=(Verifier&&) noexcept = default;

VerifyResult Verifier::verify(const std::string& token, std::optional<std::string> role,
                              std::optional<std::string> scope, std::optional<std::string> address)
{
  VerifyResult r;
  try {
    // Offline first: a malformed token never waits for a connection.
    precheck_token(token);
    const VerifyRequest req{std::move(role), std::move(scope), m_impl->options.touch,
                            m_impl->options.audit, std::move(address), false};
    // A request that can never succeed (an unknown role) takes no
    // connection, and so never waits for one.
    validate_verify_request(req);
    const auto v = m_impl->with_connection([&](Db& db) {
      // The roles as the verify's own lookup read them: no statement after
      // one that may have counted a use (a failure there would answer
      // error, and be retried, for a use already counted).
      auto verified = verify_token(db, token, req, m_impl->hasher);
      if (m_impl->options.fetch_roles) {
        r.roles = verified.roles;
      } else if (req.role) {
        r.roles = {*req.role};
      }
      return verified;
    });
    r.id = v.id;
    r.owner = v.owner;
    r.ok = true;
    return r;
  } catch (const TokenRejected& e) {
    // Messages are safe by contract (errors.hpp); redacting is insurance.
    r.reason = e.reason();
    r.message = redact_tokens(e.what());
  } catch (...) {
    set_failure(r, std::current_exception());
  }
  r.ok = false;
  r.id.clear();
  r.owner.clear();
  r.roles.clear();
  return r;
}

std::vector<VerifyResult> Verifier::verify_many(const std::vector<std::string>& tokens,
                                                std::optional<std::string> role,
                                                std::optional<std::string> scope,
                                                const std::vector<std::string>& addresses)
{
  return VerifierInternals::verify_many(*this, tokens, std::move(role), std::move(scope),
                                        addresses, nullptr);
}

std::vector<VerifyResult> VerifierInternals::verify_many(
  Verifier& v, const std::vector<std::string>& tokens, std::optional<std::string> role,
  std::optional<std::string> scope, const std::vector<std::string>& addresses,
  std::vector<double>* cacheable_for, std::string* endpoint)
{
  auto& m_impl = v.m_impl;
  std::vector<VerifyResult> out(tokens.size());
  if (cacheable_for != nullptr) {
    cacheable_for->assign(tokens.size(), 0.0);
  }
  if (!addresses.empty() && addresses.size() != tokens.size()) {
    throw UsageError("verify_many: one address per token, or none");
  }
  std::vector<std::string> query;
  std::vector<std::string> query_addresses;
  std::vector<std::size_t> slot;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    try {
      precheck_token(tokens[i]);
      query.push_back(tokens[i]);
      if (!addresses.empty()) {
        query_addresses.push_back(addresses[i]);
      }
      slot.push_back(i);
    } catch (const TokenRejected& e) {
      out[i].reason = e.reason();
      out[i].message = redact_tokens(e.what());
    }
  }
  if (query.empty()) {
    return out;
  }
  const VerifyRequest req{std::move(role), std::move(scope), m_impl->options.touch,
                          m_impl->options.audit, {}, cacheable_for != nullptr};
  try {
    const auto answers = m_impl->with_connection([&](Db& db) {
      auto a = verify_batch(db, query, req, m_impl->hasher, query_addresses);
      if (endpoint != nullptr) {
        *endpoint = server_endpoint(db);
      }
      return a;
    });
    for (std::size_t k = 0; k < answers.size(); ++k) {
      auto& r = out[slot[k]];
      r.ok = answers[k].ok;
      if (r.ok) {
        r.id = answers[k].id;
        r.owner = answers[k].owner;
        if (req.role) {
          r.roles = {*req.role};
        }
        if (cacheable_for != nullptr) {
          (*cacheable_for)[slot[k]] = answers[k].cacheable_for;
        }
      } else {
        r.reason = answers[k].reason;
        r.message = r.reason;
      }
    }
  } catch (...) {
    const auto ep = std::current_exception();
    for (const auto i : slot) {
      set_failure(out[i], ep);
    }
  }
  return out;
}

std::unique_ptr<Db> VerifierInternals::connect(const Verifier& v)
{
  return std::make_unique<Db>(v.m_impl->dsn, v.m_impl->connect_timeout);
}

Verifier::Health Verifier::check()
{
  Health h;
  try {
    h.schema_version = m_impl->with_connection([](Db& db) { return schema_version(db); });
    require_schema_version(h.schema_version);
    h.ok = true;
  } catch (...) {
    set_failure(h, std::current_exception());
  }
  return h;
}

Verifier::Stats Verifier::stats() const
{
  const std::lock_guard lock(m_impl->mutex);
  Stats s;
  s.idle = m_impl->idle.size();
  s.in_use = m_impl->open - s.idle;
  s.reconnects = m_impl->reconnects;
  return s;
}

} // namespace tokenadm
