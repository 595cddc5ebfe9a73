// Deployment artefacts from the one configuration schema: ADMX/ADML well-formed (xmllint) and in
// one-to-one correspondence with the schema, committed files up to date, and the MSI registry
// fragment built with Debian's wixl and read back with msiinfo.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { POLICY_KEY, SCHEMA } from '../../electron/core/config/schema';
import { createRequire } from 'node:module';
import { UPGRADE_CODE, wixMachineConfigElements, wixPolicyFragment } from '../../electron/core/config/templates';
import { GENERATED } from '../../scripts/gen-policy';

const ROOT = path.resolve(__dirname, '../..');
const file = (f: string) => path.join(ROOT, f);
const xpath = (f: string, expr: string): string[] => {
  try {
    return execFileSync('xmllint', ['--xpath', expr, file(f)], { encoding: 'utf8' })
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .map((l) => l.replace(/^\w+="(.*)"$/, '$1'));
  } catch {
    return []; // xmllint exits non-zero when the expression selects nothing
  }
};
const ADMX = 'resources/policy/sillage.admx';
const ADMLS = ['resources/policy/fr-FR/sillage.adml', 'resources/policy/en-US/sillage.adml'];

describe('Group Policy templates', () => {
  it('are committed as generated from the schema (npm run gen:policy)', () => {
    for (const [f, make] of Object.entries(GENERATED))
      expect(fs.readFileSync(file(f), 'utf8'), `${f} is stale: run npm run gen:policy`).toBe(make());
  });

  it('are well-formed XML', () => {
    for (const f of [ADMX, ...ADMLS, 'resources/installer/machine-config.wxs'])
      expect(() => execFileSync('xmllint', ['--noout', file(f)], { stdio: 'pipe' })).not.toThrow();
  });

  it('have exactly one policy per schema setting, under the policy key, with the same value name', () => {
    const keys = SCHEMA.map((s) => s.key).sort();
    expect(xpath(ADMX, "//*[local-name()='policy']/@name").sort()).toEqual(keys);
    expect(new Set(xpath(ADMX, "//*[local-name()='policy']/@key"))).toEqual(new Set([POLICY_KEY]));
    // Each policy writes the registry value named after its setting (policy valueName or its element's).
    const valueNames = [
      ...xpath(ADMX, "//*[local-name()='policy']/@valueName"),
      ...xpath(ADMX, "//*[local-name()='elements']/*/@valueName"),
    ].sort();
    expect(valueNames).toEqual(keys);
    for (const s of SCHEMA.filter((x) => x.type === 'enum')) {
      expect(xpath(ADMX, `//*[local-name()='enum'][@id='${s.key}']//*[local-name()='string']/text()`)).toEqual([
        ...s.values!,
      ]);
    }
    for (const s of SCHEMA.filter((x) => x.type === 'integer')) {
      expect(xpath(ADMX, `//*[local-name()='decimal'][@id='${s.key}']/@minValue`)).toEqual([String(s.min)]);
      expect(xpath(ADMX, `//*[local-name()='decimal'][@id='${s.key}']/@maxValue`)).toEqual([String(s.max)]);
    }
  });

  it('have every string and presentation the ADMX refers to, in French and in English, and nothing else', () => {
    const text = fs.readFileSync(file(ADMX), 'utf8');
    const strings = new Set([...text.matchAll(/\$\(string\.([\w]+)\)/g)].map((m) => m[1]!));
    const presentations = new Set([...text.matchAll(/\$\(presentation\.([\w]+)\)/g)].map((m) => m[1]!));
    const explains = SCHEMA.map((s) => `${s.key}_Explain`);
    for (const f of ADMLS) {
      const ids = new Set(xpath(f, "//*[local-name()='string']/@id"));
      for (const id of strings) expect(ids.has(id), `${f} lacks string ${id}`).toBe(true);
      for (const id of explains) expect(ids.has(id), `${f} lacks ${id}`).toBe(true);
      expect(ids.size).toBe(strings.size);
      expect(new Set(xpath(f, "//*[local-name()='presentation']/@id"))).toEqual(presentations);
    }
    expect(xpath(ADMLS[0]!, "//*[local-name()='string'][@id='InactivityLockMinutes']/text()")).toEqual([
      'Verrouillage après inactivité (minutes)',
    ]);
    expect(xpath(ADMLS[1]!, "//*[local-name()='string'][@id='InactivityLockMinutes']/text()")).toEqual([
      'Lock after inactivity (minutes)',
    ]);
  });
});

