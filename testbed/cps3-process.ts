// Test-side handle on a Cps3Card running in its own process (see cards/cps3-card-process.ts).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { ATR } from './cards/atrs';
import type { IssuedCert, PersonSpec } from './pki';

const here = path.dirname(new URL(import.meta.url).pathname);

export interface Cps3CardSpec {
  atr: string;
  iface: 'contact' | 'contactless';
  auth: { certFile: string; keyFile: string };
  sign?: { certFile: string; keyFile: string };
  tech?: { certFile: string; keyFile: string };
  holder: { lastName: string; firstName: string; idNat: string; profession: string };
  serial?: string;
  quickAck?: boolean;
}

export interface Cps3Status {
  triesLeft: number;
  blocked: boolean;
  signCount: number;
  /** VERIFY commands that carried a PIN (a blocked card must never receive one). */
  verifyWithPin: number;
  inserted: boolean;
}

export interface Cps3Process {
  send(cmd: 'insert', port: number): Promise<Cps3Status>;
  send(cmd: 'remove' | 'pull-on-sign' | 'status'): Promise<Cps3Status>;
  stop(): Promise<void>;
}

const files = (c: IssuedCert) => ({ certFile: c.certFile, keyFile: c.keyFile });

/**
 * A CPS3 card process for `person`: contact by default (authentication and signature keys), or the
 * contactless face of the card (technical key only) with `iface: 'contactless'`.
 */
export function startCps3Process(
  person: PersonSpec,
  keys: { auth: IssuedCert; sign?: IssuedCert; tech?: IssuedCert },
  opts: { iface?: 'contact' | 'contactless'; serial?: string; quickAck?: boolean } = {},
): Cps3Process {
  const iface = opts.iface ?? 'contact';
  const spec: Cps3CardSpec = {
    atr: (iface === 'contact' ? ATR.CPS3_CONTACT : ATR.CPS3_CONTACTLESS).toString('hex'),
    iface,
    auth: files(keys.auth),
    ...(keys.sign ? { sign: files(keys.sign) } : {}),
    ...(keys.tech ? { tech: files(keys.tech) } : {}),
    holder: {
      lastName: person.lastName,
      firstName: person.firstName,
      idNat: person.idNat,
      profession: person.profession,
    },
    ...(opts.serial ? { serial: opts.serial } : {}),
    ...(opts.quickAck !== undefined ? { quickAck: opts.quickAck } : {}),
  };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-cps3-'));
  const specFile = path.join(dir, 'card.json');
  fs.writeFileSync(specFile, JSON.stringify(spec));
  const tsx = path.join(here, '..', 'node_modules', '.bin', 'tsx');
  const child = spawn(tsx, [path.join(here, 'cards', 'cps3-card-process.ts'), specFile], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = readline.createInterface({ input: child.stdout! });
  const waiting: ((s: Cps3Status) => void)[] = [];
  lines.on('line', (l) => waiting.shift()?.(JSON.parse(l) as Cps3Status));
  return {
    send(cmd: string, port?: number) {
      return new Promise<Cps3Status>((resolve) => {
        waiting.push(resolve);
        child.stdin!.write(JSON.stringify({ cmd, port }) + '\n');
      });
    },
    async stop() {
      child.stdin!.end();
      if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  } as Cps3Process;
}
