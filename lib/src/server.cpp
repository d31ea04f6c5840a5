#include "tokenadm/server.hpp"

#include "net.hpp"
#include "serve_cache.hpp"
#include "server_metrics.hpp"
#include "verifier_internals.hpp"
#include "tokenadm/errors.hpp"
#include "tokenadm/store.hpp"
#include "tokenadm/token.hpp"

#include <microhttpd.h>
#include <nlohmann/json.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdarg>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

namespace tokenadm {

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t k_max_batch = 1000;
constexpr auto k_max_wait = std::chrono::milliseconds(20);
// After a lookup of k_busy_batch requests or more (a busy server), the next
// one waits, gathering what arrives meanwhile, until as many requests wait
// as that lookup answered (its clients have come back) or until k_linger
// after it ended, whichever is first: a lookup of 8 tokens costs the
// database 1.3 times one of 1 (parse and plan dominate), so a busy server
// spends its CPU on fewer, larger ones, and does not sit idle once they are
// there. A server that is not busy (smaller batches) looks up at once.
constexpr std::size_t k_busy_batch = 4;
constexpr auto k_linger = std::chrono::microseconds(500);

// What reload() may change, swapped whole.
struct Settings {
  std::string auth_path;
  std::vector<net::Cidr> proxies;
  bool trust_unix = false;
  bool allow_query_token = false;
  std::shared_ptr<Verifier> verifier;
  std::shared_ptr<ServeCache> cache; // none when serve.cache_ttl is 0
};

std::shared_ptr<Settings> make_settings(const ServeConfig& sc)
{
  auto s = std::make_shared<Settings>();
  s->auth_path = sc.auth_path;
  s->allow_query_token = sc.allow_query_token;
  for (const auto& p : sc.trusted_proxies) {
    if (p == "unix") {
      s->trust_unix = true;
      continue;
    }
    try {
      s->proxies.emplace_back(p);
    } catch (const UsageError& e) {
      throw ConfigError(std::string("serve.trusted_proxies: ") + e.what());
    }
  }
  return s;
}

// One HTTP request (MHD's con_cls), from its headers to its answer.
struct Request {
  enum class Kind { verify, health };
  MHD_Connection* conn = nullptr;
  Kind kind = Kind::verify;
  bool queued = false;
  Clock::time_point queued_at;
  bool answered = false; // set by a dispatcher before it resumes conn
  std::string token;
  std::optional<std::string> role;
  std::optional<std::string> scope;
  std::optional<std::string> address;
  std::string cache_key; // when there is a cache
  VerifyResult result;
  Verifier::Health health;
  Clock::time_point start = Clock::now();
};

// Values named `name` of one kind (headers: case-insensitive), counted so
// that a repeated one can be refused rather than guessed at.
struct Lookup {
  const char* name;
  bool headers;
  bool join = false; // also keep every value in `joined`
  const char* value = nullptr;
  int count = 0;
  std::string joined{}; // the values, ", "-joined in the order they came
};

MHD_Result collect(void* cls, MHD_ValueKind, const char* key, const char* value)
{
  auto* l = static_cast<Lookup*>(cls);
  if (key != nullptr
      && (l->headers ? ::strcasecmp(key, l->name) == 0 : std::strcmp(key, l->name) == 0)) {
    const char* v = value == nullptr ? "" : value;
    if (l->count++ == 0) {
      l->value = v;
    }
    if (l->join) {
      l->joined.append(l->count > 1 ? ", " : "").append(v);
    }
  }
  return MHD_YES;
}

// `join`: a header's lines are also joined (RFC 9110 5.3: a proxy may add
// its own line rather than append to the client's).
Lookup lookup(MHD_Connection* c, MHD_ValueKind kind, const char* name, bool join = false)
{
  Lookup l{name, kind == MHD_HEADER_KIND, join};
  MHD_get_connection_values(c, kind, collect, &l);
  return l;
}

} // namespace

