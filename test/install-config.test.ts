/** What a source build on a user's machine compiles, and where it leaves its files (scripts/build-config.js). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as path from 'path';

interface BuildConfig {
  RELEASE_ARCHS: string;
  targetFor(capability: string): string | null;
  cudaArchsFor(requested: string | undefined, capability: () => string | null): { list: string; reason: string };
  installedAsDependency(root: string): boolean;
}
// eslint-disable-next-line @typescript-eslint/no-var-requires
const config: BuildConfig = require(path.join(__dirname, '..', '..', 'scripts', 'build-config.js'));

test('a local GPU that is a release target gets its own CUDA target only', () => {
  assert.is(config.cudaArchsFor(undefined, () => '8.6').list, '86');
  assert.is(config.cudaArchsFor(undefined, () => '9.0').list, '90a');
  assert.is(config.cudaArchsFor('', () => '8.0').list, '80');
  assert.match(config.cudaArchsFor(undefined, () => '8.9').reason, 'BAGOFTRICKS_CUDA_ARCHS=all');
});

test('no GPU, or one that is not a release target, gets every release target', () => {
  assert.is(config.RELEASE_ARCHS, '80;86;89;90a');
  assert.is(config.cudaArchsFor(undefined, () => null).list, '80;86;89;90a');
  assert.is(config.cudaArchsFor(undefined, () => '12.0').list, '80;86;89;90a');
  assert.is(config.cudaArchsFor(undefined, () => '7.5').list, '80;86;89;90a');
  assert.is(config.targetFor('garbage'), null);
});

test('BAGOFTRICKS_CUDA_ARCHS overrides the detection without asking nvidia-smi', () => {
  const never = (): string | null => {
    throw new Error('the GPU was queried');
  };
  assert.is(config.cudaArchsFor('all', never).list, '80;86;89;90a');
  assert.is(config.cudaArchsFor('80,90a', never).list, '80;90a');
  assert.is(config.cudaArchsFor('89', never).list, '89');
});

test('build intermediates are removed only where the package is installed as a dependency', () => {
  assert.is(config.installedAsDependency('/home/u/app/node_modules/bagoftricks'), true);
  assert.is(config.installedAsDependency('/home/u/app/node_modules/@scope/x/node_modules/bagoftricks'), true);
  assert.is(config.installedAsDependency('/home/u/src/bagoftricks'), false);
});

test.run();
