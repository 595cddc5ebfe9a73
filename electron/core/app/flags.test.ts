import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { flagOverrides, overridesFromArgv } from './flags';

describe('flags of a development run are settings for that run', () => {
  it('map to their settings, with demo mode and Quit on by default', () => {
    const apps = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-flags-')), 'apps.json');
    fs.writeFileSync(apps, '[{"id":"dpi"}]');
    const o = overridesFromArgv(
      [
        '--server',
        'https://sso.test',
        '--broker-apps',
        apps,
        '--broker-http-port',
        '8123',
        '--set',
        'LockMode=os',
        '--pcsc',
      ],
      { SILLAGE_ENROLMENT_TOKEN: 'tok-0123456789abcdef' },
    );
    expect(o.values).toEqual({
      DemoMode: true,
      AllowQuit: true,
      ServerUrl: 'https://sso.test',
      EnrolmentToken: 'tok-0123456789abcdef',
      BrokerApplications: '[{"id":"dpi"}]',
      BrokerHttpPort: '8123',
      LockMode: 'os',
    });
  });

  it('--no-demo turns demo mode off; a secret is refused on the command line', () => {
    expect(flagOverrides({ 'no-demo': true }, {}).values).toEqual({ DemoMode: false, AllowQuit: true });
    expect(() => flagOverrides({ set: ['EnrolmentToken=tok-0123456789abcdef'] }, {})).toThrow(
      '--set EnrolmentToken: a secret, give it in the environment',
    );
    expect(() => flagOverrides({ set: ['LockMode'] }, {})).toThrow('KEY=VALUE expected');
  });
});