struct Server::Impl {
  Impl(const Config& config, ServerOptions opts)
    : options(std::move(opts)), limits(config.serve), settings(make(config))
  {
  }

  std::shared_ptr<const Settings> make(const Config& config) const
  {
    auto s = make_settings(config.serve);
    auto vo = options.verifier;
    vo.pool_size = static_cast<std::size_t>(config.serve.pool_size);
    s->verifier = std::make_shared<Verifier>(config, vo);
    const int ttl = options.cache_ttl.value_or(config.serve.cache_ttl);
    if (ttl > 0) {
      s->cache = std::make_shared<ServeCache>(std::chrono::seconds(ttl), s->verifier,
                                              [this](const std::string& line) { log(line); });
    }
    return s;
  }

  void log(const std::string& line) const
  {
    if (options.log) {
      options.log(redact_tokens(line));
    }
  }

  std::shared_ptr<const Settings> current_settings() const
  {
    const std::lock_guard lock(swap_mutex);
    return settings;
  }
  std::string metrics_text() const
  {
    const auto s = current_settings();
    return metrics.text(s->verifier->stats(), s->cache ? s->cache->stats() : CacheStats{});
  }

  // --- HTTP side (MHD threads): never waits for the database.

  MHD_Result handle(MHD_Connection* c, const char* url, const char* method,
                    size_t* upload_data_size, void** con_cls)
  {
    auto* req = static_cast<Request*>(*con_cls);
    if (req == nullptr) {
      // Headers are in: the request may take its time from here on.
      headers_done(c);
      req = new Request;
      req->conn = c;
      *con_cls = req;
      active.fetch_add(1);
      return MHD_YES;
    }
    if (*upload_data_size != 0) {
      *upload_data_size = 0; // a body (nginx may pass one) is not read
      return MHD_YES;
    }
    if (req->answered) {
      return req->kind == Request::Kind::health ? answer_health(*req) : answer_verify(*req);
    }
    if (req->queued) {
      return MHD_YES; // resumed without an answer: cannot happen, but wait
    }
    const auto s = current_settings();
    const bool get = std::strcmp(method, "GET") == 0 || std::strcmp(method, "HEAD") == 0;
    if (std::strcmp(url, "/healthz") == 0) {
      if (!get) {
        return respond(*req, 405, {{"error", "method_not_allowed"}});
      }
      req->kind = Request::Kind::health;
      return enqueue(*req);
    }
    if (std::strcmp(url, "/metrics") == 0) {
      if (!get) {
        return respond(*req, 405, {{"error", "method_not_allowed"}});
      }
      return respond_text(*req, 200, metrics_text(), "text/plain; version=0.0.4; charset=utf-8");
    }
    if (url != s->auth_path) {
      return respond(*req, 404, {{"error", "not_found"}});
    }
    return start_verify(*req, *s);
  }

