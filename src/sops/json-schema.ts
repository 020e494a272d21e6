import { z } from 'zod';
import { definitionSchema } from './definition.js';

/**
 * The JSON Schema of a definition file, generated from the zod schema the bot validates with, so editors
 * complete and check the same rules (`npm run schema` writes it to `sops/definition.schema.json`).
 */
export function definitionJsonSchema(): string {
  // Input side: what a person writes (durations as "45m", before they become milliseconds).
  const schema = z.toJSONSchema(definitionSchema, { io: 'input', unrepresentable: 'any' });
  return `${JSON.stringify({ ...schema, title: 'Waygate procedure definition' }, null, 2)}\n`;
}
