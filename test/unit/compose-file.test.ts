import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { envSchema } from '../../src/config/schema.js';

interface ComposeService {
  build?: string;
  image?: string;
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
}

// Compose merges `<<: *waygate` (YAML 1.1 merge keys).
const compose = parse(readFileSync(join(import.meta.dirname, '..', '..', 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, ComposeService> };

describe('docker-compose.yml (PostgreSQL and two replicas)', () => {
  const replicas = Object.entries(compose.services).filter(([, s]) => s.build === '.');

  it('runs two replicas of the one image on a PostgreSQL 15 service they wait for', () => {
    expect(replicas.map(([name]) => name)).toHaveLength(2);
    expect(compose.services.postgres?.image).toMatch(/^postgres:1[5-9]/);
    for (const [, service] of replicas) {
      expect(service.depends_on?.postgres?.condition).toBe('service_healthy');
      expect(service.environment?.WAYGATE_DATABASE_URL).toMatch(/^postgres:\/\/waygate:\$\{POSTGRES_PASSWORD[^}]*\}@postgres:5432\/waygate$/);
    }
  });

  it('sets only variables Waygate reads', () => {
    const known = Object.keys(envSchema.shape);
    for (const [name, service] of replicas) {
      expect(Object.keys(service.environment ?? {}).filter((k) => !known.includes(k)), name).toEqual([]);
    }
  });
});
