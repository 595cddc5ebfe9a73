// DESFire master keys in a PKCS#11 token (an HSM in production, SoftHSM in tests): each key is a
// non-extractable AES secret key labelled "DESFire F51230/1"; the AN10922 diversification is the token's
// own AES-CMAC over 0x01 || M, so masters never reach this process — only the one badge key derived for
// a tap, wiped after use. Undiversified keys would have to leave the token: refused here.
import pkcs11js from 'pkcs11js';
import type { RelayKeys } from './desfire-relay';

export interface HsmKeyOptions {
  module: string;
  tokenLabel: string;
  /** User PIN of the token: from the environment, never argv. */
  pin: string;
}

export const hsmKeyLabel = (name: string) => `DESFire ${name.toUpperCase()}`;

export function pkcs11RelayKeys(opts: HsmKeyOptions): RelayKeys & { close(): void } {
  const p11 = new pkcs11js.PKCS11();
  p11.load(opts.module);
  try {
    p11.C_Initialize();
  } catch (e) {
    if (!String((e as Error).message).startsWith('CKR_CRYPTOKI_ALREADY_INITIALIZED')) throw e;
  }
  const slot = p11.C_GetSlotList(true).find((s) => p11.C_GetTokenInfo(s).label.trim() === opts.tokenLabel);
  if (!slot) throw new Error(`PKCS#11 token "${opts.tokenLabel}" not found in ${opts.module}`);
  const session = p11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
  p11.C_Login(session, pkcs11js.CKU_USER, opts.pin);
  const handles = new Map<string, Buffer | null>();
  const find = (name: string): Buffer | null => {
    if (handles.has(name)) return handles.get(name)!;
    p11.C_FindObjectsInit(session, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_LABEL, value: hsmKeyLabel(name) },
    ]);
    const h = p11.C_FindObjects(session) ?? null;
    p11.C_FindObjectsFinal(session);
    handles.set(name, h);
    return h;
  };
  return {
    where: 'pkcs11',
    derive(name, div) {
      const key = find(name);
      if (!key) return null;
      if (!div.length) throw new Error('an undiversified key cannot be used from the HSM (it would have to leave it)');
      // One PKCS#11 session serves the whole process: C_SignInit/C_Sign pairs are synchronous here, so
      // concurrent requests cannot interleave inside one operation.
      p11.C_SignInit(session, { mechanism: pkcs11js.CKM_AES_CMAC }, key);
      return Buffer.from(p11.C_Sign(session, Buffer.concat([Buffer.from([0x01]), div]), Buffer.alloc(16)));
    },
    close() {
      try {
        p11.C_Logout(session);
        p11.C_CloseSession(session);
      } finally {
        p11.C_Finalize();
      }
    },
  };
}
