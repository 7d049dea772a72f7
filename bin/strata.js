#!/usr/bin/env node
// The `strata` command. The TypeScript sources are compiled by `npm ci` (the prepare script).
import('../dist/src/main.js').catch((error) => {
  if (error && error.code === 'ERR_MODULE_NOT_FOUND') {
    console.error('strata is not built yet: run `npm run build` first');
    process.exit(1);
  }
  throw error;
});
