#include "tokenadm/identity.hpp"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>

namespace tokenadm {

std::string Actor::describe() const
{
  if (sudo_user.empty() || sudo_user == user) {
    return user;
  }
  return user + " (sudo from " + sudo_user + ")";
}

Actor current_actor()
{
  Actor a;
  const uid_t uid = geteuid();
  // getpwuid_r: the Verifier calls this from several threads.
  passwd pwd{};
  passwd* pw = nullptr;
  char buf[4096];
  if (getpwuid_r(uid, &pwd, buf, sizeof buf, &pw) == 0 && pw != nullptr && pw->pw_name != nullptr) {
    a.user = pw->pw_name;
  } else {
    a.user = "uid " + std::to_string(uid);
  }
  if (const char* s = std::getenv("SUDO_USER"); s != nullptr) {
    a.sudo_user = s;
  }
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) == 0) {
    a.host = host;
  }
  return a;
}

} // namespace tokenadm
