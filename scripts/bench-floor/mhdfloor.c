/* The floor for token serve's HTTP side: libmicrohttpd in serve's mode (epoll,
 * a pool of 2 threads, suspend/resume), where each request is suspended and
 * resumed from another thread, as serve's dispatcher does after its database
 * lookup, and answered with serve's headers and a body of the same size. No
 * database, no token parsing: what is left is the HTTP stack and the hand-off.
 *   mhdfloor     (prints the port it listens on, 127.0.0.1, then serves until killed)
 * Built by scripts/bench:  cc -O2 mhdfloor.c $(pkg-config --cflags --libs libmicrohttpd) -lpthread */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char body[] = "{\"valid\":true,\"id\":\"abcdefgh12\",\"owner\":\"bench1\"}\n";
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static struct MHD_Connection* queue[65536];
static int queued = 0;

static enum MHD_Result answer(struct MHD_Connection* c)
{
  struct MHD_Response* r =
    MHD_create_response_from_buffer(sizeof body - 1, (void*)body, MHD_RESPMEM_MUST_COPY);
  MHD_add_response_header(r, "Content-Type", "application/json");
  MHD_add_response_header(r, "Cache-Control", "no-store");
  MHD_add_response_header(r, "X-Token-Owner", "bench1");
  MHD_add_response_header(r, "X-Token-Id", "abcdefgh12");
  enum MHD_Result rc = MHD_queue_response(c, 200, r);
  MHD_destroy_response(r);
  return rc;
}

/* The dispatcher: resumes every queued connection at once. */
static void* dispatcher(void* unused)
{
  (void)unused;
  static struct MHD_Connection* batch[65536];
  for (;;) {
    pthread_mutex_lock(&mu);
    while (queued == 0) {
      pthread_cond_wait(&cv, &mu);
    }
    const int n = queued;
    memcpy(batch, queue, (size_t)n * sizeof *batch);
    queued = 0;
    pthread_mutex_unlock(&mu);
    for (int i = 0; i < n; i++) {
      MHD_resume_connection(batch[i]);
    }
  }
  return NULL;
}

/* First call: headers read; suspend and queue. After the resume: answer. */
static enum MHD_Result on_request(void* cls, struct MHD_Connection* c, const char* url,
                                  const char* method, const char* version, const char* data,
                                  size_t* size, void** state)
{
  (void)cls, (void)url, (void)method, (void)version, (void)data, (void)size;
  if (*state == NULL) {
    *state = (void*)1;
    return MHD_YES;
  }
  if (*state == (void*)2) {
    return answer(c);
  }
  *state = (void*)2;
  pthread_mutex_lock(&mu);
  MHD_suspend_connection(c);
  const int first = queued == 0;
  if (queued < 65536) {
    queue[queued++] = c;
  }
  pthread_mutex_unlock(&mu);
  if (first) {
    pthread_cond_signal(&cv);
  }
  return MHD_YES;
}

int main(void)
{
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  struct MHD_Daemon* d = MHD_start_daemon(
    MHD_USE_EPOLL | MHD_USE_INTERNAL_POLLING_THREAD | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL,
    &on_request, NULL, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_THREAD_POOL_SIZE, 2u, MHD_OPTION_END);
  if (d == NULL) {
    fprintf(stderr, "mhdfloor: cannot start\n");
    return 1;
  }
  pthread_t t;
  pthread_create(&t, NULL, dispatcher, NULL);
  printf("%u\n", (unsigned)MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port);
  fflush(stdout);
  pause();
  return 0;
}
