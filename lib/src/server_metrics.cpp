#include "server_metrics.hpp"

#include <cstdio>

namespace tokenadm {

void ServerMetrics::verified(const std::string& result, Clock::time_point start)
{
  const double s = std::chrono::duration<double>(Clock::now() - start).count();
  std::size_t b = 0;
  while (b < k_bounds.size() && s > k_bounds[b]) {
    ++b;
  }
  const std::lock_guard lock(m_mutex);
  ++m_results[result];
  ++m_buckets[b];
  m_sum += s;
  ++m_count;
}

void ServerMetrics::status(unsigned code)
{
  const std::lock_guard lock(m_mutex);
  ++m_statuses[code];
}

void ServerMetrics::batch(std::size_t n)
{
  const std::lock_guard lock(m_mutex);
  ++m_batches;
  m_batched += n;
}

void ServerMetrics::timed_out()
{
  const std::lock_guard lock(m_mutex);
  ++m_timeouts;
}

std::string ServerMetrics::text(const Verifier::Stats& pool, const CacheStats& cache) const
{
  const std::lock_guard lock(m_mutex);
  std::string out;
  auto line = [&](const std::string& text) {
    out += text;
    out += '\n';
  };
  auto num = [](double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9g", v);
    return std::string(buf);
  };
  line("# HELP tokenadm_verify_total Verify requests answered, by result (ok or the reason).");
  line("# TYPE tokenadm_verify_total counter");
  for (const auto& [result, n] : m_results) {
    line("tokenadm_verify_total{result=\"" + result + "\"} " + std::to_string(n));
  }
  line("# HELP tokenadm_verify_duration_seconds Time from a verify request's headers to its "
       "answer.");
  line("# TYPE tokenadm_verify_duration_seconds histogram");
  std::uint64_t cumulative = 0;
  for (std::size_t b = 0; b < k_bounds.size(); ++b) {
    cumulative += m_buckets[b];
    line("tokenadm_verify_duration_seconds_bucket{le=\"" + num(k_bounds[b]) + "\"} "
         + std::to_string(cumulative));
  }
  cumulative += m_buckets[k_bounds.size()];
  line("tokenadm_verify_duration_seconds_bucket{le=\"+Inf\"} " + std::to_string(cumulative));
  line("tokenadm_verify_duration_seconds_sum " + num(m_sum));
  line("tokenadm_verify_duration_seconds_count " + std::to_string(m_count));
  line("# HELP tokenadm_http_responses_total HTTP answers, by status code.");
  line("# TYPE tokenadm_http_responses_total counter");
  for (const auto& [code, n] : m_statuses) {
    line("tokenadm_http_responses_total{code=\"" + std::to_string(code) + "\"} "
         + std::to_string(n));
  }
  line("# HELP tokenadm_db_lookups_total Database lookups made for verify requests "
       "(requests that arrive together share one).");
  line("# TYPE tokenadm_db_lookups_total counter");
  line("tokenadm_db_lookups_total " + std::to_string(m_batches));
  line("# HELP tokenadm_db_lookup_requests_total Verify requests answered by those lookups.");
  line("# TYPE tokenadm_db_lookup_requests_total counter");
  line("tokenadm_db_lookup_requests_total " + std::to_string(m_batched));
  line("# HELP tokenadm_db_pool_connections Database connections, by state.");
  line("# TYPE tokenadm_db_pool_connections gauge");
  line("tokenadm_db_pool_connections{state=\"in_use\"} " + std::to_string(pool.in_use));
  line("tokenadm_db_pool_connections{state=\"idle\"} " + std::to_string(pool.idle));
  line("# HELP tokenadm_db_reconnects_total Connections opened to replace lost ones.");
  line("# TYPE tokenadm_db_reconnects_total counter");
  line("tokenadm_db_reconnects_total " + std::to_string(pool.reconnects));
  line("# HELP tokenadm_http_request_timeouts_total Connections closed for not sending a "
       "request in time.");
  line("# TYPE tokenadm_http_request_timeouts_total counter");
  line("tokenadm_http_request_timeouts_total " + std::to_string(m_timeouts));
  // One metric without labels.
  auto single = [&](const std::string& name, const char* type, const std::string& help,
                    std::uint64_t value) {
    line("# HELP " + name + " " + help);
    line("# TYPE " + name + " " + type);
    line(name + " " + std::to_string(value));
  };
  single("tokenadm_cache_enabled", "gauge", "1 when serve.cache_ttl is set.", cache.enabled);
  single("tokenadm_cache_listening", "gauge",
         "1 while changes to tokens are listened for (answers are kept only then).",
         cache.listening);
  single("tokenadm_cache_hits_total", "counter", "Verify requests answered from the cache.",
         cache.hits);
  single("tokenadm_cache_misses_total", "counter",
         "Verify requests the cache could not answer.", cache.misses);
  single("tokenadm_cache_flushes_total", "counter",
         "Times every kept answer was dropped (a change to tokens heard).", cache.flushes);
  single("tokenadm_cache_evictions_total", "counter",
         "Times the cache was full (its expired answers and a tenth of the rest dropped).",
         cache.evictions);
  single("tokenadm_cache_entries", "gauge", "Answers kept.", cache.entries);
  return out;
}

} // namespace tokenadm