  MHD_Result start_verify(Request& req, const Settings& s)
  {
    MHD_Connection* c = req.conn;
    // The token: Authorization: Bearer only, or ?access_token= if allowed.
    const auto auth = lookup(c, MHD_HEADER_KIND, "Authorization");
    const auto query_token = lookup(c, MHD_GET_ARGUMENT_KIND, "access_token");
    const auto role_q = lookup(c, MHD_GET_ARGUMENT_KIND, "role");
    const auto scope_q = lookup(c, MHD_GET_ARGUMENT_KIND, "scope");
    const auto role_h = lookup(c, MHD_HEADER_KIND, "X-Tokenadm-Role");
    const auto scope_h = lookup(c, MHD_HEADER_KIND, "X-Tokenadm-Scope");
    for (const auto* l : {&auth, &query_token, &role_q, &scope_q, &role_h, &scope_h}) {
      if (l->count > 1) {
        return invalid_request(req, std::string("more than one ") + l->name);
      }
    }
    const bool use_query = s.allow_query_token && query_token.count == 1;
    if (use_query && auth.count == 1) {
      return invalid_request(req, "a token in both the Authorization header and the query");
    }
    // The role and scope the proxy asks for: from the query or a header;
    // both must agree when both are given.
    auto pick = [](const Lookup& q, const Lookup& h) -> std::optional<std::optional<std::string>> {
      if (q.count == 1 && h.count == 1 && std::strcmp(q.value, h.value) != 0) {
        return std::nullopt;
      }
      const auto* v = q.count == 1 ? q.value : h.count == 1 ? h.value : nullptr;
      return v == nullptr || *v == '\0' ? std::optional<std::string>{} : std::string(v);
    };
    const auto role = pick(role_q, role_h);
    const auto scope = pick(scope_q, scope_h);
    if (!role || !scope) {
      return invalid_request(req, "the query and the X-Tokenadm-* headers disagree");
    }
    req.role = *role;
    req.scope = *scope;
    if (req.role
        && std::find(k_roles.begin(), k_roles.end(), *req.role) == k_roles.end()) {
      return invalid_request(req, "unknown role (api, feed, vcs, http, all)");
    }
    if (req.scope && req.scope->size() > 1024) {
      return invalid_request(req, "scope is longer than 1024 bytes");
    }
    req.address = client_address(c, s);
    if (!use_query && auth.count == 0) {
      return deny(req, "missing");
    }
    try {
      req.token = use_query ? token_from_input(query_token.value, false)
                            : token_from_input(auth.value, true);
      precheck_token(req.token); // a malformed token costs no query
    } catch (const TokenRejected& e) {
      if (!use_query && ::strncasecmp(auth.value, "Bearer", 6) != 0) {
        return deny(req, "missing"); // another scheme (Basic ...): no Bearer credentials
      }
      return deny(req, e.reason());
    }
    if (s.cache) {
      req.cache_key = ServeCache::key(req.token, req.role, req.scope, req.address);
      if (auto hit = s.cache->find(req.cache_key)) {
        req.token.clear();
        req.result.ok = true;
        req.result.id = std::move(hit->id);
        req.result.owner = std::move(hit->owner);
        return answer_verify(req);
      }
    }
    return enqueue(req);
  }

  // The peer's address, or the one a trusted proxy forwarded: the last
  // X-Forwarded-For entry that is not itself a trusted proxy, else
  // X-Real-IP. None for a unix-socket peer unless a proxy says.
  std::optional<std::string> client_address(MHD_Connection* c, const Settings& s) const
  {
    const auto* info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const sockaddr* sa = info == nullptr ? nullptr : info->client_addr;
    auto peer = net::address_text(sa);
    const bool trusted = peer ? is_proxy(*peer, s) : (sa == nullptr || sa->sa_family == AF_UNIX) && s.trust_unix;
    if (!trusted) {
      return peer;
    }
    const auto xff = lookup(c, MHD_HEADER_KIND, "X-Forwarded-For", true);
    const auto real = lookup(c, MHD_HEADER_KIND, "X-Real-IP");
    if (xff.count == 0 && real.count == 0) {
      return peer;
    }
    std::optional<std::string> by_real;
    if (real.count == 1 && net::parse_address(real.value)) {
      by_real = real.value;
    }
    if (xff.count == 0) {
      return by_real;
    }
    const auto by_xff = forwarded_client(xff.joined, s);
    // Both: a proxy may set either one and pass the client's own other one
    // on, so they must name the same client (nginx's X-Real-IP $remote_addr
    // is what ends its X-Forwarded-For); else there is no address, and a
    // token bound to address ranges is refused.
    if (real.count != 0) {
      return by_xff && by_real && *by_xff == *by_real ? by_xff : std::nullopt;
    }
    return by_xff;
  }

