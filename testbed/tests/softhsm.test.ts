// PKCS#11 against SoftHSM2 with the IGC-Santé-shaped test PKI: read the authentication certificate
// without PIN, log in, sign a challenge (PKCS#1 v1.5 and PSS), verify with the certificate's key.
import { X509Certificate, constants, randomBytes, verify } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pkcs11js from 'pkcs11js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestPki } from '../pki';
import { CPS_LABELS, provisionSoftHsm } from '../softhsm';
import type { SoftHsmToken } from '../softhsm';

let dir: string;
let token: SoftHsmToken;
const p11 = new pkcs11js.PKCS11();
let session: Buffer;

function findOne(cls: number, label: string): Buffer {
  p11.C_FindObjectsInit(session, [
    { type: pkcs11js.CKA_CLASS, value: cls },
    { type: pkcs11js.CKA_LABEL, value: label },
  ]);
  const h = p11.C_FindObjects(session);
  p11.C_FindObjectsFinal(session);
  if (!h) throw new Error(`no object ${label}`);
  return h;
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-softhsm-'));
  const pki = makeTestPki(path.join(dir, 'pki'));
  const cert = pki.issue({ idNat: '899999000011', lastName: 'MARTIN', firstName: 'Camille', profession: 'Infirmière' });
  token = provisionSoftHsm(path.join(dir, 'hsm'), cert);
  process.env.SOFTHSM2_CONF = token.env.SOFTHSM2_CONF;
  p11.load(token.modulePath);
  p11.C_Initialize();
  const slot = p11.C_GetSlotList(true).find((s) => p11.C_GetTokenInfo(s).label.trim() === token.tokenLabel);
  if (!slot) throw new Error('token not found');
  session = p11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
});

afterAll(() => {
  try {
    if (session) p11.C_CloseSession(session);
    if (session) p11.C_Finalize();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

describe('SoftHSM token shaped like a CPS card', () => {
  let cert: X509Certificate;

  it('reads the authentication certificate without PIN and parses the CPS identity', () => {
    const h = findOne(pkcs11js.CKO_CERTIFICATE, CPS_LABELS.authCert);
    const [value] = p11.C_GetAttributeValue(session, h, [{ type: pkcs11js.CKA_VALUE }]);
    cert = new X509Certificate(value!.value as Buffer);
    expect(cert.subject).toContain('CN=899999000011');
    expect(cert.subject).toContain('title=Infirmière');
    expect(cert.subjectAltName).toBe('othername:UPN:8.99999000011@carte-cps.fr');
    expect(cert.issuer).toContain('CN=TEST AC IGC-SANTE FORT PERSONNES');
    // The private key is not visible before login.
    expect(() => findOne(pkcs11js.CKO_PRIVATE_KEY, CPS_LABELS.authKey)).toThrow(/no object/);
  });

  it('refuses a wrong PIN', () => {
    expect(() => p11.C_Login(session, pkcs11js.CKU_USER, '0000')).toThrow(/CKR_PIN_INCORRECT/);
  });

  it('signs a challenge with the authentication key in PKCS#1 v1.5 and PSS', () => {
    p11.C_Login(session, pkcs11js.CKU_USER, token.pin);
    const key = findOne(pkcs11js.CKO_PRIVATE_KEY, CPS_LABELS.authKey);
    const challenge = randomBytes(32);

    p11.C_SignInit(session, { mechanism: pkcs11js.CKM_SHA256_RSA_PKCS }, key);
    const v15 = p11.C_Sign(session, challenge, Buffer.alloc(256));
    expect(verify('sha256', challenge, cert.publicKey, v15)).toBe(true);
    expect(verify('sha256', randomBytes(32), cert.publicKey, v15)).toBe(false);

    const pssParams: pkcs11js.RsaPSS = {
      type: pkcs11js.CK_PARAMS_RSA_PSS,
      hashAlg: pkcs11js.CKM_SHA256,
      mgf: pkcs11js.CKG_MGF1_SHA256,
      saltLen: 32,
    };
    p11.C_SignInit(session, { mechanism: pkcs11js.CKM_SHA256_RSA_PKCS_PSS, parameter: pssParams }, key);
    const pss = p11.C_Sign(session, challenge, Buffer.alloc(256));
    const pssKey = { key: cert.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 };
    expect(verify('sha256', challenge, pssKey, pss)).toBe(true);
    p11.C_Logout(session);
  });
});
