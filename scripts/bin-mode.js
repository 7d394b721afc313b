// Marks the command-line entry point executable after TypeScript has written it: tsc
// emits files without the executable bit, and `npx bagoftricks` in a clone of this
// repository runs dist/cli.js directly (installs from the registry get the bit from npm).
'use strict';
const fs = require('fs');
const path = require('path');

const cli = path.join(__dirname, '..', 'dist', 'cli.js');
if (fs.existsSync(cli)) fs.chmodSync(cli, fs.statSync(cli).mode | 0o111);
