// The process around a command: file descriptors 0-2, signals, the
// whole-command deadline (which cancels a running statement on the server
// rather than walking away from it) and clean-up on the way out.
#include "common.hpp"

#include <tokenadm/cancel.hpp>

#include <fcntl.h>
#include <semaphore.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <csignal>
#include <cstring>
#include <mutex>
#include <thread>

namespace tokencli {

namespace {

enum Phase : int { k_before = 0, k_connecting = 1, k_connected = 2 };

volatile std::sig_atomic_t g_phase = k_before;
volatile std::sig_atomic_t g_fired = 0;
volatile std::sig_atomic_t g_committed = 0;
// Where stderr really is while connect() has it pointed at /dev/null.
volatile std::sig_atomic_t g_stderr_fd = STDERR_FILENO;
int g_seconds = 0;

// What a dying process must undo; read by signal handlers, so plain
// buffers set before the handlers can need them.
char g_cleanup_path[PATH_MAX];
volatile std::sig_atomic_t g_cleanup_set = 0;
termios g_saved_tty{};
volatile std::sig_atomic_t g_tty_fd = -1;
char g_subject[64];

// The connection a fired deadline cancels, and the thread that does it:
// cancelling is not async-signal-safe, so the SIGALRM handler only posts.
std::mutex g_db_mutex;
tokenadm::Db* g_db = nullptr;
sem_t g_wake;
bool g_watchdog = false;

// The grace the server gets to confirm a cancel before the outcome is
// declared unknown.
constexpr int k_grace_seconds = 5;

void say(const char* msg) { (void)!::write(g_stderr_fd, msg, std::strlen(msg)); }

void undo() noexcept
{
  if (g_tty_fd >= 0) {
    ::tcsetattr(g_tty_fd, TCSAFLUSH, &g_saved_tty);
    g_tty_fd = -1;
  }
  if (g_cleanup_set) {
    ::unlink(g_cleanup_path);
    g_cleanup_set = 0;
  }
}

void on_alarm(int)
{
  // Only async-signal-safe calls here.
  if (g_phase == k_connected && g_watchdog) {
    g_fired = 1;
    sem_post(&g_wake);
    return;
  }
  undo();
  if (g_phase == k_connecting) {
    say("token: timed out while connecting to the database\n");
    _exit(1);
  }
  say("token: timed out: the command did not finish within --timeout\n");
  _exit(2);
}

void on_fatal(int sig)
{
  undo();
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

void cancel_now()
{
  std::lock_guard<std::mutex> lock(g_db_mutex);
  if (g_db != nullptr) {
    tokenadm::cancel_statement(*g_db);
  }
}

// Waits for a fired deadline, cancels the running statement, and keeps
// asking (a cancel that lands between statements is dropped by the server)
// until the main thread reports, or the grace is over and the outcome is
// unknown.
void watchdog()
{
  for (;;) {
    while (sem_wait(&g_wake) != 0) {
    }
    for (int i = 0; i < k_grace_seconds * 4 && g_fired; ++i) {
      if (i % 4 == 0) {
        cancel_now();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    if (!g_fired) {
      continue; // the deadline was disarmed: the main thread took over
    }
    undo();
    std::string msg = "token: timed out, and the server did not confirm the cancel in time: ";
    msg += g_committed ? "the change was committed" : "outcome unknown";
    msg += g_subject[0] != '\0' ? std::string(": see `token show ") + g_subject + "`"
                                : std::string(": see `token audit`");
    msg += '\n';
    say(msg.c_str());
    _exit(2);
  }
}

} // namespace

void init_process()
{
  // A closed fd 0-2 would be taken by the next open(), say the database
  // socket, and a stray message would be written into the protocol
  // stream. /dev/null opened the wrong way round keeps it taken and still
  // makes a write (a token to a closed stdout) fail.
  for (int fd = 0; fd <= 2; ++fd) {
    if (::fcntl(fd, F_GETFD) < 0) {
      const int n = ::open("/dev/null", fd == 0 ? O_WRONLY : O_RDONLY);
      if (n >= 0 && n != fd) {
        ::dup2(n, fd);
        ::close(n);
      }
    }
  }
  // A write to a closed pipe fails with EPIPE and is handled as a failed
  // write, never a death by signal.
  std::signal(SIGPIPE, SIG_IGN);
  struct sigaction sa {};
  sa.sa_handler = on_fatal;
  sigemptyset(&sa.sa_mask);
  for (const int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) {
    struct sigaction old {};
    if (sigaction(sig, nullptr, &old) == 0 && old.sa_handler == SIG_IGN) {
      continue; // nohup, or a background job: stays ignored
    }
    sigaction(sig, &sa, nullptr);
  }
}

void arm_deadline(int seconds)
{
  g_fired = 0;
  g_seconds = seconds;
  if (seconds <= 0) {
    return;
  }
  struct sigaction sa {};
  sa.sa_handler = on_alarm;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGALRM, &sa, nullptr);
  alarm(static_cast<unsigned>(seconds));
}

void disarm_deadline()
{
  alarm(0);
  g_fired = 0;
}

bool deadline_fired() { return g_fired != 0; }
int deadline_seconds() { return g_seconds; }

void mark_committed() { g_committed = 1; }

void set_subject(const std::string& id)
{
  const auto n = std::min(id.size(), sizeof g_subject - 1);
  std::memcpy(g_subject, id.data(), n);
  g_subject[n] = '\0';
}

void set_cleanup_file(const std::string& path)
{
  if (path.empty() || path.size() >= sizeof g_cleanup_path) {
    g_cleanup_set = 0;
    return;
  }
  std::memcpy(g_cleanup_path, path.c_str(), path.size() + 1);
  g_cleanup_set = 1;
}

void clear_cleanup_file() { g_cleanup_set = 0; }

EchoOff::EchoOff(int fd)
{
  termios old{};
  if (::isatty(fd) == 0 || ::tcgetattr(fd, &old) != 0) {
    return;
  }
  g_saved_tty = old;
  g_tty_fd = fd;
  termios quiet = old;
  quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  ::tcsetattr(fd, TCSAFLUSH, &quiet);
  m_active = true;
}

EchoOff::~EchoOff()
{
  if (m_active && g_tty_fd >= 0) {
    ::tcsetattr(g_tty_fd, TCSAFLUSH, &g_saved_tty);
    g_tty_fd = -1;
  }
}

void DbCloser::operator()(tokenadm::Db* db) const noexcept
{
  {
    std::lock_guard<std::mutex> lock(g_db_mutex);
    if (g_db == db) {
      g_db = nullptr;
      g_phase = k_before;
    }
  }
  delete db;
}

namespace {
DbHandle connect_to(const Globals& g, const std::string& dsn)
{
  // libpq prints server notices that arrive while connecting (say
  // "WARNING: terminating connection due to immediate shutdown") straight
  // to stderr, before any notice processor can be set. Errors must stay
  // one line: stderr is parked on /dev/null until the connection is made.
  const int saved = ::dup(STDERR_FILENO);
  const int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (saved >= 0 && null >= 0) {
    g_stderr_fd = saved;
    ::dup2(null, STDERR_FILENO);
  }
  if (null >= 0) {
    ::close(null);
  }
  auto restore = [saved] {
    if (saved >= 0) {
      ::dup2(saved, STDERR_FILENO);
      g_stderr_fd = STDERR_FILENO;
      ::close(saved);
    }
  };
  DbHandle db;
  g_phase = k_connecting;
  try {
    db.reset(new tokenadm::Db(dsn, g.cfg.connect_timeout));
  } catch (...) {
    g_phase = k_before;
    restore();
    throw;
  }
  restore();
  if (g_seconds > 0 && !g_watchdog) {
    sem_init(&g_wake, 0, 0);
    std::thread(watchdog).detach();
    g_watchdog = true;
  }
  {
    std::lock_guard<std::mutex> lock(g_db_mutex);
    g_db = db.get();
  }
  g_phase = k_connected;
  return db;
}
} // namespace

DbHandle connect(const Globals& g, const std::string& positional_dsn)
{
  return connect_to(g, effective_dsn(g, positional_dsn).first);
}

DbHandle connect_verify(const Globals& g)
{
  return connect_to(g, verify_dsn(g).first);
}

} // namespace tokencli
