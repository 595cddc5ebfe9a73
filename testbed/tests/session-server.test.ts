// The session server as clinicians' PCs use it: two instances behind one address on a real PostgreSQL,
// the agent's own OIDC client (openid-client, private_key_jwt), test PKI certificates as CPS cards.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerWorkstation, SessionServerClient, workstationAssertion } from '../../electron/core/oidc/server-client';
import type { WorkstationCredentials } from '../../electron/core/oidc/server-client';
import type { SessionServer } from '../../server/src/app';
import type { Db } from '../../server/src/db';
import { badgeTapParams } from '@sillage/protocol';
import { boundBadge, tapProof, uidOf } from '../badges';
import { hospitalBadge } from '../cards/desfire-card';
import type { DesfireEmulator } from '../cards/desfire-card';
import { keyCard, pinVerifiedCard } from '../key-card';
import type { LoadBalancer } from '../lb';
import { makeTestPki } from '../pki';
import type { TestPki } from '../pki';
import { STAFF, startCluster } from '../stack';
import type { ClusterStack } from '../stack';
import { tamper } from '../tamper';
import { refusal } from '../server-refusal';
import type { PostgresHandle } from '../postgres';

const HOUR = 3600_000;
let pg: PostgresHandle;
let cluster: ClusterStack;
let dbs: Db[];
let servers: SessionServer[];
let lb: LoadBalancer;
let pki: TestPki;
let otherPki: TestPki;
let dir: string;
let offsetMs = 0;
const now = () => new Date(Date.now() + offsetMs);
const DPI = { clientId: 'dpi-reference', clientSecret: 'dpi-secret-for-tests-only', audiences: ['https://dpi.test'] };

async function workstation(name: string): Promise<{ creds: WorkstationCredentials; client: SessionServerClient }> {
  const token = await servers[0]!.directory.createEnrolmentToken(name);
  const creds = await registerWorkstation(servers[0]!.issuer, token, name);
  return { creds, client: await SessionServerClient.connect(servers[0]!.issuer, creds, { allowHttp: true }) };
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-server-'));
  pki = makeTestPki(path.join(dir, 'pki'));
  otherPki = makeTestPki(path.join(dir, 'other-pki'));
  cluster = await startCluster(2, {
    trustAnchorsPem: [pki.root.certPem],
    intermediateCasPem: [pki.ca.certPem],
    relyingParties: [DPI],
    now,
    directoryPolicy: { maxSecretFailures: 3, lockoutMs: 15 * 60_000 },
  });
  ({ pg, lb, servers, dbs } = cluster);
}, 120_000);

