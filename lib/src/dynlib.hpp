// Libraries that only one command needs (libcurl for mail, libmicrohttpd for
// serve) are loaded with dlopen when first used: linked normally, they and
// their dependencies would be loaded and relocated by every one-shot command.
#pragma once

#include "tokenadm/errors.hpp"

#include <dlfcn.h>

#include <string>
#include <type_traits>

namespace tokenadm {

// A library opened with dlopen; `purpose` says in an error what it is for and
// `package` which Debian package provides it.
class DynLib {
public:
  DynLib(const char* soname, const char* kind, const char* purpose, const char* package)
    : m_soname(soname), m_kind(kind)
  {
    m_handle = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (m_handle == nullptr) {
      throw Error(kind, std::string("cannot load ") + soname + " " + purpose + " (install "
                          + package + ")");
    }
  }

  // Sets `fn` to the library's function `name`.
  template<typename F>
  void load(F& fn, const char* name) const
  {
    fn = reinterpret_cast<std::remove_reference_t<F>>(dlsym(m_handle, name));
    if (fn == nullptr) {
      throw Error(m_kind, std::string(m_soname) + " has no " + name);
    }
  }

private:
  const char* m_soname;
  const char* m_kind;
  void* m_handle = nullptr; // never closed: the functions stay in use until exit
};

} // namespace tokenadm