  // X-Forwarded-For's client: the last entry that is not itself a trusted
  // proxy (every hop is one: the first). Garbage where an address should be
  // gives none.
  static std::optional<std::string> forwarded_client(const std::string& list, const Settings& s)
  {
    std::optional<std::string> last;
    std::size_t end = list.size();
    while (end > 0) {
      const auto comma = list.rfind(',', end - 1);
      const auto begin = comma == std::string::npos ? 0 : comma + 1;
      auto item = list.substr(begin, end - begin);
      item.erase(0, item.find_first_not_of(" \t"));
      item.erase(item.find_last_not_of(" \t") + 1);
      if (!net::parse_address(item)) {
        return std::nullopt;
      }
      if (!is_proxy(item, s)) {
        return item;
      }
      last = item;
      if (comma == std::string::npos) {
        break;
      }
      end = comma;
    }
    return last;
  }

  static bool is_proxy(const std::string& address, const Settings& s)
  {
    return std::any_of(s.proxies.begin(), s.proxies.end(),
                       [&](const net::Cidr& r) { return r.contains(address); });
  }

  MHD_Result enqueue(Request& req)
  {
    bool wake = false;
    {
      const std::lock_guard lock(queue_mutex);
      if (!dispatch_stop) {
        req.queued = true;
        req.queued_at = Clock::now();
        // Suspended first: a dispatcher may resume it once it is queued.
        MHD_suspend_connection(req.conn);
        // A dispatcher is woken for the first request queued (to make the
        // lookup, or to time its wait if one is in flight), and for the one
        // that fills what a busy server waits for (see k_busy_batch); the
        // others go in the same lookup, and wake nobody.
        wake = queue.empty() || queue.size() + 1 == k_max_batch
               || queue.size() + 1 == awaited;
        queue.push_back(&req);
      }
    }
    if (!req.queued) {
      return respond(req, 503, {{"error", "unavailable"}, {"reason", "stopping"}},
                     {{"Connection", "close"}});
    }
    if (wake) {
      queue_cv.notify_one();
    }
    return MHD_YES;
  }

  MHD_Result answer_verify(Request& req)
  {
    const auto& r = req.result;
    if (r.ok) {
      metrics.verified("ok", req.start);
      nlohmann::json body{{"ok", true}, {"id", r.id}, {"owner", r.owner}, {"address", nullptr}};
      if (req.address) {
        body["address"] = *req.address; // the client address the checks used
      }
      return respond(req, 200, body, {{"X-Token-Owner", r.owner}, {"X-Token-Id", r.id}});
    }
    return deny(req, r.reason);
  }

  MHD_Result deny(Request& req, const std::string& reason)
  {
    metrics.verified(reason, req.start);
    if (reason == "missing") {
      // RFC 6750 3.1: no error code when no credentials were offered.
      return respond(req, 401, {{"error", "unauthorized"}, {"reason", reason}},
                     {{"WWW-Authenticate", "Bearer realm=\"tokenadm\""}});
    }
    if (reason == "forbidden" || reason == "address") {
      return respond(req, 403, {{"error", "insufficient_scope"}, {"reason", reason}},
                     {{"WWW-Authenticate",
                       "Bearer realm=\"tokenadm\", error=\"insufficient_scope\""}});
    }
    if (reason == "unavailable" || reason == "schema" || reason == "error") {
      return respond(req, 503, {{"error", "unavailable"}, {"reason", reason}},
                     {{"Retry-After", "1"}});
    }
    return respond(req, 401, {{"error", "invalid_token"}, {"reason", reason}},
                   {{"WWW-Authenticate", "Bearer realm=\"tokenadm\", error=\"invalid_token\""}});
  }

  MHD_Result invalid_request(Request& req, const std::string& why)
  {
    metrics.verified("invalid_request", req.start);
    return respond(req, 400, {{"error", "invalid_request"}, {"reason", why}},
                   {{"WWW-Authenticate", "Bearer realm=\"tokenadm\", error=\"invalid_request\""}});
  }

  MHD_Result answer_health(Request& req)
  {
    const auto& h = req.health;
    if (h.ok) {
      return respond(req, 200, {{"status", "ok"}, {"schema_version", h.schema_version}});
    }
    return respond(req, 503, {{"status", h.reason}, {"schema_version", h.schema_version}},
                   {{"Retry-After", "1"}});
  }

