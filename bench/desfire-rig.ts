// Shared by the badge benchmarks: the agent on a private pcscd with a bound badge, and the raw-APDU floor
// on a PC/SC reader (connect SHARED, N trivial APDUs, disconnect) — what any software pays for the same
// card I/O, without the agent's work.
import { createAgent } from '../electron/core/agent';
import type { Agent } from '../electron/core/agent';
import { ServerAuthenticator } from '../electron/core/auth/server-authenticator';
import { GET_UID_APDU } from '../electron/core/devices/badge/desfire/protocol';
import { PcscCpsBackend, PcscMonitor, withSharedTransport } from '../electron/core/devices/pcsc';
import { RelayKeyCustody } from '../electron/core/oidc/relay-custody';
import { lazyClient, registerWorkstation } from '../electron/core/oidc/server-client';
import { systemClock } from '../electron/core/util/clock';
import { loadPcsc } from '../native/pcsclite';
import type { CardReader } from '../native/pcsclite';
import type { SessionServer } from '../server/src/app';
import type { Log } from '../server/src/log';
import { DESFIRE_ATR, hospitalBadge, TEST_BADGE } from '../testbed/cards/desfire-card';
import { startPcscd, waitFor } from '../testbed/pcscd';
import { startServerStack } from '../testbed/stack';
import { VirtualCard } from '../testbed/vpcd-client';

export async function rawIo(reader: CardReader, apdus: number): Promise<void> {
  await withSharedTransport(reader, async (t) => {
    for (let i = 0; i < apdus; i++) await t.transmit(GET_UID_APDU);
  });
}

/** When the engine reaches `kind` after tap `tap`; rejects when the tap is refused instead. */
export function stateReached(engine: Agent['engine'], kind: 'pin-required' | 'open', tap: number): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const off = engine.onState.add((s) => {
      if (s.kind === kind) {
        off();
        resolve(performance.now());
      } else if (s.kind === 'locked' && s.reason === 'auth-failed') {
        off();
        reject(new Error(`tap ${tap} refused: ${JSON.stringify(engine.lastErrors().at(-1))}`));
      }
    });
  });
}

export interface BadgeAgentRig {
  server: SessionServer;
  /** The badge's owner in the directory (lastName BENCH). */
  accountId: string;
  monitor: PcscMonitor;
  agent: Agent;
  engine: Agent['engine'];
  /** The test hospital's badge, emulated on the first vpcd reader. */
  card: VirtualCard;
  port: number;
  /** Whether a card is in a reader, as the monitor sees it. */
  present(): boolean;
  close(): Promise<void>;
}

/**
 * The agent as createAgent wires it on a private pcscd: the PC/SC backend with the badge keys held by the
 * session server (relay), that server on PostgreSQL, and a bound badge whose owner's code is `secret`.
 */
export async function startBadgeAgent(opts: { secret: string; log?: Log }): Promise<BadgeAgentRig> {
  const pcscd = await startPcscd();
  process.env.PCSCLITE_CSOCK_NAME = pcscd.env.PCSCLITE_CSOCK_NAME;
  const stack = await startServerStack(opts.log ? { log: opts.log } : {});
  const { server } = stack;
  const monitor = new PcscMonitor({ createContext: loadPcsc });
  const emu = hospitalBadge('CHU-000123');
  const card = new VirtualCard({ atr: DESFIRE_ATR, handler: emu.handler });
  let agent: Agent | null = null;
  const close = async () => {
    await agent?.stop();
    await card.remove();
    await stack.close();
    await pcscd.stop();
  };
  try {
    const acc = await server.directory.addAccount({
      idNat: '899999000011',
      adLogin: 'bench',
      lastName: 'BENCH',
      firstName: 'Test',
      profession: 'Infirmier',
      secret: opts.secret,
    });
    await server.directory.bindBadge({ uid: emu.uid.toString('hex'), number: 'CHU-000123' }, acc.id);
    const creds = await registerWorkstation(
      server.issuer,
      await server.directory.createEnrolmentToken('bench'),
      'BENCH',
    );
    const client = lazyClient(server.issuer, async () => creds, { allowHttp: true });
    const backend = new PcscCpsBackend({
      monitor,
      module: () => null,
      badges: { profiles: () => [TEST_BADGE.profile], custody: new RelayKeyCustody(client), allowUidOnly: () => false },
    });
    agent = await createAgent({
      mode: 'headless',
      demo: false,
      readers: [backend],
      authenticator: new ServerAuthenticator({ client, clock: systemClock, pollMs: 3_600_000 }),
      inactivityMs: 0,
      tapDebounceMs: 0,
    });
    await waitFor(() => monitor.list().length >= 1, 5000, 'readers');
    return {
      server,
      accountId: acc.id,
      monitor,
      agent,
      engine: agent.engine,
      card,
      port: pcscd.ports[0]!,
      present: () => monitor.list().some((r) => r.atr),
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}
