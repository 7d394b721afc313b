/** The package under test, loaded as a user would (through its main entry). */
// eslint-disable-next-line @typescript-eslint/no-var-requires
export const bot: typeof import('../../lib/index') = require('../../..');
