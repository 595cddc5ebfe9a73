// Group Policy templates (ADMX + fr-FR/en-US ADML) and the MSI registry fragment, generated from the
// schema: `npm run gen:policy` writes them to resources/, and a test fails when they drift.
import { createHash } from 'node:crypto';
import { POLICY_KEY, SCHEMA, VENDOR } from './schema';
import type { Category, SettingDef } from './schema';

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const CATEGORIES: Category[] = ['server', 'readers', 'session', 'broker', 'dmp', 'ui', 'logs'];
const CATEGORY_TEXT: Record<Category, { fr: string; en: string }> = {
  server: { fr: 'Serveur de sessions', en: 'Session server' },
  readers: { fr: 'Cartes, badges et lecteurs', en: 'Cards, badges and readers' },
  session: { fr: 'Sessions et verrouillage', en: 'Sessions and locking' },
  broker: { fr: 'Courtier DPI', en: 'EHR broker' },
  dmp: { fr: 'DMP', en: 'DMP' },
  ui: { fr: 'Interface', en: 'User interface' },
  logs: { fr: 'Journaux', en: 'Logs' },
};
export const ADMX_NAMESPACE = `${VENDOR}.Policies.Sillage`;
const SUPPORTED = 'SUPPORTED_Sillage_0_1';

/** Windows policy class: settings a user may also choose are "Both" (HKCU allowed), others machine-only. */
const policyClass = (s: SettingDef) => (s.userSettable ? 'Both' : 'Machine');

const elements = (inner: string) => `      <elements>\n${inner}      </elements>\n`;

function element(s: SettingDef): string {
  switch (s.type) {
    case 'boolean':
      return '';
    case 'integer': {
      const range = `minValue="${s.min ?? 0}" maxValue="${s.max ?? 2147483647}"`;
      return elements(`        <decimal id="${s.key}" valueName="${s.key}" ${range} />\n`);
    }
    case 'enum': {
      const item = (v: string) =>
        `          <item displayName="$(string.${s.key}_${v})"><value><string>${esc(v)}</string></value></item>\n`;
      const items = s.values!.map(item).join('');
      return elements(`        <enum id="${s.key}" valueName="${s.key}">\n${items}        </enum>\n`);
    }
    case 'string':
    case 'json':
      return elements(`        <text id="${s.key}" valueName="${s.key}" maxLength="4096" />\n`);
  }
}

/** The namespaces and revisions of both the ADMX and the ADML root elements. */
const POLICY_XMLNS =
  'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ' +
  'revision="1.0" schemaVersion="1.0" xmlns="http://schemas.microsoft.com/GroupPolicy/2006/07/PolicyDefinitions"';

const category = (c: Category) =>
  `    <category name="Sillage_${c}" displayName="$(string.Category_${c})">\n` +
  '      <parentCategory ref="Sillage" />\n    </category>\n';

export function admx(): string {
  const policies = SCHEMA.map((s) => {
    const bool = s.type === 'boolean';
    const presentation = bool ? '' : ` presentation="$(presentation.${s.key})"`;
    const valueName = bool ? ` valueName="${s.key}"` : '';
    const enabled = bool
      ? '      <enabledValue><decimal value="1" /></enabledValue>\n' +
        '      <disabledValue><decimal value="0" /></disabledValue>\n'
      : '';
    const names = `name="${s.key}" class="${policyClass(s)}" displayName="$(string.${s.key})"`;
    const explain = `explainText="$(string.${s.key}_Explain)"${presentation} key="${esc(POLICY_KEY)}"${valueName}`;
    return (
      `    <policy ${names} ${explain}>\n      <parentCategory ref="Sillage_${s.category}" />\n` +
      `      <supportedOn ref="${SUPPORTED}" />\n${enabled}${element(s)}    </policy>\n`
    );
  }).join('');
  return `<?xml version="1.0" encoding="utf-8"?>
<!-- Generated from electron/core/config/schema.ts by npm run gen:policy. Do not edit. -->
<policyDefinitions ${POLICY_XMLNS}>
  <policyNamespaces>
    <target prefix="sillage" namespace="${ADMX_NAMESPACE}" />
    <using prefix="windows" namespace="Microsoft.Policies.Windows" />
  </policyNamespaces>
  <resources minRequiredRevision="1.0" />
  <supportedOn>
    <definitions>
      <definition name="${SUPPORTED}" displayName="$(string.${SUPPORTED})" />
    </definitions>
  </supportedOn>
  <categories>
    <category name="Sillage" displayName="$(string.Sillage)" />
${CATEGORIES.map(category).join('')}  </categories>
  <policies>
${policies}  </policies>
</policyDefinitions>
`;
}

