// Who is on the other end of a local socket, as the kernel says: the DPI broker registers
// applications by executable, and a process cannot lie about its pid/uid here (unlike a claim it
// would send). Linux: SO_PEERCRED; macOS: LOCAL_PEERPID + getpeereid. Windows named pipes need
// GetNamedPipeClientProcessId on the pipe handle, which Node does not expose (see native/README.md).
#define _GNU_SOURCE
#include <node_api.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <errno.h>
#include <string.h>
#include <stdio.h>
#ifdef __APPLE__
#include <sys/un.h>
#include <unistd.h>
#endif

static napi_value fail(napi_env env, const char *what, int err) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_throw_error(env, "ERR_PEERCRED", msg);
  return NULL;
}

static napi_value peer(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd = -1;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, NULL, "peerCredentials(fd): a socket file descriptor is required");
    return NULL;
  }
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
  napi_value out, v;
  napi_create_object(env, &out);
  napi_create_int64(env, pid, &v); napi_set_named_property(env, out, "pid", v);
  napi_create_int64(env, uid, &v); napi_set_named_property(env, out, "uid", v);
  napi_create_int64(env, gid, &v); napi_set_named_property(env, out, "gid", v);
  return out;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "peerCredentials", NAPI_AUTO_LENGTH, peer, NULL, &fn);
  napi_set_named_property(env, exports, "peerCredentials", fn);
  return exports;
}