  using Headers = std::vector<std::pair<std::string, std::string>>;

  MHD_Result respond(Request& req, unsigned status, const nlohmann::json& body,
                     const Headers& headers = {})
  {
    return respond_text(req, status, body.dump() + "\n", "application/json", headers);
  }

  MHD_Result respond_text(Request& req, unsigned status, const std::string& body,
                          const char* type, const Headers& headers = {})
  {
    metrics.status(status);
    auto* resp = MHD_create_response_from_buffer(body.size(), const_cast<char*>(body.data()),
                                                 MHD_RESPMEM_MUST_COPY);
    if (resp == nullptr) {
      return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", type);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    for (const auto& [k, v] : headers) {
      // An owner is free of control characters (create checks it); if one
      // were not, MHD refuses the header and the answer must not be 200.
      if (MHD_add_response_header(resp, k.c_str(), v.c_str()) != MHD_YES && status == 200) {
        MHD_destroy_response(resp);
        return respond(req, 503, {{"error", "unavailable"}, {"reason", "error"}});
      }
    }
    const auto rc = MHD_queue_response(req.conn, status, resp);
    MHD_destroy_response(resp);
    return rc;
  }

  void completed(void** con_cls)
  {
    auto* req = static_cast<Request*>(*con_cls);
    if (req != nullptr) {
      delete req;
      *con_cls = nullptr;
      active.fetch_sub(1);
      request_done_cv.notify_all();
    }
  }

  // --- Slow clients: a request's head must be in within request_timeout
  // of connecting (or of the previous answer plus connection_timeout).

