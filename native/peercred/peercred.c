// Who is on the other end of a local socket, as the kernel says: the DPI broker registers
// applications by executable, and a process cannot lie about its pid/uid here (unlike a claim it
// would send). Linux: SO_PEERCRED; macOS: LOCAL_PEERPID + getpeereid. Windows named pipes need
// GetNamedPipeClientProcessId on the pipe handle, which Node does not expose (see native/README.md).
//
// A pid read at connect time names a process, not a program: the process may exec another file
// afterwards (a process connects, forks, and lets the parent exec the registered binary while the
// child keeps the socket). So, on Linux, the broker also asks the kernel:
// - pidfdOpen/pidfdAlive: a handle on the connecting process itself, so a pid reused by another
//   process is never taken for it;
// - readLine: the peer's next line read with SO_PASSCRED, each piece stamped by the kernel with the
//   pid of the process that wrote it (a child holding the socket writes with its own pid).
// The broker sends a fresh challenge after taking the pidfd and the executable, and accepts only an
// answer written by that process, still alive and still running the same file.
#define _GNU_SOURCE
#include <node_api.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <errno.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#ifdef __linux__
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <time.h>
#include <sys/syscall.h>
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#endif
#ifdef __APPLE__
#include <sys/un.h>
#endif

static napi_value fail(napi_env env, const char *what, int err) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_throw_error(env, "ERR_PEERCRED", msg);
  return NULL;
}

static int int_arg(napi_env env, napi_callback_info info, size_t n, int32_t *out, const char *usage) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < n + 1 ||
      napi_get_value_int32(env, argv[n], out) != napi_ok) {
    napi_throw_type_error(env, NULL, usage);
    return 0;
  }
  return 1;
}

static napi_value num(napi_env env, double v) {
  napi_value out;
  napi_create_double(env, v, &out);
  return out;
}

static napi_value peer(napi_env env, napi_callback_info info) {
  int32_t fd = -1;
  if (!int_arg(env, info, 0, &fd, "peerCredentials(fd): a socket file descriptor is required") || fd < 0) return NULL;
  long pid, uid, gid;
#ifdef __linux__
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return fail(env, "SO_PEERCRED", errno);
  pid = cred.pid; uid = cred.uid; gid = cred.gid;
#elif defined(__APPLE__)
  pid_t p; socklen_t len = sizeof p; uid_t u; gid_t g;
  if (getsockopt(fd, SOL_LOCAL, LOCAL_PEERPID, &p, &len) != 0) return fail(env, "LOCAL_PEERPID", errno);
  if (getpeereid(fd, &u, &g) != 0) return fail(env, "getpeereid", errno);
  pid = p; uid = u; gid = g;
#else
  napi_throw_error(env, "ERR_PEERCRED_UNSUPPORTED", "peer credentials are not implemented on this platform");
  return NULL;
#endif
  napi_value out;
  napi_create_object(env, &out);
  napi_set_named_property(env, out, "pid", num(env, pid));
  napi_set_named_property(env, out, "uid", num(env, uid));
  napi_set_named_property(env, out, "gid", num(env, gid));
  return out;
}

#ifdef __linux__
/** SO_PASSCRED on: from now on every piece the peer writes reaches us with its writer's credentials. */
static napi_value pass_cred(napi_env env, napi_callback_info info) {
  int32_t fd = -1;
  if (!int_arg(env, info, 0, &fd, "passCredentials(fd)") || fd < 0) return NULL;
  int on = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof on) != 0) return fail(env, "SO_PASSCRED", errno);
  return NULL;
}

static napi_value pidfd_open_js(napi_env env, napi_callback_info info) {
  int32_t pid = -1;
  if (!int_arg(env, info, 0, &pid, "pidfdOpen(pid)") || pid <= 0) return NULL;
  int fd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
  if (fd < 0) return fail(env, "pidfd_open", errno);
  return num(env, fd);
}

/** True while the process behind the pidfd runs (a pidfd turns readable when its process exits). */
static napi_value pidfd_alive_js(napi_env env, napi_callback_info info) {
  int32_t fd = -1;
  if (!int_arg(env, info, 0, &fd, "pidfdAlive(pidfd)") || fd < 0) return NULL;
  struct pollfd p = {fd, POLLIN, 0};
  int r;
  do r = poll(&p, 1, 0);
  while (r < 0 && errno == EINTR);
  napi_value out;
  napi_get_boolean(env, r == 0, &out);
  return out;
}

static napi_value close_js(napi_env env, napi_callback_info info) {
  int32_t fd = -1;
  if (!int_arg(env, info, 0, &fd, "closeFd(fd)") || fd < 0) return NULL;
  close(fd);
  return NULL;
}

typedef struct {
  int fd; /* our own dup: the socket may be destroyed by JS meanwhile */
  int timeout_ms;
  size_t max;
  napi_deferred deferred;
  napi_threadsafe_function tsfn;
  int err;
  const char *what;
  long pid, uid, gid;
  int seen, mixed;
  unsigned char *buf;
  size_t len;
} line_job;

static long ms_since(const struct timespec *t0) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (t.tv_sec - t0->tv_sec) * 1000L + (t.tv_nsec - t0->tv_nsec) / 1000000L;
}

