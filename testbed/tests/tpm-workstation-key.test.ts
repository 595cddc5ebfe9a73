// The workstation key inside a TPM: Debian's swtpm as the TPM 2.0, tpm2-pkcs11 (libtpm2-pkcs11-1) as the
// PKCS#11 module, the real session server on PostgreSQL. Registration, 2-factor login, tap re-open,
// refresh and a relay call all go through private_key_jwt assertions signed inside the TPM; pkcs11js in
// another process finds the key sensitive and never extractable; the token store copied next to another
// TPM opens nothing.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { compactVerify, importJWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Pkcs11KeyProvider, TPM2_PKCS11_PATHS } from '../../electron/core/keys/pkcs11-key';
import type { KeyRecord, WorkstationKey } from '../../electron/core/keys/workstation-key';
import { registerWorkstation, SessionServerClient, workstationAssertion } from '../../electron/core/oidc/server-client';
import type { ServerError } from '../../electron/core/oidc/server-client';
import type { SessionServer } from '../../server/src/app';
import type { RelayBeginRequest } from '@sillage/protocol';
import { boundBadge, tapIn, tapProof } from '../badges';
import type { DesfireEmulator } from '../cards/desfire-card';
import { startServerStack } from '../stack';
import type { ServerStack } from '../stack';
import { startSwtpm } from '../swtpm';
import type { SwtpmHandle } from '../swtpm';

let stack: ServerStack;
let badge: DesfireEmulator;
let server: SessionServer;
let tpm: SwtpmHandle;
let dir: string;
let store: string;
const root = path.resolve(__dirname, '..', '..');

function probe(tcti: string): Pkcs11KeyProvider {
  process.env.TPM2_PKCS11_TCTI = tcti;
  const r = Pkcs11KeyProvider.probe({ storeDir: store });
  if (!r.ok) throw new Error(r.reason);
  return r.provider;
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-tpm-key-'));
  store = path.join(dir, 'tpm2-pkcs11');
  tpm = await startSwtpm();
  stack = await startServerStack();
  server = stack.server;
  const acct = await server.directory.addAccount({
    idNat: '899999000111',
    adLogin: 'tpm',
    lastName: 'PUCE',
    firstName: 'Paule',
    profession: 'Infirmier',
    secret: '2468',
  });
  badge = await boundBadge(server.directory, acct.id, 'CHU-TPM');
}, 120_000);

