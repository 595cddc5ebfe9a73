// A private SoftHSM2 token laid out like a CPS card: the authentication key `CPS_PRIV_AUT` and its
// certificate "Certificat d'Authentification CPS" under one CKA_ID. SoftHSM has no PIN retry counter:
// tries-left and blocking are tested with OpenSC over an emulated card instead.
// Test bed only: the test PINs go through argv of softhsm2-util/pkcs11-tool, which production code never does.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { IssuedCert } from './pki';

export const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';
export const CPS_LABELS = { authKey: 'CPS_PRIV_AUT', authCert: "Certificat d'Authentification CPS" } as const;

export interface SoftHsmToken {
  modulePath: string;
  env: { SOFTHSM2_CONF: string };
  tokenLabel: string;
  pin: string;
  soPin: string;
}

export function provisionSoftHsm(dir: string, cert: IssuedCert, opts: { tokenLabel?: string; pin?: string } = {}): SoftHsmToken {
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
  run('softhsm2-util', ['--import', cert.keyFile, '--token', tokenLabel, '--label', CPS_LABELS.authKey, '--id', '01', '--pin', pin]);
  const der = path.join(dir, 'auth-cert.der');
  fs.writeFileSync(der, cert.certDer);
  run('pkcs11-tool', ['--module', SOFTHSM_MODULE, '--token-label', tokenLabel, '--login', '--pin', pin, '--write-object', der, '--type', 'cert', '--id', '01', '--label', CPS_LABELS.authCert]);
  return { modulePath: SOFTHSM_MODULE, env: { SOFTHSM2_CONF: conf }, tokenLabel, pin, soPin };
}
