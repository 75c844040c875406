// Builds agent.js into a component with componentize-js (npm, the version
// tests/tools/install.sh pins), without the features that would give it network. The
// component reads no file: tests/events/every-kind.json goes in as the module every-kind.js,
// written beside a copy of agent.js.
//
//   NODE_PATH=<the node_modules holding componentize-js> node build.mjs OUT.wasm
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2];
if (!out || !process.env.NODE_PATH) {
  console.error('usage: NODE_PATH=<node_modules with componentize-js> node build.mjs OUT.wasm');
  process.exit(2);
}
// ES modules do not read NODE_PATH: the package's entry is taken from its manifest.
const pkg = join(resolve(process.env.NODE_PATH), '@bytecodealliance/componentize-js');
const manifest = JSON.parse(await readFile(join(pkg, 'package.json'), 'utf8'));
const { componentize } = await import(pathToFileURL(join(pkg, manifest.exports.import)).href);
const sources = await mkdtemp(join(tmpdir(), 'js-agent-'));
try {
  const events = JSON.parse(await readFile(join(here, '../../events/every-kind.json'), 'utf8'));
  await writeFile(join(sources, 'every-kind.js'), `export default ${JSON.stringify(events)};\n`);
  await copyFile(join(here, 'agent.js'), join(sources, 'agent.js'));
  const { component } = await componentize({
    sourcePath: join(sources, 'agent.js'),
    witPath: join(here, '../../../wit'),
    worldName: 'agent-command',
    disableFeatures: ['http', 'fetch-event'],
  });
  await writeFile(out, component);
  console.log(`built ${out}: ${component.length} bytes`);
} finally {
  await rm(sources, { recursive: true, force: true });
}