afterAll(async () => {
  await cluster?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** A relay proof (what the enrolment takes). */
async function relayOnly(client: SessionServerClient, emu: DesfireEmulator) {
  const p = await tapProof(client, emu);
  if (p.kind !== 'desfire') throw new Error('not a relay proof');
  return p;
}

describe('session server on PostgreSQL, two instances behind one address', () => {
  it('logs in with a CPS card: MFA tokens with honest claims, refreshable, verified by openid-client', async () => {
    const ws = await workstation('PC-URG-01');
    const louis = pki.issue(STAFF.louis);
    await servers[1]!.directory.addAccount(STAFF.louis);
    const card = keyCard(louis.certPem, louis.keyPem);
    expect(await card.verifyPin('1234')).toEqual({ ok: true });
    const before = Math.floor(Date.now() / 1000);
    const t = await ws.client.cardLogin(card, '899999000029');
    expect(t.claims).toMatchObject({
      acr: 'urn:sillage:loa:mfa',
      amr: ['sc', 'pin', 'hwk', 'mfa'],
      family_name: 'BERNARD',
      idnat: '899999000029',
      profession: 'Médecin',
    });
    expect(t.claims.auth_time).toBeGreaterThanOrEqual(before - 1);
    expect(t.mfaExpiresAt! - t.claims.auth_time!).toBe(4 * 3600);
    const r = await ws.client.refresh(t.refreshToken!);
    expect(r.claims.auth_time).toBe(t.claims.auth_time);
    expect(r.claims.amr).toEqual(['sc', 'pin', 'hwk', 'mfa']);
    // PS256 is accepted as well (CPS4 signs with RSA-PSS).
    const pss = await ws.client.cardLogin(card, '899999000029', 'RSA-PSS-SHA256');
    expect(pss.claims.acr).toBe('urn:sillage:loa:mfa');
    const audit = await servers[0]!.audit.query({ action: 'login.cps' });
    expect(audit.filter((a) => a.outcome === 'ok')).toHaveLength(2);
  });

  it('refuses replayed assertions, unknown CAs, expired certificates and unregistered workstations, and audits each', async () => {
    const ws = await workstation('PC-URG-02');
    const louis = pki.issue(STAFF.louis, 'louis-2');
    const card = await pinVerifiedCard(louis);
    const assertion = await ws.client.cardAssertion(card, '899999000029');
    await ws.client.assertionGrant(assertion);
    const replay = await refusal(ws.client.assertionGrant(assertion));
    expect(replay.code).toBe('replayed_nonce');

    const stranger = otherPki.issue(STAFF.louis, 'forged');
    const forged = await pinVerifiedCard(stranger);
    const untrusted = await refusal(ws.client.cardLogin(forged, '899999000029'));
    expect(untrusted.code).toBe('untrusted_certificate');

    const old = pki.issue(
      {
        idNat: '899999000029',
        lastName: 'BERNARD',
        firstName: 'Louis',
        profession: 'Médecin',
        notBefore: new Date(Date.now() - 800 * 86400_000),
        notAfter: new Date(Date.now() - 86400_000),
      },
      'expired',
    );
    const expiredCard = await pinVerifiedCard(old);
    const expired = await refusal(ws.client.cardLogin(expiredCard, '899999000029'));
    expect(expired.code).toBe('expired_certificate');
    expect(expired.message).toMatch(/expired/);

    // A workstation nobody registered: a well-formed key, an invented client_id.
    const fake = { clientId: 'ws-not-registered', key: ws.creds.key };
    const unknown = await refusal(
      SessionServerClient.connect(servers[0]!.issuer, fake, { allowHttp: true }).then((c) =>
        c.badge({ kind: 'uid-only', uid: '04A1B2C3' }),
      ),
    );
    expect(unknown.code).toBe('invalid_client');

    const rows = await servers[1]!.audit.query({ limit: 20 });
    expect(rows.map((r) => r.reason ?? '')).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^replayed_nonce/),
        expect.stringMatching(/^untrusted_certificate/),
        expect.stringMatching(/^expired_certificate/),
        expect.stringMatching(/^invalid_client/),
      ]),
    );
  });

  it('badge + code opens a 4-hour roaming session; a tap elsewhere re-opens with the first auth_time; after 4 h the code is asked again', async () => {
    const pc1 = await workstation('PC-CARDIO-01');
    const pc2 = await workstation('PC-CARDIO-02');
    const camille = await servers[0]!.directory.addAccount(STAFF.camille);
    const badge = hospitalBadge('CHU-CAMILLE');
    expect(await servers[0]!.directory.bindBadge({ uid: uidOf(badge), number: 'CHU-CAMILLE' }, camille.id)).toEqual({
      ok: true,
    });

    const first = await refusal(pc1.client.badge(await tapProof(pc1.client, badge)));
    expect(first.code).toBe('mfa_required');
    expect(first.body.display_name).toBe('Camille MARTIN');

    const login = await pc1.client.badgeCode(String(first.body.login_ticket), '4821');
    expect(login.claims).toMatchObject({ acr: 'urn:sillage:loa:mfa', amr: ['hwk', 'pin', 'mfa'], sub: camille.id });

    offsetMs = 2 * HOUR;
    const reopen = await pc2.client.badge(await tapProof(pc2.client, badge));
    expect(reopen.claims).toMatchObject({
      acr: 'urn:sillage:loa:reopen',
      amr: ['hwk'],
      auth_time: login.claims.auth_time,
      sid: login.claims.sid,
    });
    expect(reopen.mfaExpiresAt).toBe(login.mfaExpiresAt);

    offsetMs = 4 * HOUR + 60_000;
    const over = await refusal(pc2.client.badge(await tapProof(pc2.client, badge)));
    expect(over.code).toBe('mfa_required');
    expect(over.message).toMatch(/roaming session over/);
    // Token exchange on the old session is refused too: the window is absolute.
    const ex = await refusal(pc2.client.exchange(reopen.accessToken, 'https://dpi.test'));
    expect(ex.code).toBe('mfa_required');
    offsetMs = 0;
    const reasons = (await servers[0]!.audit.query({ accountId: camille.id })).map(
      (r) => `${r.action}:${r.outcome}:${r.reason ?? ''}`,
    );
    expect(reasons).toEqual([
      'reopen.badge:refused:mfa_required',
      'login.badge:ok:',
      'reopen.badge:ok:',
      'reopen.badge:refused:mfa_window_over',
      'token.exchange:refused:mfa_window_over',
    ]);
  });

  it('locks the code after repeated failures, refuses revoked and UID-only badges', async () => {
    const pc = await workstation('PC-PEDIA-01');
    const jean = await servers[0]!.directory.addAccount({
      idNat: '899999000037',
      adLogin: 'jdurand',
      lastName: 'DURAND',
      firstName: 'Jean',
      profession: 'Aide-soignant',
      secret: '7777',
    });
    const badge = await boundBadge(servers[0]!.directory, jean.id, 'CHU-JEAN');
    const tap = async () =>
      String((await refusal(pc.client.badge(await tapProof(pc.client, badge)))).body.login_ticket);
    let r = await refusal(pc.client.badgeCode(await tap(), '0000'));
    expect(r.body.tries_left).toBe(2);
    // A wrong code hands out the ticket of the next try on the same tap.
    r = await refusal(pc.client.badgeCode(String(r.body.login_ticket), '0001'));
    expect(r.body.tries_left).toBe(1);
    r = await refusal(pc.client.badgeCode(String(r.body.login_ticket), '0002'));
    expect(r.code).toBe('secret_locked');
    expect(r.body.login_ticket).toBeUndefined();
    // Locked: even the right code is refused until the lock ends.
    expect((await refusal(pc.client.badgeCode(await tap(), '7777'))).code).toBe('secret_locked');
    offsetMs = 16 * 60_000;
    expect((await pc.client.badgeCode(await tap(), '7777')).claims.acr).toBe('urn:sillage:loa:mfa');
    offsetMs = 0;

    expect(await servers[1]!.directory.revokeBadge(uidOf(badge), 'perdu')).toBe(true);
    expect((await refusal(pc.client.badge(await tapProof(pc.client, badge)))).code).toBe('badge_revoked');
    expect((await refusal(pc.client.badge({ kind: 'uid-only', uid: uidOf(badge) }))).code).toBe('badge_weak');
    // One active badge, one person.
    const other = await servers[0]!.directory.addAccount({
      idNat: '899999000045',
      adLogin: 'x',
      lastName: 'X',
      firstName: 'Y',
      profession: null,
    });
    const shared = hospitalBadge('CHU-SHARED');
    await servers[0]!.directory.bindBadge({ uid: uidOf(shared) }, jean.id);
    expect(await servers[0]!.directory.bindBadge({ uid: uidOf(shared) }, other.id)).toEqual({
      ok: false,
      reason: 'taken',
    });
  });

  it('exchanges for an audience-bound DPI token the DPI can introspect; global logout reaches every workstation', async () => {
    const pc1 = await workstation('PC-REA-01');
    const pc2 = await workstation('PC-REA-02');
    const nina = await servers[0]!.directory.addAccount(STAFF.nina);
    const badge = await boundBadge(servers[0]!.directory, nina.id, 'CHU-NINA');
    const first = await refusal(pc1.client.badge(await tapProof(pc1.client, badge)));
    const a = await pc1.client.badgeCode(String(first.body.login_ticket), '1357');
    const b = await pc2.client.badge(await tapProof(pc2.client, badge));
    const dpiToken = await pc1.client.exchange(a.accessToken, 'https://dpi.test');
    expect(dpiToken.accessToken).not.toBe(a.accessToken);
    expect((await refusal(pc1.client.exchange(a.accessToken, 'https://not-registered.test'))).code).toBe(
      'invalid_target',
    );

    const dpi = await oidc.discovery(
      new URL(servers[0]!.issuer),
      DPI.clientId,
      undefined,
      oidc.ClientSecretBasic(DPI.clientSecret),
      { execute: [oidc.allowInsecureRequests] },
    );
    const intro = await oidc.tokenIntrospection(dpi, dpiToken.accessToken).catch((e: oidc.ResponseBodyError) => {
      throw new Error(JSON.stringify(e.cause));
    });
    expect(intro).toMatchObject({
      active: true,
      sub: nina.id,
      aud: 'https://dpi.test',
      client_id: pc1.creds.clientId,
      idnat: '899999000052',
      acr: 'urn:sillage:loa:mfa',
    });
    // The workstation's own token is not for the DPI: introspection does not disclose it.
    expect((await oidc.tokenIntrospection(dpi, a.accessToken)).active).toBe(false);
    // Nor may the DPI revoke it: the workstation's session survives a relying party's revocation attempt.
    await oidc.tokenRevocation(dpi, a.refreshToken!).catch(() => {});
    expect((await pc1.client.refresh(a.refreshToken!)).accessToken).toBeTruthy();

    expect(await pc2.client.sessionStatus(b.accessToken)).toMatchObject({ active: true });
    await pc1.client.logout(a.accessToken);
    expect(await pc2.client.sessionStatus(b.accessToken)).toEqual({ active: false, reason: 'unknown' });
    expect((await refusal(pc2.client.refresh(b.refreshToken!))).code).toBe('invalid_grant');
    expect((await oidc.tokenIntrospection(dpi, dpiToken.accessToken)).active).toBe(false);
    // The next tap asks for the code again.
    expect((await refusal(pc2.client.badge(await tapProof(pc2.client, badge)))).code).toBe('mfa_required');
  });

  it('enrols a new badge right after a CPS login (not after a badge login), imports a CSV, and runs the admin CLI', async () => {
    const ws = await workstation('PC-ACCUEIL-01');
    const louis = pki.issue(STAFF.louis, 'louis-enrol');
    const card = await pinVerifiedCard(louis);
    const t = await ws.client.cardLogin(card, '899999000029');
    const fresh = hospitalBadge('CHU-LOUIS-2');
    expect(await ws.client.enrolBadge(t.accessToken, await relayOnly(ws.client, fresh), 'CHU-LOUIS-2')).toEqual({
      uid: uidOf(fresh),
    });
    // The badge now re-opens Louis's roaming session (started by the CPS login) with a tap.
    const re = await ws.client.badge(await tapProof(ws.client, fresh));
    expect(re.claims).toMatchObject({ idnat: '899999000029', acr: 'urn:sillage:loa:reopen' });
    // A badge session cannot enrol another badge (a found badge must not enrol its twin).
    const twin = hospitalBadge('CHU-LOUIS-3');
    const e = await refusal(ws.client.enrolBadge(re.accessToken, await relayOnly(ws.client, twin)));
    expect(e.body.error).toBe('insufficient_user_authentication');

    const paul = hospitalBadge('CHU-PAUL');
    const csv = `id_nat;ad_login;last_name;first_name;profession;badge_uid;badge_id\n899999000060;pdupont;DUPONT;Paul;Infirmier;${uidOf(paul)};CHU-PAUL\n;;SANSID;Personne;;;\n`;
    const r = await servers[0]!.directory.importCsv(csv);
    expect(r).toEqual({ imported: 1, errors: ['ligne 3 : nom, prénom et id_nat ou ad_login sont requis'] });
    expect(
      (await servers[0]!.directory.badgeOwner({ uid: uidOf(paul) })) as { account: { lastName: string } },
    ).toMatchObject({ account: { lastName: 'DUPONT' } });

    const { runAdmin } = await import('../../server/src/cli');
    const out: string[] = [];
    const url = ['--database-url', pg.url('sillage')];
    expect(await runAdmin(['badge', 'revoke', uidOf(paul), '--reason', 'perdu', ...url], (l) => out.push(l))).toBe(0);
    expect(await runAdmin(['session', 'end', '--user', 'lbernard', ...url], (l) => out.push(l))).toBe(0);
    expect((await refusal(ws.client.badge(await tapProof(ws.client, fresh)))).code).toBe('mfa_required');
    expect(await runAdmin(['audit', '--user', 'pdupont', ...url], (l) => out.push(l))).toBe(0);
    expect(await runAdmin(['audit', 'verify', ...url], (l) => out.push(l))).toBe(0);
    expect(out).toEqual(
      expect.arrayContaining([
        'badge révoqué',
        expect.stringMatching(/session\(s\) terminée\(s\)/),
        expect.stringMatching(/chaîne d’audit intègre/),
      ]),
    );
    expect(await runAdmin(['badge', 'bind', 'nobody', '--uid', uidOf(twin), ...url], (l) => out.push(l))).toBe(1);
    expect(out.at(-1)).toBe('erreur : compte inconnu : nobody');
    expect(await runAdmin(['badge', 'bind', 'lbernard', '--uid', uidOf(twin), ...url], (l) => out.push(l))).toBe(0);
    expect(out.at(-1)).toBe('badge attribué');
    expect(await runAdmin(['badge', 'revoke', uidOf(paul), ...url], (l) => out.push(l))).toBe(1);
    expect(out.at(-1)).toBe('aucun badge actif avec cet identifiant');

    const gone = await workstation('PC-REVOKED');
    expect(await runAdmin(['workstation', 'revoke', gone.creds.clientId, ...url], (l) => out.push(l))).toBe(0);
    expect(out.at(-1)).toBe('poste révoqué');
    expect(await runAdmin(['workstation', 'revoke', gone.creds.clientId, ...url], (l) => out.push(l))).toBe(1);
    expect(out.at(-1)).toBe('poste inconnu ou déjà révoqué');
    const revocations = await servers[0]!.audit.query({ action: 'admin.workstation.revoke' });
    expect(revocations.map((r) => r.outcome).sort()).toEqual(['ok', 'refused']);
  });

  it('accepts a workstation assertion once: presented at the same moment twice to one instance and once to the other', async () => {
    const ws = await workstation('PC-REPLAY');
    const acct = await servers[0]!.directory.addAccount({
      idNat: '899999000093',
      adLogin: 'replay',
      lastName: 'REJEU',
      firstName: 'Rémi',
      profession: 'Infirmier',
      secret: '1357',
    });
    const badge = await boundBadge(servers[0]!.directory, acct.id, 'CHU-REPLAY');
    const tap = await refusal(ws.client.badge(await tapProof(ws.client, badge)));
    await ws.client.badgeCode(String(tap.body.login_ticket), '1357');
    const proof = await tapProof(ws.client, badge);
    const assertion = await workstationAssertion(ws.creds.key, ws.creds.clientId, servers[0]!.issuer);
    const body = new URLSearchParams({
      grant_type: 'urn:sillage:params:oauth:grant-type:badge',
      ...badgeTapParams(proof),
      scope: 'openid profile offline_access',
      client_id: ws.creds.clientId,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
    }).toString();
    const post = (port: number) =>
      fetch(`http://127.0.0.1:${port}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body,
      });
    const answers = await Promise.all([post(servers[0]!.port), post(servers[0]!.port), post(servers[1]!.port)]);
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses).toEqual([200, 401, 401]);
    const refused = await Promise.all(answers.filter((a) => a.status === 401).map((a) => a.json()));
    expect(refused.every((r) => r.error === 'invalid_client')).toBe(true);
  });

  it('served the tests from both instances, and its audit chain verifies until a row is modified', async () => {
    expect([...lb.counts.values()].every((n) => n > 0)).toBe(true);
    expect(lb.counts.size).toBe(2);
    const v = await servers[0]!.audit.verify();
    expect(v.ok).toBe(true);
    await tamper(dbs[0]!, "UPDATE audit SET reason = 'nothing to see' WHERE seq = 3");
    expect(await servers[1]!.audit.verify()).toMatchObject({ ok: false, brokenAt: 3 });
  });
});