static void *line_thread(void *arg) {
  line_job *j = arg;
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    long left = j->timeout_ms - ms_since(&t0);
    if (left <= 0) { j->err = ETIMEDOUT; j->what = "no answer in time"; break; }
    struct pollfd p = {j->fd, POLLIN, 0};
    int r = poll(&p, 1, (int)left);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) { j->err = errno; j->what = "poll"; break; }
    if (r == 0) continue;
    union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(struct ucred))]; } c;
    struct iovec iov = {j->buf + j->len, j->max - j->len};
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = c.b;
    m.msg_controllen = sizeof c.b;
    ssize_t n = recvmsg(j->fd, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n < 0) { j->err = errno; j->what = "recvmsg"; break; }
    if (n == 0) { j->err = ECONNRESET; j->what = "closed before answering"; break; }
    /* No credentials at all (sent before SO_PASSCRED took effect) counts as an unknown writer. */
    long pid = 0, uid = -1, gid = -1;
    for (struct cmsghdr *h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h)) {
      if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_CREDENTIALS) {
        struct ucred u;
        memcpy(&u, CMSG_DATA(h), sizeof u);
        pid = u.pid; uid = u.uid; gid = u.gid;
      }
    }
    if (!j->seen) { j->pid = pid; j->uid = uid; j->gid = gid; j->seen = 1; }
    else if (pid != j->pid || uid != j->uid || gid != j->gid) j->mixed = 1;
    size_t from = j->len;
    j->len += (size_t)n;
    if (memchr(j->buf + from, '\n', (size_t)n)) break;
    if (j->len >= j->max) { j->err = EMSGSIZE; j->what = "line too long"; break; }
  }
  close(j->fd);
  // j belongs to the main thread from the call on (line_done frees it): keep the handle aside.
  napi_threadsafe_function tsfn = j->tsfn;
  napi_call_threadsafe_function(tsfn, j, napi_tsfn_blocking);
  napi_release_threadsafe_function(tsfn, napi_tsfn_release);
  return NULL;
}

static void line_done(napi_env env, napi_value cb, void *ctx, void *data) {
  (void)cb; (void)ctx;
  line_job *j = data;
  if (env) {
    if (j->err) {
      char msg[160];
      snprintf(msg, sizeof msg, "%s (%s)", j->what ? j->what : "read", strerror(j->err));
      napi_value m, e;
      napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
      napi_create_error(env, NULL, m, &e);
      napi_reject_deferred(env, j->deferred, e);
    } else {
      napi_value out, b, v;
      napi_create_object(env, &out);
      napi_set_named_property(env, out, "pid", num(env, j->pid));
      napi_set_named_property(env, out, "uid", num(env, j->uid));
      napi_set_named_property(env, out, "gid", num(env, j->gid));
      napi_get_boolean(env, j->mixed, &v);
      napi_set_named_property(env, out, "mixed", v);
      napi_create_buffer_copy(env, j->len, j->buf, NULL, &b);
      napi_set_named_property(env, out, "data", b);
      napi_resolve_deferred(env, j->deferred, out);
    }
  }
  free(j->buf);
  free(j);
}

/** readLine(fd, timeoutMs, maxBytes) → Promise<{pid, uid, gid, mixed, data}>, on a thread of its own. */
static napi_value read_line(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  int32_t fd = -1, timeout = 0, max = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_value_int32(env, argv[1], &timeout) != napi_ok ||
      napi_get_value_int32(env, argv[2], &max) != napi_ok || fd < 0 || timeout <= 0 || max <= 0) {
    napi_throw_type_error(env, NULL, "readLine(fd, timeoutMs, maxBytes)");
    return NULL;
  }
  line_job *j = calloc(1, sizeof *j);
  if (!j || !(j->buf = malloc((size_t)max))) {
    free(j);
    return fail(env, "readLine", ENOMEM);
  }
  j->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (j->fd < 0) {
    int e = errno;
    free(j->buf);
    free(j);
    return fail(env, "dup", e);
  }
  j->timeout_ms = timeout;
  j->max = (size_t)max;
  napi_value promise, name;
  napi_create_promise(env, &j->deferred, &promise);
  napi_create_string_utf8(env, "peercred.readLine", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, NULL, NULL, name, 0, 1, NULL, NULL, NULL, line_done, &j->tsfn) != napi_ok) {
    close(j->fd);
    free(j->buf);
    free(j);
    return fail(env, "readLine", EAGAIN);
  }
  // A peer that never answers must not keep the agent from exiting.
  napi_unref_threadsafe_function(env, j->tsfn);
  pthread_t t;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  int r = pthread_create(&t, &attr, line_thread, j);
  pthread_attr_destroy(&attr);
  if (r != 0) {
    napi_release_threadsafe_function(j->tsfn, napi_tsfn_abort);
    close(j->fd);
    free(j->buf);
    free(j);
    return fail(env, "pthread_create", r);
  }
  return promise;
}
#endif

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "peerCredentials", NAPI_AUTO_LENGTH, peer, NULL, &fn);
  napi_set_named_property(env, exports, "peerCredentials", fn);
#ifdef __linux__
  napi_create_function(env, "passCredentials", NAPI_AUTO_LENGTH, pass_cred, NULL, &fn);
  napi_set_named_property(env, exports, "passCredentials", fn);
  napi_create_function(env, "pidfdOpen", NAPI_AUTO_LENGTH, pidfd_open_js, NULL, &fn);
  napi_set_named_property(env, exports, "pidfdOpen", fn);
  napi_create_function(env, "pidfdAlive", NAPI_AUTO_LENGTH, pidfd_alive_js, NULL, &fn);
  napi_set_named_property(env, exports, "pidfdAlive", fn);
  napi_create_function(env, "closeFd", NAPI_AUTO_LENGTH, close_js, NULL, &fn);
  napi_set_named_property(env, exports, "closeFd", fn);
  napi_create_function(env, "readLine", NAPI_AUTO_LENGTH, read_line, NULL, &fn);
  napi_set_named_property(env, exports, "readLine", fn);
#endif
  return exports;
}
