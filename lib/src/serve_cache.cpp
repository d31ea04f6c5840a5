#include "serve_cache.hpp"

#include "db_impl.hpp"
#include "tokenadm/digest.hpp"
#include "tokenadm/errors.hpp"
#include "verifier_internals.hpp"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace tokenadm {

namespace {

// The channel migration 8's trigger notifies.
constexpr const char* k_channel = "tokenadm_tokens";
// At most this many answers are kept (about 200 bytes each); when full,
// the expired ones go, and if that is not enough a tenth of the others.
constexpr std::size_t k_max_entries = 100000;
// The listening connection is checked (k_check_sql) this often, and counts
// as lost if the answer takes longer than k_probe_timeout: a connection
// that hangs silently (a network partition) would otherwise leave
// revocations unheard.
constexpr auto k_probe_every = std::chrono::seconds(5);
constexpr auto k_probe_timeout = std::chrono::seconds(5);
// Waits between attempts to listen again, doubling up to the second.
constexpr auto k_retry_first = std::chrono::seconds(1);
constexpr auto k_retry_max = std::chrono::seconds(30);

int millis_until(ServeCache::Clock::time_point t)
{
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    t - ServeCache::Clock::now())
                    .count();
  return static_cast<int>(std::clamp<long long>(ms, 0, 60000));
}

} // namespace

ServeCache::ServeCache(std::chrono::seconds ttl, std::shared_ptr<Verifier> verifier,
                       std::function<void(const std::string&)> log)
  : m_ttl(ttl), m_verifier(std::move(verifier)), m_log(std::move(log))
{
  if (::pipe2(m_wake, O_CLOEXEC | O_NONBLOCK) != 0) {
    throw Error("cache", "cannot make a pipe for the cache's listener");
  }
  try {
    m_thread = std::thread([this] { listen_loop(); });
  } catch (...) {
    ::close(m_wake[0]);
    ::close(m_wake[1]);
    throw;
  }
}

ServeCache::~ServeCache()
{
  stop();
  ::close(m_wake[0]);
  ::close(m_wake[1]);
}

void ServeCache::stop()
{
  {
    const std::lock_guard lock(m_stop_mutex);
    m_stopping = true;
  }
  m_stop_cv.notify_all();
  const char c = 0;
  (void)!::write(m_wake[1], &c, 1);
  if (m_thread.joinable()) {
    m_thread.join();
  }
  set_listening(false);
}

std::string ServeCache::key(const std::string& token, const std::optional<std::string>& role,
                            const std::optional<std::string>& scope,
                            const std::optional<std::string>& address)
{
  // One digest of the four, fixed in size whatever the scope's: none of
  // the parts can hold a NUL (they came from C strings), and "none" and ""
  // differ by the mark before each.
  std::string all = token;
  for (const auto* part : {&role, &scope, &address}) {
    all.append(1, '\0').append(part->has_value() ? "+" : "-").append(part->value_or(""));
  }
  auto k = sha256_hex(all);
  OPENSSL_cleanse(all.data(), all.size());
  return k;
}

std::optional<ServeCache::Hit> ServeCache::find(const std::string& key)
{
  const std::lock_guard lock(m_mutex);
  const auto it = m_entries.find(key);
  if (it == m_entries.end()) {
    ++m_misses;
    return std::nullopt;
  }
  if (it->second.until <= Clock::now()) {
    m_entries.erase(it);
    ++m_misses;
    return std::nullopt;
  }
  ++m_hits;
  return it->second.hit;
}

std::optional<std::uint64_t> ServeCache::generation()
{
  const std::lock_guard lock(m_mutex);
  return m_listening ? std::optional(m_generation) : std::nullopt;
}

void ServeCache::keep(std::uint64_t gen, Clock::time_point started, const std::string& endpoint,
                      const std::string& key, Hit hit, double cacheable_for)
{
  if (!(cacheable_for > 0) || key.empty()) {
    return; // (no key: the request came before a reload that made the cache)
  }
  // From when the lookup started: the row's times are as of the database's
  // now(), which is later.
  const auto ttl = std::chrono::duration<double>(m_ttl).count();
  const auto until = started + std::chrono::duration_cast<Clock::duration>(
                                 std::chrono::duration<double>(std::min(ttl, cacheable_for)));
  const std::lock_guard lock(m_mutex);
  if (!m_listening || gen != m_generation || endpoint != m_endpoint || until <= Clock::now()) {
    return;
  }
  if (m_entries.size() >= k_max_entries) {
    const auto now = Clock::now();
    for (auto it = m_entries.begin(); it != m_entries.end();) {
      it = it->second.until <= now ? m_entries.erase(it) : std::next(it);
    }
    for (auto it = m_entries.begin(); m_entries.size() > k_max_entries - k_max_entries / 10;) {
      it = m_entries.erase(it);
    }
    ++m_evictions;
  }
  m_entries.insert_or_assign(key, Entry{std::move(hit), until});
}

CacheStats ServeCache::stats() const
{
  const std::lock_guard lock(m_mutex);
  return CacheStats{true, m_listening, m_hits, m_misses, m_flushes, m_evictions, m_entries.size()};
}

void ServeCache::flush()
{
  const std::lock_guard lock(m_mutex);
  m_entries.clear();
  ++m_generation;
  ++m_flushes;
}

void ServeCache::set_listening(bool on, std::string endpoint)
{
  const std::lock_guard lock(m_mutex);
  m_listening = on;
  m_endpoint = std::move(endpoint);
  m_entries.clear();
  ++m_generation;
}

