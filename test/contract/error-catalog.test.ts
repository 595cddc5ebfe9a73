// The error catalog (shared/errors.ts) at the contract's two ends: the dispatcher sends a ContractError's
// code and nothing guessed from another exception; the UI's transports rebuild it, and an unknown code
// is `internal`. Every code of the list is used by the agent or the UI.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AuditLog } from '../../electron/core/audit/audit';
import { Dispatcher } from '../../electron/core/api/dispatcher';
import type { Handlers } from '../../electron/core/api/dispatcher';
import { ManualClock } from '../../electron/core/util/clock';
import { refusalOf } from '../../renderer/src/transport';
import { AGENT_ERROR_CODES, ContractError, isAgentErrorCode } from '../../shared/errors';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');

/** A dispatcher whose `session.getState` handler throws `failure`. */
function throwing(failure: unknown) {
  const audit = new AuditLog({ clock: new ManualClock() });
  const handlers = {
    'session.getState': () => {
      throw failure;
    },
  } as unknown as Handlers;
  return { audit, dispatcher: new Dispatcher({ handlers, audit, demo: false }) };
}

describe('error catalog', () => {
  it('knows its codes at run time, and nothing else', () => {
    for (const code of AGENT_ERROR_CODES) expect(isAgentErrorCode(code), code).toBe(true);
    for (const v of ['PIN-WRONG', 'pin_wrong', '', 'toString', '__proto__', 'constructor', null, 3, {}, ['internal']])
      expect(isAgentErrorCode(v), String(v)).toBe(false);
    expect(new Set(AGENT_ERROR_CODES).size).toBe(AGENT_ERROR_CODES.length);
  });

  it('sends a ContractError by its code, for every code, over the dispatcher', async () => {
    for (const code of AGENT_ERROR_CODES) {
      const { dispatcher } = throwing(new ContractError(code, `no: ${code}`));
      expect(await dispatcher.handle('session.getState', {}, { transport: 'inproc' }), code).toEqual({
        ok: false,
        error: { code, message: `no: ${code}` },
      });
    }
  });

  it('never takes a code from another exception: it is `internal`, audited by its kind only', async () => {
    const { dispatcher, audit } = throwing(
      Object.assign(new RangeError('idNat 899999000011'), { code: 'not-allowed' }),
    );
    expect(await dispatcher.handle('session.getState', {}, { transport: 'inproc' })).toEqual({
      ok: false,
      error: { code: 'internal', message: 'internal error' },
    });
    const failed = audit.recent(10).find((r) => r.action === 'command.failed');
    expect(failed?.reason).toBe('session.getState: RangeError');
  });

  it('is rebuilt by the UI’s transports from a result, for every code; an unknown code is `internal`', () => {
    for (const code of AGENT_ERROR_CODES) {
      const e = refusalOf({ code, message: 'x' });
      expect(e).toBeInstanceOf(ContractError);
      expect(e.code).toBe(code);
    }
    for (const error of [{ code: 'pin-forgotten', message: 'x' }, { message: 'x' }, null, undefined, 'internal'])
      expect(refusalOf(error).code, JSON.stringify(error)).toBe('internal');
  });

  it('has every code used by the agent or the UI (a code nobody sends is removed)', () => {
    const files = execFileSync('git', ['ls-files', '-co', '--exclude-standard', 'electron', 'renderer/src'], {
      cwd: root,
      encoding: 'utf8',
    })
      .split('\n')
      .filter((f) => /\.tsx?$/.test(f) && !f.endsWith('.test.ts') && !f.endsWith('error-messages.ts'));
    const src = files.map((f) => fs.readFileSync(path.join(root, f), 'utf8')).join('\n');
    for (const code of AGENT_ERROR_CODES) expect(src.includes(`'${code}'`), `${code} is not used`).toBe(true);
  });
});