afterAll(async () => {
  await stack?.close();
  await tpm?.stop();
  delete process.env.TPM2_PKCS11_TCTI;
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('workstation key in a TPM (swtpm + tpm2-pkcs11)', () => {
  let record: KeyRecord;
  let clientId: string;

  it('registers a key generated in the TPM and logs in, re-opens, refreshes and relays with it', async () => {
    const provider = probe(tpm.tcti);
    try {
      expect(provider.kind).toBe('tpm');
      expect(provider.description).toMatch(/^TPM 2\.0 — TPM2\.0 Cryptoki 1\.\d+/);
      const made = await provider.create();
      record = made.record;
      const { key } = made;
      expect(key.kind).toBe('tpm');
      // What the registration keeps holds no key material: the token's label, the key's id, its PIN.
      expect(Object.keys(record).sort()).toEqual(['id', 'kid', 'kind', 'pin', 'token']);
      expect(key.publicJwk).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', kid: key.kid });
      expect(key.publicJwk).not.toHaveProperty('d');

      const creds = await registerWorkstation(
        server.issuer,
        await server.directory.createEnrolmentToken('PC-TPM'),
        'PC-TPM',
        { key },
      );
      clientId = creds.clientId;
      // The assertion the server checks: ES256 by the TPM key, verified with the registered public key.
      const assertion = await workstationAssertion(key, clientId, server.issuer);
      const verified = await compactVerify(assertion, await importJWK(key.publicJwk, 'ES256'));
      expect(verified.protectedHeader).toEqual({ alg: 'ES256', kid: key.kid });

      /** When each assertion the client had signed was signed, by its signing input (each jti is new). */
      const signedAt = new Map<string, number>();
      const counted: WorkstationKey = {
        kind: key.kind,
        kid: key.kid,
        publicJwk: key.publicJwk,
        sign: (input) => {
          signedAt.set(input.toString('ascii'), performance.now());
          return key.sign(input);
        },
      };
      /** The assertions the client sent (token endpoint and relay), in order. */
      const sent: string[] = [];
      const transport: typeof fetch = (input, init) => {
        const m = /client_assertion=([^&]+)|"client_assertion":"([^"]+)"/.exec(String(init?.body ?? ''));
        if (m) sent.push(decodeURIComponent(m[1] ?? m[2]!));
        return fetch(input, init);
      };
      /** Until the client's assertions signed ahead are all there (nothing signed for 700 ms). */
      const signedAhead = async () => {
        for (let seen = -1; seen !== signedAt.size;) {
          seen = signedAt.size;
          await new Promise((r) => setTimeout(r, 700));
        }
      };
      const client = await SessionServerClient.connect(
        server.issuer,
        { ...creds, key: counted },
        { allowHttp: true, fetch: transport },
      );
      // The relay's challenge (signed by the TPM key) and the grants carrying the card's answer.
      const login = await tapIn(client, badge, '2468');
      expect(login.claims.amr).toContain('mfa');
      await signedAhead();
      const before = signedAt.size;
      const sentBefore = sent.length;
      const tapAt = performance.now();
      const reopen = await client.badge(await tapProof(client, badge));
      expect(reopen.claims.auth_time).toBe(login.claims.auth_time);
      // The tap's relay call and grant took assertions the TPM signed before the tap, and the stock refills.
      const tapSent = sent.slice(sentBefore);
      expect(tapSent).toHaveLength(2);
      for (const a of tapSent) expect(signedAt.get(a.split('.').slice(0, 2).join('.'))).toBeLessThan(tapAt);
      await signedAhead();
      expect(signedAt.size).toBe(before + 2);
      const refreshed = await client.refresh(reopen.refreshToken!);
      expect(refreshed.accessToken).toBeTruthy();
      // A relay call signed by the TPM key gets past the workstation check to the request's own checks.
      const relay = await client
        .relayBegin({ scheme: 'none' } as unknown as RelayBeginRequest)
        .catch((e: ServerError) => e);
      expect((relay as ServerError).code).not.toBe('invalid_client');
      expect((relay as ServerError).code).toBe('invalid_request');
    } finally {
      await provider.close();
    }
  });

  it('the key is sensitive and never extractable, seen by pkcs11js in another process', () => {
    if (record.kind !== 'pkcs11') throw new Error('not a PKCS#11 record');
    const script = `
      import pkcs11js from 'pkcs11js';
      const [module, label, pin] = process.argv.slice(1);
      const p = new pkcs11js.PKCS11();
      p.load(module);
      p.C_Initialize();
      const slot = p.C_GetSlotList(true).find((s) => p.C_GetTokenInfo(s).label.trim() === label);
      const s = p.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
      p.C_Login(s, pkcs11js.CKU_USER, pin);
      p.C_FindObjectsInit(s, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY }]);
      const keys = p.C_FindObjects(s, 10);
      p.C_FindObjectsFinal(s);
      const flags = p.C_GetAttributeValue(s, keys[0], [
        { type: pkcs11js.CKA_SENSITIVE }, { type: pkcs11js.CKA_EXTRACTABLE }, { type: pkcs11js.CKA_NEVER_EXTRACTABLE },
      ]).map((a) => a.value[0]);
      let value = 'readable';
      try { p.C_GetAttributeValue(s, keys[0], [{ type: pkcs11js.CKA_VALUE }]); } catch (e) { value = e.message; }
      console.log(JSON.stringify({ keys: keys.length, flags, value }));
      p.C_Finalize();
    `;
    const out = execFileSync(
      process.execPath,
      ['--input-type=module', '-e', script, TPM2_PKCS11_PATHS[0]!, record.token, record.pin],
      { cwd: root, env: { ...process.env, TPM2_PKCS11_STORE: store }, encoding: 'utf8' },
    );
    const seen = JSON.parse(out.trim().split('\n').pop()!) as { keys: number; flags: number[]; value: string };
    expect(seen.keys).toBe(1);
    expect(seen.flags).toEqual([1, 0, 1]);
    expect(seen.value).toMatch(/CKR_ATTRIBUTE_(SENSITIVE|TYPE_INVALID)/);
  });

  it('after a restart the same key opens from its record and the workstation logs in again', async () => {
    const provider = probe(tpm.tcti);
    try {
      const key = await provider.open(record);
      const client = await SessionServerClient.connect(server.issuer, { clientId, key }, { allowHttp: true });
      const again = await tapIn(client, badge, '2468');
      expect(again.claims.acr).toBeTruthy();
      // Concurrent signatures share one PKCS#11 session one at a time.
      const sigs = await Promise.all(Array.from({ length: 4 }, (_, i) => key.sign(Buffer.from(`input ${i}`))));
      expect(sigs.every((s) => s.length === 64)).toBe(true);
      // Closing waits for the signature under way (the module is finalised after it), then refuses more.
      const inFlight = key.sign(Buffer.from('last'));
      await provider.close();
      expect(await inFlight).toHaveLength(64);
      await expect(key.sign(Buffer.from('after'))).rejects.toThrow(/closed/);
    } finally {
      await provider.close();
    }
  });

  it('the token store copied next to another TPM opens no key', async () => {
    const other = await startSwtpm();
    try {
      const elsewhere = probe(other.tcti);
      try {
        // The token's wrapping key is sealed to the first TPM: this one cannot unseal it, so no login.
        await expect(elsewhere.open(record)).rejects.toMatchObject({ method: 'C_Login' });
      } finally {
        await elsewhere.close();
      }
    } finally {
      await other.stop();
    }
  });
});
