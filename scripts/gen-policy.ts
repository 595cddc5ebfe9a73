// `npm run gen:policy`: writes the ADMX/ADML templates and the MSI registry fragment from the schema.
import fs from 'node:fs';
import path from 'node:path';
import { adml, admx, wixMachineConfigElements, wixPolicyFragment } from '../electron/core/config/templates';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const version = (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version;
export const GENERATED: Record<string, () => string> = {
  'resources/policy/sillage.admx': admx,
  'resources/policy/fr-FR/sillage.adml': () => adml('fr'),
  'resources/policy/en-US/sillage.adml': () => adml('en'),
  'resources/installer/machine-config.wxs': () => wixPolicyFragment(version),
  // Injected into electron-builder's MSI project by scripts/msi-project-created.cjs.
  'resources/installer/machine-config.elements.xml': () => wixMachineConfigElements('wix3', 'APPLICATIONFOLDER'),
};
if (import.meta.url === `file://${process.argv[1]}`) {
  for (const [file, make] of Object.entries(GENERATED)) {
    fs.mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    fs.writeFileSync(path.join(root, file), make());
    console.log(`wrote ${file}`);
  }
}
