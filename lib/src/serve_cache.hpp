// token serve's cache of accepted tokens (serve.cache_ttl): a request whose
// token, role, scope and client address were accepted less than cache_ttl
// ago is answered from memory, without a database lookup.
//
// Staleness is bounded by the database telling us: every statement that
// changes what a verify answers from (revoke, suspend, rotate, ensure,
// prune, SQL by hand) notifies the channel tokenadm_tokens (schema
// migration 8), and a listening connection of the cache's own drops every
// entry when it hears one. Answers are kept only while that connection is
// up: when it is lost (or cannot be made: a pooler, a hot standby, which
// cannot LISTEN), everything is dropped and nothing is kept until it is
// back. A lookup that overlaps a notification keeps nothing (generations),
// nor one answered by another server than the one listened to (a standby
// of a multi-host DSN may not have replayed a change already heard of).
// An entry also ends when its token expires (or its rotation overlap does),
// and is never made for a use-limited token (each use is counted) or a
// rotated-out one (each use is flagged).
//
// What a hit does not do: record last_used_at and the client's address
// (they lag by up to cache_ttl), or reach the audit trail (only failures
// are audited, and failures are never cached).
#pragma once

#include "server_metrics.hpp"
#include "tokenadm/verifier.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>

namespace tokenadm {

class Db;

class ServeCache {
public:
  using Clock = std::chrono::steady_clock;

  // Starts listening (in a thread of its own) on the database `verifier`
  // checks tokens on. `log` gets a line when the cache starts and stops
  // being usable; never a token.
  ServeCache(std::chrono::seconds ttl, std::shared_ptr<Verifier> verifier,
             std::function<void(const std::string&)> log);
  ~ServeCache();
  ServeCache(const ServeCache&) = delete;
  ServeCache& operator=(const ServeCache&) = delete;

  // Stops listening and drops everything; waits for the listening thread
  // (at most the connect timeout, if it is connecting). Idempotent.
  void stop();

  // What an answer is kept under: a digest of the token (never the token
  // itself), with the role, scope and client address asked for.
  static std::string key(const std::string& token, const std::optional<std::string>& role,
                         const std::optional<std::string>& scope,
                         const std::optional<std::string>& address);

  struct Hit {
    std::string id;
    std::string owner;
  };
  std::optional<Hit> find(const std::string& key);

  // Call before a lookup: what to give keep() with its answers, or nullopt
  // when none may be kept (not listening).
  std::optional<std::uint64_t> generation();
  // Keeps an accepted answer found by a lookup that started at `started`
  // with generation `gen`, for cache_ttl or `cacheable_for` seconds,
  // whichever is shorter; not if something changed since (or 0), nor if
  // the lookup was answered by another server than the one listened to
  // (`endpoint`, see server_endpoint: a multi-host DSN's standby, whose
  // replay may lag behind a change already heard of).
  void keep(std::uint64_t gen, Clock::time_point started, const std::string& endpoint,
            const std::string& key, Hit hit, double cacheable_for);

  CacheStats stats() const;

private:
  void listen_loop();
  void watch(Db& db, const std::string& table);
  void set_listening(bool on, std::string endpoint = {});
  void flush();

  struct Entry {
    Hit hit;
    Clock::time_point until;
  };
  const std::chrono::seconds m_ttl;
  const std::shared_ptr<Verifier> m_verifier;
  const std::function<void(const std::string&)> m_log;

  mutable std::mutex m_mutex;
  std::unordered_map<std::string, Entry> m_entries;
  std::uint64_t m_generation = 0;
  bool m_listening = false;
  std::string m_endpoint; // the server listened to
  std::uint64_t m_hits = 0;
  std::uint64_t m_misses = 0;
  std::uint64_t m_flushes = 0;
  std::uint64_t m_evictions = 0;

  std::mutex m_stop_mutex;
  std::condition_variable m_stop_cv;
  bool m_stopping = false;
  int m_wake[2] = {-1, -1}; // written to stop watch()
  std::thread m_thread;
};

} // namespace tokenadm
