// Counters behind token serve's /metrics (Prometheus text format 0.0.4).
#pragma once

#include "tokenadm/verifier.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace tokenadm {

// The cache of accepted tokens (serve_cache.hpp), when serve.cache_ttl is set.
struct CacheStats {
  bool enabled = false;
  bool listening = false; // answers are kept only while this holds
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t flushes = 0;   // everything dropped: a change heard
  std::uint64_t evictions = 0; // full: the expired and a tenth of the rest dropped
  std::size_t entries = 0;
};

class ServerMetrics {
public:
  using Clock = std::chrono::steady_clock;

  // A verify request answered with `result` (ok, or the reason), timed
  // from when its headers were in.
  void verified(const std::string& result, Clock::time_point start);
  // An answer with this HTTP status.
  void status(unsigned code);
  // One database lookup answering n requests.
  void batch(std::size_t n);
  // A connection closed for not sending its request in time.
  void timed_out();

  std::string text(const Verifier::Stats& pool, const CacheStats& cache) const;

private:
  // Upper bounds in seconds; the last bucket is +Inf.
  static constexpr std::array<double, 12> k_bounds{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                   0.05,   0.1,   0.25,   0.5,   1.0,  5.0};
  mutable std::mutex m_mutex;
  std::map<std::string, std::uint64_t> m_results;
  std::map<unsigned, std::uint64_t> m_statuses;
  std::array<std::uint64_t, k_bounds.size() + 1> m_buckets{};
  double m_sum = 0;
  std::uint64_t m_count = 0;
  std::uint64_t m_batches = 0;
  std::uint64_t m_batched = 0;
  std::uint64_t m_timeouts = 0;
};

} // namespace tokenadm
