// The mock's command-line options (--name value, or MOCK_NAME in the environment).

import path from 'node:path';
import { fileURLToPath } from 'node:url';

// ---------------------------------------------------------------- options

export function opt(name, def) {
  const i = process.argv.indexOf('--' + name);
  if (i >= 0 && i + 1 < process.argv.length) return process.argv[i + 1];
  const env = process.env['MOCK_' + name.toUpperCase().replace(/-/g, '_')];
  return env !== undefined ? env : def;
}

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const PORT = Number(opt('port', 8421));
export const HOST = opt('host', '127.0.0.1');
export const PASSWORD = opt('password', process.env.CAIRN_ADMIN_PASSWORD || 'admin');
export const SEED_SERVICES = Number(opt('seed-services', 0));
export const SEED_POINTS = Number(opt('seed-points', 0));
export const JOB_SECONDS = Number(opt('job-seconds', 5));
export const DIST = path.resolve(opt('dist', path.join(HERE, '..', 'dist')));
export const SESSION_IDLE_S = Number(opt('session-idle', 12 * 3600));
