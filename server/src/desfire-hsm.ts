// DESFire master keys in a PKCS#11 token (an HSM in production, SoftHSM in tests): each key is a
// non-extractable AES secret key labelled "DESFire F51230/1"; the AN10922 diversification is the token's
// own AES-CMAC (CKM_AES_CMAC, CKA_SIGN), so masters never reach this process — only the one badge key
// derived for a tap, wiped after use. For inputs of 15 bytes or less AN10922 pads to 32 bytes where
// RFC 4493 does not; the CMAC subkeys that bridge the two come from the token's encryption of the zero
// block (CKM_AES_ECB, CKA_ENCRYPT), see an10922TokenMessage. Undiversified keys would have to leave the
// token: refused here.
import { an10922TokenMessage } from '@sillage/protocol';
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
    derive(name, div, scheme) {
      const key = find(name);
      if (!key) return null;
      if (!div.length) throw new Error('an undiversified key cannot be used from the HSM (it would have to leave it)');
      // One PKCS#11 session serves the whole process: each Init/operation pair is synchronous here, so
      // concurrent requests cannot interleave inside one operation.
      const message = an10922TokenMessage(div, scheme, () => {
        try {
          p11.C_EncryptInit(session, { mechanism: pkcs11js.CKM_AES_ECB }, key);
          return Buffer.from(p11.C_Encrypt(session, Buffer.alloc(16), Buffer.alloc(16)));
        } catch (e) {
          throw new Error(
            `${hsmKeyLabel(name)}: AN10922 needs the key to allow CKM_AES_ECB encryption (CKA_ENCRYPT) for its ` +
              `subkeys: ${(e as Error).message}`,
          );
        }
      });
      p11.C_SignInit(session, { mechanism: pkcs11js.CKM_AES_CMAC }, key);
      const derived = Buffer.from(p11.C_Sign(session, message, Buffer.alloc(16)));
      message.fill(0);
      return derived;
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