export function adml(lang: 'fr' | 'en'): string {
  const strings: [string, string][] = [
    ['Sillage', 'Sillage'],
    [SUPPORTED, lang === 'fr' ? 'Sillage 0.1 et versions ultérieures' : 'Sillage 0.1 and later'],
    ...CATEGORIES.map((c): [string, string] => [`Category_${c}`, CATEGORY_TEXT[c][lang]]),
  ];
  const presentations: string[] = [];
  for (const s of SCHEMA) {
    const t = s[lang];
    const dflt = s.type === 'json' ? JSON.stringify(s.default) : String(s.default);
    const defaultNote =
      lang === 'fr'
        ? `Valeur par défaut : ${dflt === '' ? '(vide)' : dflt}.`
        : `Default: ${dflt === '' ? '(empty)' : dflt}.`;
    const lockNote =
      lang === 'fr'
        ? 'Une valeur fixée par stratégie apparaît verrouillée dans Sillage ; une valeur invalide est refusée et ' +
          'la précédente reste en vigueur.'
        : 'A value set by policy shows as locked in Sillage; an invalid value is refused and the previous one ' +
          'stays in force.';
    strings.push([s.key, t.label], [`${s.key}_Explain`, `${t.help}\n\n${defaultNote}\n${lockNote}`]);
    if (s.type === 'enum') for (const v of s.values!) strings.push([`${s.key}_${v}`, v]);
    if (s.type === 'boolean') continue;
    const control =
      s.type === 'integer'
        ? `<decimalTextBox refId="${s.key}" defaultValue="${s.default as number}">${esc(t.label)}</decimalTextBox>`
        : s.type === 'enum'
          ? `<dropdownList refId="${s.key}" noSort="true" defaultItem="${s.values!.indexOf(s.default as string)}">` +
            `${esc(t.label)}</dropdownList>`
          : `<textBox refId="${s.key}"><label>${esc(t.label)}</label></textBox>`;
    presentations.push(`      <presentation id="${s.key}">\n        ${control}\n      </presentation>\n`);
  }
  return `<?xml version="1.0" encoding="utf-8"?>
<!-- Generated from electron/core/config/schema.ts by npm run gen:policy. Do not edit. -->
<policyDefinitionResources ${POLICY_XMLNS}>
  <displayName>Sillage</displayName>
  <description>${lang === 'fr' ? 'Stratégies de l’agent Sillage' : 'Sillage agent policies'}</description>
  <resources>
    <stringTable>
${strings.map(([id, text]) => `      <string id="${id}">${esc(text)}</string>\n`).join('')}    </stringTable>
    <presentationTable>
${presentations.join('')}    </presentationTable>
  </resources>
</policyDefinitionResources>
`;
}

/** Stable component GUIDs (MSI needs the same GUID for the same component across versions). */
function guid(name: string): string {
  const h = createHash('sha1').update(`sillage-msi:${name}`).digest('hex');
  const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  const parts = [h.slice(0, 8), h.slice(8, 12), `5${h.slice(13, 16)}`, `${variant}${h.slice(17, 20)}`, h.slice(20, 32)];
  return parts.join('-').toUpperCase();
}