  void connection_event(MHD_Connection* c, MHD_ConnectionNotificationCode code)
  {
    const std::lock_guard lock(watch_mutex);
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
      deadlines[c] = Clock::now() + std::chrono::seconds(limits.request_timeout);
    } else {
      deadlines.erase(c);
    }
  }

  void headers_done(MHD_Connection* c)
  {
    const std::lock_guard lock(watch_mutex);
    if (const auto it = deadlines.find(c); it != deadlines.end()) {
      it->second = Clock::time_point::max();
    }
  }

  void request_finished(MHD_Connection* c)
  {
    const std::lock_guard lock(watch_mutex);
    if (const auto it = deadlines.find(c); it != deadlines.end()) {
      it->second = Clock::now()
                   + std::chrono::seconds(limits.request_timeout + limits.connection_timeout);
    }
  }

  void watchdog()
  {
    std::unique_lock lock(watch_mutex);
    while (!watch_stop) {
      watch_cv.wait_for(lock, std::chrono::milliseconds(500));
      const auto now = Clock::now();
      for (auto it = deadlines.begin(); it != deadlines.end();) {
        if (it->second <= now) {
          // The fd stays open while this lock is held: MHD tells us of the
          // close (which needs the lock) before it closes the socket.
          const auto* info = MHD_get_connection_info(it->first, MHD_CONNECTION_INFO_CONNECTION_FD);
          if (info != nullptr) {
            ::shutdown(info->connect_fd, SHUT_RDWR);
          }
          metrics.timed_out();
          it = deadlines.erase(it);
        } else {
          ++it;
        }
      }
    }
  }

  // --- Dispatchers: take everything queued, answer it in as few queries
  // as possible, resume the connections.

  // One lookup at a time, normally: what arrives meanwhile waits for it and
  // goes in the next one (see k_busy_batch if the server is busy), so a busy
  // server makes few, large lookups (each costs the database a parse and a
  // plan, whatever its size). Another dispatcher starts a lookup beside it
  // only when more than a batch is waiting, when draining, or when the
  // oldest waiting request has waited k_max_wait (a lookup that hangs does
  // not hold up everything behind it).
  bool may_dispatch(Clock::time_point now) const
  {
    return !queue.empty()
           && ((in_flight == 0 && (now >= linger_until || queue.size() >= awaited)) || dispatch_stop
               || queue.size() >= k_max_batch || now - queue.front()->queued_at >= k_max_wait);
  }

  void dispatcher()
  {
    std::unique_lock lock(queue_mutex);
    for (;;) {
      while (!may_dispatch(Clock::now())) {
        if (dispatch_stop && queue.empty()) {
          return;
        }
        if (queue.empty()) {
          queue_cv.wait(lock);
        } else if (in_flight == 0) {
          queue_cv.wait_until(lock, linger_until);
        } else {
          queue_cv.wait_until(lock, queue.front()->queued_at + k_max_wait);
        }
      }
      std::vector<Request*> batch;
      while (!queue.empty() && batch.size() < k_max_batch) {
        batch.push_back(queue.front());
        queue.pop_front();
      }
      const bool more = !queue.empty();
      ++in_flight;
      lock.unlock();
      if (more) {
        queue_cv.notify_one(); // more than one batch's worth: wake another
      }
      run_batch(batch);
      lock.lock();
      --in_flight;
      if (batch.size() >= k_busy_batch) {
        linger_until = Clock::now() + k_linger;
        awaited = batch.size();
      }
    }
  }

  void run_batch(std::vector<Request*>& batch)
  {
    const auto s = current_settings();
    auto& v = s->verifier;
    // Taken before the lookups: an answer is kept only if no change to
    // tokens was heard since (see ServeCache).
    const auto generation = s->cache ? s->cache->generation() : std::nullopt;
    const auto started = Clock::now();
    // Requests with the same role and scope share one lookup, each with its
    // own client address; a lone request takes the same statement (it is
    // cheaper to plan than verify()'s, and prepared once a session).
    std::map<std::pair<std::optional<std::string>, std::optional<std::string>>,
             std::vector<Request*>>
      groups;
    for (auto* r : batch) {
      if (r->kind == Request::Kind::health) {
        r->health = v->check();
      } else {
        groups[{r->role, r->scope}].push_back(r);
      }
    }
    for (auto& [key, reqs] : groups) {
      metrics.batch(reqs.size());
      std::vector<std::string> tokens;
      std::vector<std::string> addresses;
      tokens.reserve(reqs.size());
      addresses.reserve(reqs.size());
      for (auto* r : reqs) {
        tokens.push_back(std::move(r->token));
        addresses.push_back(r->address.value_or(""));
      }
      std::vector<double> cacheable;
      std::string endpoint;
      auto results = VerifierInternals::verify_many(*v, tokens, key.first, key.second, addresses,
                                                    generation ? &cacheable : nullptr,
                                                    generation ? &endpoint : nullptr);
      for (std::size_t i = 0; i < reqs.size(); ++i) {
        if (generation && results[i].ok) {
          s->cache->keep(*generation, started, endpoint, reqs[i]->cache_key,
                         {results[i].id, results[i].owner}, cacheable[i]);
        }
        reqs[i]->result = std::move(results[i]);
      }
    }
    for (auto* r : batch) {
      const auto& reason = r->kind == Request::Kind::health ? r->health.reason : r->result.reason;
      const auto& message = r->kind == Request::Kind::health ? r->health.message : r->result.message;
      note_database(reason, message);
      r->token.clear();
      r->answered = true;
      MHD_resume_connection(r->conn);
    }
  }

  // Logs when the database goes away and when it is back, not per request.
  void note_database(const std::string& reason, const std::string& message)
  {
    const bool down = reason == "unavailable" || reason == "schema" || reason == "error";
    const bool reached = reason != "unavailable";
    if (down && !db_down.exchange(true)) {
      log("database unavailable (" + reason + "): " + message);
    } else if (!down && reached && db_down.exchange(false)) {
      log("database reachable again");
    }
  }

  ServerOptions options;
  const ServeConfig limits;
  mutable std::mutex swap_mutex;
  std::shared_ptr<const Settings> settings;

  std::vector<net::Listener> listeners;
  std::vector<MHD_Daemon*> daemons;
  std::atomic<long> active{0};
  std::mutex done_mutex;
  std::condition_variable request_done_cv;

  std::mutex queue_mutex;
  std::condition_variable queue_cv;
  std::deque<Request*> queue;
  bool dispatch_stop = false;
  std::size_t in_flight = 0; // lookups being made
  Clock::time_point linger_until{}; // no lookup starts before, unless as above
  std::size_t awaited = k_max_batch; // ... or this many requests wait
  std::vector<std::thread> dispatchers;

  std::mutex watch_mutex;
  std::condition_variable watch_cv;
  bool watch_stop = false;
  std::map<MHD_Connection*, Clock::time_point> deadlines;
  std::thread watch_thread;

  std::atomic<bool> db_down{false};
  std::atomic<long long> last_mhd_log{0};
  ServerMetrics metrics;
  bool stopped = false;
  bool abandoned = false; // drain() gave up: see ~Server
};

