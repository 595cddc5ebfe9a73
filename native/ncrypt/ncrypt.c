// Windows workstation keys in the TPM through CNG's Microsoft Platform Crypto Provider: an ECDSA P-256 key
// created in the TPM under a name, its public point exported, SHA-256 digests signed by it. The provider
// never exports a TPM private key; the export policy is set to none all the same. Written against the
// documented NCrypt API (ncrypt.h); built by electron-builder's rebuild on Windows only.
#ifdef _WIN32
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <ncrypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <node_api.h>

#define MAX_NAME 128

static napi_value throw_status(napi_env env, const char *what, SECURITY_STATUS st) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s failed (0x%08lx)", what, (unsigned long)st);
  napi_throw_error(env, "ERR_NCRYPT", msg);
  return NULL;
}

// The key name, a JS string, as UTF-16 (CNG's LPCWSTR).
static int key_name(napi_env env, napi_value v, wchar_t *out) {
  size_t len = 0;
  if (napi_get_value_string_utf16(env, v, (char16_t *)out, MAX_NAME, &len) != napi_ok || len == 0 || len >= MAX_NAME - 1) {
    napi_throw_type_error(env, NULL, "a key name of 1 to 126 characters is required");
    return 0;
  }
  return 1;
}

static SECURITY_STATUS open_provider(NCRYPT_PROV_HANDLE *prov) {
  return NCryptOpenStorageProvider(prov, MS_PLATFORM_CRYPTO_PROVIDER, 0);
}

// BCRYPT_ECCPUBLIC_BLOB (header, X, Y) → 04 || X || Y.
static napi_value public_point(napi_env env, NCRYPT_KEY_HANDLE key) {
  BYTE blob[sizeof(BCRYPT_ECCKEY_BLOB) + 64];
  DWORD size = 0;
  SECURITY_STATUS st = NCryptExportKey(key, 0, BCRYPT_ECCPUBLIC_BLOB, NULL, blob, sizeof blob, &size, 0);
  if (st != ERROR_SUCCESS) return throw_status(env, "NCryptExportKey", st);
  BCRYPT_ECCKEY_BLOB *h = (BCRYPT_ECCKEY_BLOB *)blob;
  if (h->dwMagic != BCRYPT_ECDSA_PUBLIC_P256_MAGIC || h->cbKey != 32 || size != sizeof *h + 64) {
    napi_throw_error(env, "ERR_NCRYPT", "unexpected public key blob");
    return NULL;
  }
  void *data;
  napi_value out;
  napi_create_buffer(env, 65, &data, &out);
  ((BYTE *)data)[0] = 0x04;
  memcpy((BYTE *)data + 1, blob + sizeof *h, 64);
  return out;
}

// available(): the platform provider opens and offers ECDSA P-256 (a TPM 2.0 is present and usable).
static napi_value available(napi_env env, napi_callback_info info) {
  NCRYPT_PROV_HANDLE prov = 0;
  int ok = open_provider(&prov) == ERROR_SUCCESS && NCryptIsAlgSupported(prov, BCRYPT_ECDSA_P256_ALGORITHM, 0) == ERROR_SUCCESS;
  if (prov) NCryptFreeObject(prov);
  napi_value out;
  napi_get_boolean(env, ok, &out);
  return out;
}

// A new persisted key of this user in the TPM, not exportable (the provider never exports one anyway).
static SECURITY_STATUS create_persisted(NCRYPT_PROV_HANDLE prov, NCRYPT_KEY_HANDLE *key, const wchar_t *name) {
  SECURITY_STATUS st = NCryptCreatePersistedKey(prov, key, BCRYPT_ECDSA_P256_ALGORITHM, name, 0, 0);
  if (st == ERROR_SUCCESS) {
    DWORD policy = 0;
    st = NCryptSetProperty(*key, NCRYPT_EXPORT_POLICY_PROPERTY, (PBYTE)&policy, sizeof policy, NCRYPT_PERSIST_FLAG);
  }
  if (st == ERROR_SUCCESS) st = NCryptFinalizeKey(*key, 0);
  return st;
}