describe('MSI machine-configuration fragment', () => {
  it('builds with wixl; its registry table writes the MSI properties to the policy key and starts Sillage at logon', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-msi-'));
    try {
      fs.writeFileSync(path.join(dir, 'frag.wxs'), wixPolicyFragment('0.1.0', 'wixl'));
      execFileSync('wixl', ['-a', 'x64', '-o', path.join(dir, 'frag.msi'), path.join(dir, 'frag.wxs')], {
        stdio: 'pipe',
      });
      const rows = execFileSync('msiinfo', ['export', path.join(dir, 'frag.msi'), 'Registry'], { encoding: 'utf8' })
        .split(/\r?\n/)
        .slice(3)
        .filter(Boolean)
        .map((l) => l.split('\t'));
      const byName = Object.fromEntries(rows.map((r) => [r[3], { root: r[1], key: r[2], value: r[4] }]));
      for (const s of SCHEMA.filter((x) => x.msiProperty))
        expect(byName[s.key]).toEqual({ root: '2', key: POLICY_KEY, value: `[${s.msiProperty}]` }); // 2 = HKLM
      expect(byName.Sillage).toEqual({
        root: '2',
        key: 'SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run',
        value: '"[INSTALLDIR]Sillage.exe" --hidden',
      });
      const props = Object.fromEntries(
        execFileSync('msiinfo', ['export', path.join(dir, 'frag.msi'), 'Property'], { encoding: 'utf8' })
          .split(/\r?\n/)
          .slice(3)
          .filter(Boolean)
          .map((l) => l.split('\t')),
      );
      expect(props).toMatchObject({
        ALLUSERS: '1',
        MsiHiddenProperties: 'ENROLMENT_TOKEN',
        UpgradeCode: `{${UPGRADE_CODE}}`,
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('shares the pinned upgrade code with electron-builder, and the full WiX source writes a property only when given', () => {
    const yml = fs.readFileSync(file('electron-builder.yml'), 'utf8');
    expect(/upgradeCode:\s*([0-9a-fA-F-]+)/.exec(yml)?.[1]?.toUpperCase()).toBe(UPGRADE_CODE);
    const wix3 = wixPolicyFragment('0.1.0');
    for (const s of SCHEMA.filter((x) => x.msiProperty)) {
      expect(wix3).toContain(`<Condition>${s.msiProperty}</Condition>`);
      expect(wix3).toContain(`<Property Id="${s.msiProperty}" Secure="yes" />`);
    }
  });

  it("electron-builder's msiProjectCreated hook puts the machine configuration into the app's own MSI project", async () => {
    const hook = createRequire(import.meta.url)(file('scripts/msi-project-created.cjs')) as ((
      f: string,
    ) => Promise<void>) & { injectMachineConfig(xml: string, elements: string): string };
    // Shaped like electron-builder's generated project: the app under APPLICATIONFOLDER, its own feature.
    const project = `<?xml version="1.0" encoding="utf-8"?>
<Wix xmlns="http://schemas.microsoft.com/wix/2006/wi">
  <Product Id="*" Name="Sillage" Language="1036" Version="0.1.0" Manufacturer="Sillage" UpgradeCode="${UPGRADE_CODE}">
    <Package InstallerVersion="500" Compressed="yes" InstallScope="perMachine" />
    <Directory Id="TARGETDIR" Name="SourceDir">
      <Directory Id="ProgramFiles64Folder">
        <Directory Id="APPLICATIONFOLDER" Name="Sillage">
          <Component Id="AppMarker" Guid="3B1D1C8E-6F0A-4F7E-9C1B-2A4E5D6F7A8B">
            <RegistryValue Root="HKLM" Key="SOFTWARE\\Sillage" Name="Installed" Type="string" Value="1" KeyPath="yes" />
          </Component>
        </Directory>
      </Directory>
    </Directory>
    <Feature Id="ProductFeature" Level="1"><ComponentRef Id="AppMarker" /></Feature>
  </Product>
</Wix>
`;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-msi-hook-'));
    try {
      // The hook itself on the real (WiX 3) elements: inserted once, well-formed.
      const wxs = path.join(dir, 'project.wxs');
      fs.writeFileSync(wxs, project);
      await hook(wxs);
      await hook(wxs);
      const patched = fs.readFileSync(wxs, 'utf8');
      expect(patched.split('sillage machine configuration: begin').length).toBe(2);
      execFileSync('xmllint', ['--noout', wxs]);
      expect(patched).toContain('&quot;[APPLICATIONFOLDER]Sillage.exe&quot; --hidden');
      // Built with wixl (its WiX subset) and read back: the app's component and ours, in two features.
      fs.writeFileSync(
        path.join(dir, 'wixl.wxs'),
        hook.injectMachineConfig(project, wixMachineConfigElements('wixl', 'APPLICATIONFOLDER')),
      );
      execFileSync('wixl', ['-a', 'x64', '-o', path.join(dir, 'app.msi'), path.join(dir, 'wixl.wxs')], {
        stdio: 'pipe',
      });
      const table = (t: string) =>
        execFileSync('msiinfo', ['export', path.join(dir, 'app.msi'), t], { encoding: 'utf8' })
          .split(/\r?\n/)
          .slice(3)
          .filter(Boolean)
          .map((l) => l.split('\t'));
      const names = table('Registry').map((r) => r[3]);
      expect(names).toEqual(
        expect.arrayContaining(['Installed', 'Sillage', ...SCHEMA.filter((x) => x.msiProperty).map((x) => x.key)]),
      );
      expect(
        table('Feature')
          .map((r) => r[0])
          .sort(),
      ).toEqual(['MachineConfiguration', 'ProductFeature']);
      expect(() => hook.injectMachineConfig('<Wix><Product></Product></Wix>', 'x')).toThrow(/TARGETDIR/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
