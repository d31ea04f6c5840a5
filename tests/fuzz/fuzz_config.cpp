// libFuzzer harness: load_config on arbitrary file contents. Only
// tokenadm::Error may come out of it; anything else propagates and
// crashes the harness.
#include "tokenadm/config.hpp"
#include "tokenadm/errors.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

extern char** environ;

namespace {

std::string g_dir;
std::string g_path;

void cleanup()
{
  ::unlink(g_path.c_str());
  ::rmdir(g_dir.c_str());
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***)
{
  // The file alone decides: no TOKENADM_* override applies.
  std::vector<std::string> names;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string var(*e);
    if (var.rfind("TOKENADM_", 0) == 0) {
      names.push_back(var.substr(0, var.find('=')));
    }
  }
  for (const auto& name : names) {
    ::unsetenv(name.c_str());
  }
  const char* tmp = std::getenv("TMPDIR");
  std::string templ =
      std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/fuzz_config.XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) {
    std::abort();
  }
  g_dir = templ;
  g_path = g_dir + "/tokenadm.toml";
  std::atexit(cleanup);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
  const int fd = ::open(g_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 || ::fchmod(fd, 0600) != 0) {
    std::abort();
  }
  std::size_t done = 0;
  while (done < size) {
    const auto n = ::write(fd, data + done, size - done);
    if (n <= 0) {
      std::abort();
    }
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  try {
    const auto cfg = tokenadm::load_config(g_path);
    // What `token config show` would print must be computable too.
    (void)tokenadm::show_config(cfg, cfg.dsn, "config",
                                tokenadm::resolve_verify_dsn("", cfg, {cfg.dsn, "config"}));
  } catch (const tokenadm::Error&) {
  }
  return 0;
}
