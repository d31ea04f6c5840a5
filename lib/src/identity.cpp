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
  if (const passwd* pw = getpwuid(uid); pw != nullptr && pw->pw_name != nullptr) {
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
