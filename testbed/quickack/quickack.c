// Test bed only: TCP_QUICKACK on the virtual cards' vpcd sockets. vpcd writes each frame's 2-byte
// length and its body in two segments without TCP_NODELAY, so the body waits for our ACK of the first,
// which Linux delays up to 40 ms: every emulated APDU would cost ~45 ms that no real reader has.
// Quick ACK is one-shot in the kernel; the card re-arms it after each read.
#include <node_api.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

static napi_value quickack(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  int32_t fd = -1;
  int ok = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc == 1 && napi_get_value_int32(env, argv[0], &fd) == napi_ok && fd >= 0) {
#ifdef TCP_QUICKACK
    int one = 1;
    ok = setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one) == 0;
#endif
  }
  napi_get_boolean(env, ok, &out);
  return out;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "quickAck", NAPI_AUTO_LENGTH, quickack, NULL, &fn);
  napi_set_named_property(env, exports, "quickAck", fn);
  return exports;
}