namespace {

MHD_Result on_request(void* cls, MHD_Connection* c, const char* url, const char* method,
                      const char*, const char*, size_t* upload_data_size, void** con_cls)
{
  try {
    return static_cast<Server::Impl*>(cls)->handle(c, url, method, upload_data_size, con_cls);
  } catch (...) {
    return MHD_NO; // closes the connection; nothing may unwind into C
  }
}

void on_completed(void* cls, MHD_Connection* c, void** con_cls, MHD_RequestTerminationCode)
{
  auto* impl = static_cast<Server::Impl*>(cls);
  impl->completed(con_cls);
  impl->request_finished(c);
}

void on_connection(void* cls, MHD_Connection* c, void**, MHD_ConnectionNotificationCode code)
{
  static_cast<Server::Impl*>(cls)->connection_event(c, code);
}

// libmicrohttpd's own messages (a client that broke off, say), at most one
// a second: a flood of bad clients must not flood the log.
void on_mhd_log(void* cls, const char* fmt, va_list ap)
{
  auto* impl = static_cast<Server::Impl*>(cls);
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                     Clock::now().time_since_epoch())
                     .count();
  auto last = impl->last_mhd_log.load();
  if (now == last || !impl->last_mhd_log.compare_exchange_strong(last, now)) {
    return;
  }
  char buf[512];
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  std::string line(buf);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) {
    line.pop_back();
  }
  impl->log("http: " + line);
}

} // namespace

std::vector<int> systemd_listen_fds()
{
  return net::systemd_fds();
}

Server::Server(const Config& config, ServerOptions options)
  : m_impl(std::make_unique<Impl>(config, std::move(options)))
{
  auto& im = *m_impl;
  const auto& sc = config.serve;
  const int backlog = std::clamp(sc.max_connections, 16, 4096);
  try {
    for (const auto& spec : im.options.listen) {
      im.listeners.push_back(net::listen_on(spec, backlog));
    }
    for (const int fd : im.options.inherited_fds) {
      im.listeners.push_back(net::adopt(fd));
    }
    if (im.listeners.empty()) {
      throw UsageError("nothing to listen on (give --listen or serve.listen)");
    }
    const auto threads = static_cast<unsigned>(sc.threads);
    for (auto& l : im.listeners) {
      auto* d = MHD_start_daemon(
        MHD_USE_EPOLL | MHD_USE_INTERNAL_POLLING_THREAD | MHD_ALLOW_SUSPEND_RESUME
          | MHD_USE_ERROR_LOG,
        0, nullptr, nullptr, &on_request, &im, MHD_OPTION_LISTEN_SOCKET, l.fd,
        MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_LIMIT,
        std::max(static_cast<unsigned>(sc.max_connections), threads),
        MHD_OPTION_CONNECTION_TIMEOUT, static_cast<unsigned>(sc.connection_timeout),
        // The request line and headers are read into this per-connection
        // pool; an answer's headers need a little room too.
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, static_cast<size_t>(sc.max_header_size) + 4096,
        MHD_OPTION_NOTIFY_COMPLETED, &on_completed, &im, MHD_OPTION_NOTIFY_CONNECTION,
        &on_connection, &im, MHD_OPTION_EXTERNAL_LOGGER, &on_mhd_log, &im, MHD_OPTION_END);
      if (d == nullptr) {
        throw Error("listen", "libmicrohttpd could not start on " + l.name);
      }
      im.daemons.push_back(d);
      l.fd = -1; // the daemon owns it now
    }
  } catch (...) {
    for (auto* d : im.daemons) {
      MHD_stop_daemon(d);
    }
    for (const auto& l : im.listeners) {
      if (l.fd >= 0) {
        ::close(l.fd);
      }
    }
    throw;
  }
  for (int i = 0; i < sc.pool_size; ++i) {
    im.dispatchers.emplace_back([&im] { im.dispatcher(); });
  }
  im.watch_thread = std::thread([&im] { im.watchdog(); });
}

