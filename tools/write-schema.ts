// `npm run schema`: writes the JSON Schema of procedure definition files next to them.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { definitionJsonSchema } from '../src/sops/json-schema.js';

const target = join(import.meta.dirname, '..', 'sops', 'definition.schema.json');
writeFileSync(target, definitionJsonSchema());
console.log(`wrote ${target}`);
