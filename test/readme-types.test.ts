/**
 * The README's JavaScript samples compile as TypeScript under `strict` against the package's
 * own declarations (dist/*.d.ts), with `require` turned into `import`: a type error fails.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const root = path.join(__dirname, '..', '..');

/** `const { a, b } = require('m');` → `import { a, b } from 'm';`, `const m = require('m');` → `import m = require('m');`. */
export function asTypeScript(js: string): string {
  return js
    .replace(/^const \{([^}]+)\} = require\(('[^']+')\);$/gm, 'import {$1} from $2;')
    .replace(/^const (\w+) = require\(('[^']+')\);$/gm, 'import $1 = require($2);') + '\nexport {};\n';
}

test('every ```js block of README.md compiles as TypeScript under strict', () => {
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);
  assert.ok(blocks.length >= 1, 'README has a JS sample');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bot-readme-ts-'));
  try {
    const files = blocks.map((code, i) => {
      const file = path.join(dir, `sample${i}.ts`);
      fs.writeFileSync(file, asTypeScript(code));
      assert.not.match(fs.readFileSync(file, 'utf8'), /^const .* = require\(/m, `sample ${i}: every require became an import`);
      return file;
    });
    fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        strict: true, noEmit: true, target: 'ES2022', module: 'commonjs', lib: ['ES2022'], esModuleInterop: true, skipLibCheck: true,
        types: ['node'], typeRoots: [path.join(root, 'node_modules', '@types')], baseUrl: dir,
        paths: { bagoftricks: [path.join(root, 'dist', 'index.d.ts')], sharp: [path.join(root, 'node_modules', 'sharp')] },
      },
      files,
    }));
    const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const r = spawnSync(process.execPath, [tsc, '-p', path.join(dir, 'tsconfig.json')], { encoding: 'utf8', timeout: 120_000 });
    assert.is(r.status, 0, `type errors in the README's samples:\n${r.stdout}${r.stderr}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the conversion keeps what it does not recognise', () => {
  assert.is(asTypeScript("const { a, b } = require('x');\nfoo();"), "import { a, b } from 'x';\nfoo();\nexport {};\n");
  assert.is(asTypeScript("const s = require('sharp');"), "import s = require('sharp');\nexport {};\n");
});

test.run();