// The public point of the key named by the call's one argument, created first when `create`.
static napi_value key_point(napi_env env, napi_callback_info info, int create) {
  size_t argc = 1;
  napi_value argv[1];
  wchar_t name[MAX_NAME];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || !key_name(env, argv[0], name)) return NULL;
  NCRYPT_PROV_HANDLE prov = 0;
  NCRYPT_KEY_HANDLE key = 0;
  napi_value out = NULL;
  SECURITY_STATUS st = open_provider(&prov);
  if (st != ERROR_SUCCESS) return throw_status(env, "NCryptOpenStorageProvider", st);
  st = create ? create_persisted(prov, &key, name) : NCryptOpenKey(prov, &key, name, 0, 0);
  if (st != ERROR_SUCCESS) throw_status(env, create ? "creating the TPM key" : "NCryptOpenKey", st);
  else out = public_point(env, key);
  if (key) NCryptFreeObject(key);
  NCryptFreeObject(prov);
  return out;
}

// createKey(name) → public point: a new persisted key of this user, in the TPM, not exportable.
static napi_value create_key(napi_env env, napi_callback_info info) {
  return key_point(env, info, 1);
}

// openKey(name) → public point of an existing key; throws when it is gone.
static napi_value open_key(napi_env env, napi_callback_info info) {
  return key_point(env, info, 0);
}

// sign(name, digest) → Promise<r || s>: the TPM's signature runs on a worker thread (tens of ms).
typedef struct {
  wchar_t name[MAX_NAME];
  BYTE digest[32];
  BYTE sig[64];
  DWORD sig_len;
  SECURITY_STATUS st;
  const char *step;
  napi_deferred deferred;
  napi_async_work work;
} sign_job;

static void sign_execute(napi_env env, void *data) {
  sign_job *j = data;
  NCRYPT_PROV_HANDLE prov = 0;
  NCRYPT_KEY_HANDLE key = 0;
  j->step = "NCryptOpenStorageProvider";
  j->st = open_provider(&prov);
  if (j->st == ERROR_SUCCESS) {
    j->step = "NCryptOpenKey";
    j->st = NCryptOpenKey(prov, &key, j->name, 0, 0);
  }
  if (j->st == ERROR_SUCCESS) {
    j->step = "NCryptSignHash";
    j->st = NCryptSignHash(key, NULL, j->digest, sizeof j->digest, j->sig, sizeof j->sig, &j->sig_len, 0);
  }
  if (key) NCryptFreeObject(key);
  if (prov) NCryptFreeObject(prov);
}

static void sign_complete(napi_env env, napi_status status, void *data) {
  sign_job *j = data;
  napi_value v;
  if (status == napi_ok && j->st == ERROR_SUCCESS && j->sig_len == 64) {
    void *out;
    napi_create_buffer_copy(env, 64, j->sig, &out, &v);
    napi_resolve_deferred(env, j->deferred, v);
  } else {
    char msg[160];
    snprintf(msg, sizeof msg, "%s failed (0x%08lx)", j->step, (unsigned long)j->st);
    napi_value m;
    napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
    napi_create_error(env, NULL, m, &v);
    napi_reject_deferred(env, j->deferred, v);
  }
  napi_delete_async_work(env, j->work);
  free(j);
}

static napi_value sign(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  sign_job *j = calloc(1, sizeof *j);
  if (!j) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  void *digest;
  size_t len = 0;
  bool is_buffer = false;
  if (argc < 2 || !key_name(env, argv[0], j->name) || napi_is_buffer(env, argv[1], &is_buffer) != napi_ok || !is_buffer ||
      napi_get_buffer_info(env, argv[1], &digest, &len) != napi_ok || len != 32) {
    free(j);
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (!pending) napi_throw_type_error(env, NULL, "sign(name, digest): a 32-byte SHA-256 digest is required");
    return NULL;
  }
  memcpy(j->digest, digest, 32);
  napi_value promise, resource;
  napi_create_promise(env, &j->deferred, &promise);
  napi_create_string_utf8(env, "ncrypt.sign", NAPI_AUTO_LENGTH, &resource);
  napi_create_async_work(env, NULL, resource, sign_execute, sign_complete, j, &j->work);
  napi_queue_async_work(env, j->work);
  return promise;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "available", NAPI_AUTO_LENGTH, available, NULL, &fn);
  napi_set_named_property(env, exports, "available", fn);
  napi_create_function(env, "createKey", NAPI_AUTO_LENGTH, create_key, NULL, &fn);
  napi_set_named_property(env, exports, "createKey", fn);
  napi_create_function(env, "openKey", NAPI_AUTO_LENGTH, open_key, NULL, &fn);
  napi_set_named_property(env, exports, "openKey", fn);
  napi_create_function(env, "sign", NAPI_AUTO_LENGTH, sign, NULL, &fn);
  napi_set_named_property(env, exports, "sign", fn);
  return exports;
}
#endif
