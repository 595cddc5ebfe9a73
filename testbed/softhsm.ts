// A private SoftHSM2 token laid out like a CPS card: the authentication key `CPS_PRIV_AUT` and its
// certificate "Certificat d'Authentification CPS" under one CKA_ID. SoftHSM has no PIN retry counter:
// tries-left and blocking are tested with OpenSC over an emulated card instead.
// Test bed only: the test PINs go through argv of softhsm2-util/pkcs11-tool, which production code never does.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createPrivateKey } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import type { IssuedCert } from './pki';

export const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';
export const CPS_LABELS = {
  authKey: 'CPS_PRIV_AUT',
  authCert: "Certificat d'Authentification CPS",
  techKey: 'CPS_PRIV_TECH_AUT',
  techCert: 'Certificat Technique CPS',
} as const;

export interface SoftHsmToken {
  modulePath: string;
  env: { SOFTHSM2_CONF: string };
  tokenLabel: string;
  pin: string;
  soPin: string;
}

export function provisionSoftHsm(
  dir: string,
  cert: IssuedCert,
  opts: { tokenLabel?: string; pin?: string } = {},
): SoftHsmToken {
  if (!fs.existsSync(SOFTHSM_MODULE)) throw new Error(`${SOFTHSM_MODULE} missing: install the Debian package softhsm2`);
  const tokens = path.join(dir, 'tokens');
  fs.mkdirSync(tokens, { recursive: true });
  const conf = path.join(dir, 'softhsm2.conf');
  fs.writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  const env = { ...process.env, SOFTHSM2_CONF: conf };
  const tokenLabel = opts.tokenLabel ?? 'CPS TEST';
  const pin = opts.pin ?? '1234';
  const soPin = '12345678';
  const run = (bin: string, args: string[]) => execFileSync(bin, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  run('softhsm2-util', ['--init-token', '--free', '--label', tokenLabel, '--pin', pin, '--so-pin', soPin]);
  run('softhsm2-util', [
    '--import',
    cert.keyFile,
    '--token',
    tokenLabel,
    '--label',
    CPS_LABELS.authKey,
    '--id',
    '01',
    '--pin',
    pin,
  ]);
  const der = path.join(dir, 'auth-cert.der');
  fs.writeFileSync(der, cert.certDer);
  run('pkcs11-tool', [
    '--module',
    SOFTHSM_MODULE,
    '--token-label',
    tokenLabel,
    '--login',
    '--pin',
    pin,
    '--write-object',
    der,
    '--type',
    'cert',
    '--id',
    '01',
    '--label',
    CPS_LABELS.authCert,
  ]);
  return { modulePath: SOFTHSM_MODULE, env: { SOFTHSM2_CONF: conf }, tokenLabel, pin, soPin };
}

/**
 * pkcs11js on a PKCS#11 module and the slot of the token labelled `label`. The module may already be
 * initialised by other code of this process (the agent's or the server's): that is not an error here.
 */
export function openToken(modulePath: string, label: string): { p11: pkcs11js.PKCS11; slot: Buffer } {
  const p11 = new pkcs11js.PKCS11();
  p11.load(modulePath);
  try {
    p11.C_Initialize();
  } catch (e) {
    if (!String((e as Error).message).startsWith('CKR_CRYPTOKI_ALREADY_INITIALIZED')) throw e;
  }
  const slot = p11.C_GetSlotList(true).find((s) => p11.C_GetTokenInfo(s).label.trim() === label);
  if (!slot) throw new Error(`PKCS#11 token "${label}" not found in ${modulePath}`);
  return { p11, slot };
}

/**
 * Adds the contactless technical key and certificate, as a CPS3 holds them: the key readable and usable
 * without PIN (CKA_PRIVATE false), which softhsm2-util's import cannot do, hence PKCS#11 directly.
 */
export function addTechnicalKey(token: SoftHsmToken, tech: IssuedCert): void {
  const prev = process.env.SOFTHSM2_CONF;
  process.env.SOFTHSM2_CONF = token.env.SOFTHSM2_CONF;
  const { p11, slot } = openToken(token.modulePath, token.tokenLabel);
  try {
    const s = p11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    p11.C_Login(s, pkcs11js.CKU_USER, token.pin);
    const jwk = createPrivateKey(tech.keyPem).export({ format: 'jwk' });
    const b = (v: string | undefined) => Buffer.from(v!, 'base64url');
    p11.C_CreateObject(s, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_RSA },
      { type: pkcs11js.CKA_TOKEN, value: true },
      { type: pkcs11js.CKA_PRIVATE, value: false },
      { type: pkcs11js.CKA_SIGN, value: true },
      { type: pkcs11js.CKA_LABEL, value: CPS_LABELS.techKey },
      { type: pkcs11js.CKA_ID, value: Buffer.from([0x02]) },
      { type: pkcs11js.CKA_MODULUS, value: b(jwk.n) },
      { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: b(jwk.e) },
      { type: pkcs11js.CKA_PRIVATE_EXPONENT, value: b(jwk.d) },
      { type: pkcs11js.CKA_PRIME_1, value: b(jwk.p) },
      { type: pkcs11js.CKA_PRIME_2, value: b(jwk.q) },
      { type: pkcs11js.CKA_EXPONENT_1, value: b(jwk.dp) },
      { type: pkcs11js.CKA_EXPONENT_2, value: b(jwk.dq) },
      { type: pkcs11js.CKA_COEFFICIENT, value: b(jwk.qi) },
    ]);
    p11.C_Logout(s);
    p11.C_CloseSession(s);
  } finally {
    p11.C_Finalize();
    if (prev === undefined) delete process.env.SOFTHSM2_CONF;
    else process.env.SOFTHSM2_CONF = prev;
  }
  // Certificates are public objects anyway; pkcs11-tool fills the attributes SoftHSM requires.
  const der = path.join(path.dirname(token.env.SOFTHSM2_CONF), 'tech-cert.der');
  fs.writeFileSync(der, tech.certDer);
  execFileSync(
    'pkcs11-tool',
    [
      '--module',
      token.modulePath,
      '--token-label',
      token.tokenLabel,
      '--login',
      '--pin',
      token.pin,
      '--write-object',
      der,
      '--type',
      'cert',
      '--id',
      '02',
      '--label',
      CPS_LABELS.techCert,
    ],
    {
      env: { ...process.env, SOFTHSM2_CONF: token.env.SOFTHSM2_CONF },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
}
