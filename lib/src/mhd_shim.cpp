// libmicrohttpd, which only `token serve` uses, is loaded with dlopen when a
// server starts (see dynlib.hpp), not by every one-shot command. This file
// defines the MHD_* functions server.cpp calls, each forwarding to the
// library's own; they are local to libtokenadm (tokenadm.map). The first
// call, MHD_start_daemon, loads the library or throws. A function server.cpp
// starts to use must be added here (the library links with --no-undefined).

#include "dynlib.hpp"

#include <microhttpd.h>

#include <cstdarg>
#include <mutex>

namespace {

struct MhdApi {
  MHD_Daemon* (*start_daemon_va)(unsigned int, uint16_t, MHD_AcceptPolicyCallback, void*,
                                 MHD_AccessHandlerCallback, void*, va_list);
  void (*stop_daemon)(MHD_Daemon*);
  MHD_socket (*quiesce_daemon)(MHD_Daemon*);
  const MHD_ConnectionInfo* (*get_connection_info)(MHD_Connection*, MHD_ConnectionInfoType, ...);
  int (*get_connection_values)(MHD_Connection*, MHD_ValueKind, MHD_KeyValueIterator, void*);
  MHD_Result (*queue_response)(MHD_Connection*, unsigned int, MHD_Response*);
  MHD_Response* (*create_response_from_buffer)(size_t, void*, MHD_ResponseMemoryMode);
  MHD_Result (*add_response_header)(MHD_Response*, const char*, const char*);
  void (*destroy_response)(MHD_Response*);
  void (*suspend_connection)(MHD_Connection*);
  void (*resume_connection)(MHD_Connection*);
};

const MhdApi& mhd()
{
  static MhdApi api{};
  static std::once_flag once;
  std::call_once(once, [] {
    const tokenadm::DynLib lib("libmicrohttpd.so.12", "listen", "to serve HTTP",
                               "libmicrohttpd12");
    lib.load(api.start_daemon_va, "MHD_start_daemon_va");
    lib.load(api.stop_daemon, "MHD_stop_daemon");
    lib.load(api.quiesce_daemon, "MHD_quiesce_daemon");
    lib.load(api.get_connection_info, "MHD_get_connection_info");
    lib.load(api.get_connection_values, "MHD_get_connection_values");
    lib.load(api.queue_response, "MHD_queue_response");
    lib.load(api.create_response_from_buffer, "MHD_create_response_from_buffer");
    lib.load(api.add_response_header, "MHD_add_response_header");
    lib.load(api.destroy_response, "MHD_destroy_response");
    lib.load(api.suspend_connection, "MHD_suspend_connection");
    lib.load(api.resume_connection, "MHD_resume_connection");
  });
  return api;
}

} // namespace

extern "C" {

MHD_Daemon* MHD_start_daemon(unsigned int flags, uint16_t port, MHD_AcceptPolicyCallback apc,
                             void* apc_cls, MHD_AccessHandlerCallback dh, void* dh_cls, ...)
{
  const auto& api = mhd();
  va_list ap;
  va_start(ap, dh_cls);
  auto* d = api.start_daemon_va(flags, port, apc, apc_cls, dh, dh_cls, ap);
  va_end(ap);
  return d;
}

void MHD_stop_daemon(MHD_Daemon* daemon)
{
  mhd().stop_daemon(daemon);
}

MHD_socket MHD_quiesce_daemon(MHD_Daemon* daemon)
{
  return mhd().quiesce_daemon(daemon);
}

// The info types server.cpp asks for (client address, socket) take no
// further argument.
const MHD_ConnectionInfo* MHD_get_connection_info(MHD_Connection* connection,
                                                  MHD_ConnectionInfoType info_type, ...)
{
  return mhd().get_connection_info(connection, info_type);
}

int MHD_get_connection_values(MHD_Connection* connection, MHD_ValueKind kind,
                              MHD_KeyValueIterator iterator, void* iterator_cls)
{
  return mhd().get_connection_values(connection, kind, iterator, iterator_cls);
}

MHD_Result MHD_queue_response(MHD_Connection* connection, unsigned int status_code,
                              MHD_Response* response)
{
  return mhd().queue_response(connection, status_code, response);
}

MHD_Response* MHD_create_response_from_buffer(size_t size, void* buffer,
                                              MHD_ResponseMemoryMode mode)
{
  return mhd().create_response_from_buffer(size, buffer, mode);
}

MHD_Result MHD_add_response_header(MHD_Response* response, const char* header,
                                   const char* content)
{
  return mhd().add_response_header(response, header, content);
}

void MHD_destroy_response(MHD_Response* response)
{
  mhd().destroy_response(response);
}

void MHD_suspend_connection(MHD_Connection* connection)
{
  mhd().suspend_connection(connection);
}

void MHD_resume_connection(MHD_Connection* connection)
{
  mhd().resume_connection(connection);
}

} // extern "C"
