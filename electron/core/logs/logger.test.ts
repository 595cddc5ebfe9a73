import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Logger, machineLogDir, redact } from './logger';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-logs-'));
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('agent log', () => {
  it('rotates by size, keeps N files, and honours the level', () => {
    let level: 'info' | 'warn' = 'info';
    const log = new Logger({ dir, level: () => level, maxBytes: 2000, keep: 3 });
    for (let i = 0; i < 200; i++) log.info('lecteur ajouté', { reader: `Lecteur ${i}`, n: i });
    log.close();
    const files = fs.readdirSync(dir).sort();
    expect(files).toEqual(['sillage.log', 'sillage.log.1', 'sillage.log.2', 'sillage.log.3']);
    for (const f of files) expect(fs.statSync(path.join(dir, f)).size).toBeLessThanOrEqual(2000);
    expect(log.tail(1)[0]).toContain('Lecteur 199');
    level = 'warn';
    log.info('not written');
    log.close();
    expect(log.tail(1)[0]).toContain('Lecteur 199');
  });

  it('never writes a secret, by field name or by shape', () => {
    const log = new Logger({ dir, level: () => 'debug' });
    const jwt = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln';
    log.debug(`exchange with ${jwt}`, {
      pin: '1234',
      enrolmentToken: 'tok_abcdefabcdef',
      headers: { authorization: 'Bearer abc' },
      note: `Bearer xyz`,
      reader: 'Lecteur CPS',
    });
    log.close();
    const text = fs.readFileSync(path.join(dir, 'sillage.log'), 'utf8');
    for (const s of ['1234', 'tok_abcdefabcdef', 'abc"', 'xyz', jwt]) expect(text).not.toContain(s);
    expect(text).toContain('Lecteur CPS');
    expect(redact({ a: [{ secret: 's' }] })).toEqual({ a: [{ secret: '[redacted]' }] });
  });
});

describe('machine log location', () => {
  it("is the machine's when writable, the user's otherwise, per OS", () => {
    const yes = () => true;
    const no = () => false;
    expect(
      machineLogDir({
        platform: 'win32',
        env: { ProgramData: 'C:\\ProgramData' },
        home: 'C:\\Users\\ide',
        writable: yes,
      }),
    ).toBe('C:\\ProgramData\\Sillage\\logs');
    expect(
      machineLogDir({
        platform: 'win32',
        env: { ProgramData: 'C:\\ProgramData', LOCALAPPDATA: 'C:\\Users\\ide\\AppData\\Local' },
        home: 'C:\\Users\\ide',
        writable: no,
      }),
    ).toBe('C:\\Users\\ide\\AppData\\Local\\Sillage\\logs');
    expect(machineLogDir({ platform: 'linux', env: {}, home: '/home/ide', writable: yes })).toBe('/var/log/sillage');
    expect(machineLogDir({ platform: 'linux', env: {}, home: '/home/ide', writable: no })).toBe(
      '/home/ide/.local/state/sillage/logs',
    );
    expect(machineLogDir({ platform: 'darwin', env: {}, home: '/Users/ide', writable: yes })).toBe(
      '/Users/ide/Library/Logs/Sillage',
    );
  });
});