namespace {

// What the listening connection checks when it starts and then every
// k_probe_every: that it is with the backend it says it is (not a pooler),
// still listens, the trigger that notifies is there and fires always
// (ENABLE ALWAYS; not disabled), and the table is the one it was (not
// dropped and restored, which notifies nothing).
const std::string k_check_sql =
  std::string("select pg_backend_pid(), '") + k_channel
  + "' in (select pg_listening_channels()), coalesce((select tgenabled::text from pg_catalog.pg_trigger"
    " where tgrelid = 'tokenadm.tokens'::regclass and tgname = 'tokens_changed'), ''),"
    " 'tokenadm.tokens'::regclass::oid::text";

// Empty when the check's answer is good, else why not.
std::string check_problem(PGconn* conn, const std::string& pid, const std::string& listening,
                          const std::string& trigger, const std::string& table,
                          const std::string& table_was)
{
  if (pid != std::to_string(PQbackendPID(conn))) {
    return "the connection goes through a pooler or proxy, which cannot pass notifications on";
  }
  if (listening != "t") {
    return std::string("the session no longer listens on ") + k_channel;
  }
  if (trigger.empty()) {
    return "the trigger tokens_changed on tokenadm.tokens is missing: run token init";
  }
  if (trigger != "A") {
    return "the trigger tokens_changed on tokenadm.tokens is disabled or not ENABLE ALWAYS: "
           "alter table tokenadm.tokens enable always trigger tokens_changed";
  }
  if (!table_was.empty() && table != table_was) {
    return "tokenadm.tokens was replaced";
  }
  return {};
}

} // namespace

void ServeCache::listen_loop()
{
  auto delay = k_retry_first;
  std::string last_why; // logged when it changes, not at every retry
  for (;;) {
    std::string why;
    try {
      const auto db = VerifierInternals::connect(*m_verifier);
      const auto table = guarded(*db, [&] {
        pqxx::nontransaction tx(db->impl().conn);
        if (!direct_session(*db, tx)) {
          // In transaction mode, pgbouncer gives the LISTEN to one server
          // connection and our next statement to another.
          throw Error("cache", "the connection goes through a pooler or proxy, which cannot "
                               "pass notifications on");
        }
        // Named, for an admin reading pg_stat_activity.
        tx.exec("set application_name = 'tokenadm serve cache'");
        tx.exec(std::string("listen ") + k_channel);
        const auto row = tx.exec(k_check_sql)[0];
        const std::string oid = row[3].c_str();
        const auto problem = check_problem(db->impl().conn.raw(), row[0].c_str(), row[1].c_str(),
                                           row[2].c_str(), oid, oid);
        if (!problem.empty()) {
          throw Error("cache", problem);
        }
        return oid;
      });
      set_listening(true, server_endpoint(*db));
      m_log("cache: on (serve.cache_ttl " + std::to_string(m_ttl.count())
            + " s); changes to tokens are heard on channel " + k_channel);
      last_why.clear();
      delay = k_retry_first;
      watch(*db, table); // returns when stopping; throws when the connection fails
      return;
    } catch (const std::exception& e) {
      why = e.what();
    }
    const bool was = generation().has_value();
    set_listening(false);
    if (why != last_why || was) {
      m_log("cache: off, answering every request from the database, until changes to "
            "tokens can be listened for again: " + why);
      last_why = why;
    }
    std::unique_lock lock(m_stop_mutex);
    if (m_stop_cv.wait_for(lock, delay, [&] { return m_stopping; })) {
      return;
    }
    delay = std::min<std::chrono::seconds>(delay * 2, k_retry_max);
  }
}

// Drops the cache at each notification, until told to stop (returns) or
// the connection fails or its check does (throws).
void ServeCache::watch(Db& db, const std::string& table)
{
  PGconn* const conn = db.impl().conn.raw();
  const auto lost = [](const std::string& what) {
    return DbError("lost the listening connection: " + what, "unavailable");
  };
  auto checked_at = Clock::now();
  std::optional<Clock::time_point> probe_sent;
  for (;;) {
    {
      const std::lock_guard lock(m_stop_mutex);
      if (m_stopping) {
        return;
      }
    }
    pollfd fds[2] = {{PQsocket(conn), POLLIN, 0}, {m_wake[0], POLLIN, 0}};
    const int timeout = millis_until(probe_sent ? *probe_sent + k_probe_timeout
                                                : checked_at + k_probe_every);
    const int n = ::poll(fds, 2, timeout);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      throw lost("poll failed");
    }
    if (fds[1].revents != 0) {
      return;
    }
    if (n == 0) {
      if (probe_sent) {
        throw lost("no answer in " + std::to_string(k_probe_timeout.count()) + " s");
      }
      if (PQsendQuery(conn, k_check_sql.c_str()) == 0) {
        throw lost("cannot send");
      }
      probe_sent = Clock::now();
      continue;
    }
    if (PQconsumeInput(conn) == 0) {
      throw lost("the server closed it");
    }
    if (probe_sent && PQisBusy(conn) == 0) {
      std::string problem = "an unexpected answer to its check";
      while (PGresult* r = PQgetResult(conn)) {
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && PQnfields(r) == 4) {
          problem = check_problem(conn, PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1),
                                  PQgetvalue(r, 0, 2), PQgetvalue(r, 0, 3), table);
        }
        PQclear(r);
      }
      if (!problem.empty()) {
        throw Error("cache", problem);
      }
      probe_sent.reset();
      checked_at = Clock::now();
    }
    bool heard = false;
    while (PGnotify* note = PQnotifies(conn)) {
      PQfreemem(note);
      heard = true;
    }
    if (heard) {
      flush();
    }
  }
}

} // namespace tokenadm
