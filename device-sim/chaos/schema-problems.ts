// A TypeBox schema's errors as one line per key: `fleet.devices: expected a number >= 1`. Schema nodes carry their
// message in `errorMessage`; an error inside a node without one (a list item) is reported at the nearest node that has
// one (`fleet.profiles: a list of …`). Unknown keys are refused by name.
import { KindGuard, type TSchema } from '@sinclair/typebox';
import { ValueErrorType } from '@sinclair/typebox/errors';
import { Value } from '@sinclair/typebox/value';

/** `/steps/1/at` → `steps[1].at` */
export function pointerToPath(segments: readonly string[]): string {
  let out = '';
  for (const seg of segments) out += /^\d+$/.test(seg) ? `[${seg}]` : out === '' ? seg : `.${seg}`;
  return out;
}

function child(schema: TSchema, seg: string): TSchema | undefined {
  if (KindGuard.IsObject(schema)) return schema.properties[seg];
  if (KindGuard.IsArray(schema)) return schema.items;
  if (KindGuard.IsRecord(schema)) return Object.values(schema.patternProperties)[0];
  return undefined;
}

/** The deepest node on the path with a message, and how many segments lead to it. */
function messageAt(root: TSchema, segments: readonly string[]): { depth: number; message: string } | undefined {
  let node: TSchema | undefined = root;
  let found: { depth: number; message: string } | undefined;
  for (let depth = 0; node; depth++) {
    if (typeof node.errorMessage === 'string') found = { depth, message: node.errorMessage };
    const seg = segments[depth];
    if (seg === undefined) break;
    node = child(node, seg);
  }
  return found;
}

const segmentsOf = (pointer: string): string[] =>
  pointer
    .split('/')
    .slice(1)
    .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));

/** Every problem of value against schema, the first one per key, in the order the schema finds them. */
export function schemaProblems(schema: TSchema, value: unknown): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const e of Value.Errors(schema, value)) {
    const segments = segmentsOf(e.path);
    let line: string;
    if (e.type === ValueErrorType.ObjectAdditionalProperties) {
      const path = pointerToPath(segments);
      line = `${segments.length === 1 ? `scenario.${path}` : path}: unknown key`;
    } else {
      const at = messageAt(schema, segments);
      const path = pointerToPath(segments.slice(0, at?.depth ?? segments.length));
      line = `${path}: ${at?.message ?? e.message}`;
    }
    const key = line.slice(0, line.indexOf(': '));
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(line);
  }
  return out;
}