export const UPGRADE_CODE = '6F1C2A47-8E0B-4C53-9A3E-2B7D4F51C9E8';

/**
 * The machine-configuration part of the MSI as WiX elements to put inside a <Product>: public
 * properties (silent install: `msiexec /i Sillage.msi /qn SERVER_URL=https://… ENROLMENT_TOKEN=…`)
 * written to the policy key, hidden from msiexec logs when secret, and start at logon for every user
 * (`appDir`: the directory holding Sillage.exe — APPLICATIONFOLDER in electron-builder's MSI).
 * electron-builder's msiProjectCreated hook (scripts/msi-project-created.cjs) injects them.
 */
export function wixMachineConfigElements(dialect: 'wix3' | 'wixl' = 'wix3', appDir = 'APPLICATIONFOLDER'): string {
  // wixl (msitools) builds a subset of WiX 3: no component conditions, no Secure attributes. The
  // 'wixl' dialect drops them so the registry table can be built and read back on Linux.
  const full = dialect === 'wix3';
  const props = SCHEMA.filter((s) => s.msiProperty);
  const component = (s: SettingDef) =>
    `      <Component Id="Policy${s.key}" Guid="${guid(s.key)}">\n` +
    (full ? `        <Condition>${s.msiProperty}</Condition>\n` : '') +
    `        <RegistryValue Root="HKLM" Key="${esc(POLICY_KEY)}" Name="${s.key}" Type="string" ` +
    `Value="[${s.msiProperty}]" KeyPath="yes" />\n` +
    '      </Component>\n';
  const components = props.map(component).join('');
  const properties = props
    .map((s) => `    <Property Id="${s.msiProperty}"${full ? ' Secure="yes"' : ''} />\n`)
    .join('');
  const hidden = props.filter((s) => s.secret).map((s) => s.msiProperty);
  const runAtLogon =
    '        <RegistryValue Root="HKLM" Key="SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run" Name="Sillage" ' +
    `Type="string" Value="&quot;[${appDir}]Sillage.exe&quot; --hidden" KeyPath="yes" />\n`;
  return `    <!-- sillage machine configuration: begin (generated from electron/core/config/schema.ts) -->
${properties}    <!-- Never written to msiexec logs. -->
    <Property Id="MsiHiddenProperties" Value="${hidden.join(';')}" />
    <DirectoryRef Id="TARGETDIR">
${components}      <Component Id="RunAtLogon" Guid="${guid('RunAtLogon')}">
${runAtLogon}      </Component>
    </DirectoryRef>
    <Feature Id="MachineConfiguration" Level="1">
${props.map((s) => `      <ComponentRef Id="Policy${s.key}" />\n`).join('')}      <ComponentRef Id="RunAtLogon" />
    </Feature>
    <!-- sillage machine configuration: end -->
`;
}

/** The same elements in a product of their own, built alone with wixl so the registry table can be checked. */
export function wixPolicyFragment(version: string, dialect: 'wix3' | 'wixl' = 'wix3'): string {
  const full = dialect === 'wix3';
  const product =
    `Id="*" Name="Sillage (configuration machine)" Language="1036" Version="${version}" ` +
    `Manufacturer="Sillage" UpgradeCode="${UPGRADE_CODE}"`;
  return `<?xml version="1.0" encoding="utf-8"?>
<!-- Generated from electron/core/config/schema.ts by npm run gen:policy. Do not edit. -->
<Wix xmlns="http://schemas.microsoft.com/wix/2006/wi">
  <Product ${product}>
    <Package InstallerVersion="500" Compressed="yes" InstallScope="perMachine"${full ? ' Platform="x64"' : ''} />
    <Directory Id="TARGETDIR" Name="SourceDir">
      <Directory Id="ProgramFiles64Folder">
        <Directory Id="INSTALLDIR" Name="Sillage" />
      </Directory>
    </Directory>
${wixMachineConfigElements(dialect, 'INSTALLDIR')}  </Product>
</Wix>
`;
}
