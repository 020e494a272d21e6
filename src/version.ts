import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package version, found by walking up from this file (works from src/ under tsx and from dist/). */
export function readVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, 'package.json');
    /* eslint-disable security/detect-non-literal-fs-filename -- walks up from this module's own folder */
    if (existsSync(candidate)) {
      const pkg = JSON.parse(readFileSync(candidate, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'waygate') return pkg.version ?? '0.0.0';
    }
    /* eslint-enable security/detect-non-literal-fs-filename */
    dir = dirname(dir);
  }
  return '0.0.0';
}