Server::~Server()
{
  if (!m_impl->stopped) {
    (void)drain(0);
  }
  if (m_impl->abandoned) {
    // Threads still wait on the database for requests nobody will answer:
    // the process is about to exit; stopping them would hang or crash.
    for (auto& t : m_impl->dispatchers) {
      t.detach();
    }
    if (m_impl->watch_thread.joinable()) {
      m_impl->watch_thread.detach();
    }
    (void)m_impl.release();
  }
}

std::vector<std::string> Server::addresses() const
{
  std::vector<std::string> out;
  for (const auto& l : m_impl->listeners) {
    out.push_back(l.name);
  }
  return out;
}

void Server::reload(const Config& config)
{
  auto s = m_impl->make(config);
  {
    const std::lock_guard lock(m_impl->swap_mutex);
    std::swap(m_impl->settings, s);
  }
  if (s->cache) {
    s->cache->stop(); // lookups in flight keep nothing in it
  }
}

bool Server::drain(int timeout_seconds)
{
  auto& im = *m_impl;
  if (im.stopped) {
    return true;
  }
  im.stopped = true;
  for (auto* d : im.daemons) {
    const auto fd = MHD_quiesce_daemon(d);
    if (fd != MHD_INVALID_SOCKET) {
      ::close(fd);
    }
  }
  for (const auto& l : im.listeners) {
    if (l.unix_socket && l.name.rfind("unix:", 0) == 0
        && l.name.find(" (systemd)") == std::string::npos) {
      ::unlink(l.name.substr(5).c_str());
    }
  }
  auto wait_idle = [&](int seconds) {
    std::unique_lock lock(im.done_mutex);
    return im.request_done_cv.wait_for(lock, std::chrono::seconds(seconds),
                                       [&] { return im.active.load() == 0; });
  };
  if (!wait_idle(timeout_seconds)) {
    im.abandoned = true;
    return false;
  }
  // From here a request on a kept-alive connection is answered 503 at once
  // (see enqueue); the dispatchers answer what is queued, then end.
  {
    const std::lock_guard lock(im.queue_mutex);
    im.dispatch_stop = true;
  }
  im.queue_cv.notify_all();
  for (auto& t : im.dispatchers) {
    t.join();
  }
  im.dispatchers.clear();
  if (const auto s = im.current_settings(); s->cache) {
    s->cache->stop();
  }
  {
    const std::lock_guard lock(im.watch_mutex);
    im.watch_stop = true;
  }
  im.watch_cv.notify_all();
  im.watch_thread.join();
  // A suspended connection at MHD_stop_daemon is fatal to MHD: the resumed
  // ones are answered first.
  if (!wait_idle(5)) {
    im.abandoned = true;
    return false;
  }
  for (auto* d : im.daemons) {
    MHD_stop_daemon(d);
  }
  im.daemons.clear();
  return true;
}

std::string Server::metrics() const
{
  return m_impl->metrics_text();
}

} // namespace tokenadm
