// electron-builder `msiProjectCreated` hook: puts the machine-configuration elements (MSI public
// properties written to the policy key, hidden secrets, start at logon for every user) into the WiX
// project electron-builder generated, before it is compiled. The elements are generated from the schema
// (npm run gen:policy → resources/installer/machine-config.elements.xml).
const fs = require('node:fs');
const path = require('node:path');

const ELEMENTS = path.join(__dirname, '..', 'resources', 'installer', 'machine-config.elements.xml');

/** The project with the elements inside its <Product>, once; throws on a project it does not understand. */
function injectMachineConfig(projectXml, elements) {
  if (projectXml.includes('sillage machine configuration: begin')) return projectXml;
  const at = projectXml.lastIndexOf('</Product>');
  if (at < 0) throw new Error('msiProjectCreated: no </Product> in the generated WiX project');
  if (!/<Directory\s+Id="TARGETDIR"/.test(projectXml))
    throw new Error('msiProjectCreated: the WiX project has no TARGETDIR directory');
  return `${projectXml.slice(0, at)}${elements}${projectXml.slice(at)}`;
}

module.exports = async function msiProjectCreated(projectFile) {
  const xml = fs.readFileSync(projectFile, 'utf8');
  fs.writeFileSync(projectFile, injectMachineConfig(xml, fs.readFileSync(ELEMENTS, 'utf8')));
};
module.exports.injectMachineConfig = injectMachineConfig;
