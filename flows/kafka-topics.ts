// The Kafka topics the flows write (their `cloud out` nodes), read from the flows file the runtime will load, so the
// gateway can tell at start when a route writes the same topic (each message would land there twice).
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FlowsConfig } from './schema.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
/** As flows/runtime.ts: the shipped flows, copied to `<dataDir>/node-red/flows.json` on the first start. */
const SHIPPED = path.join(here, 'default-flows.json');

export interface FlowOutput {
  /** The flow's tab label. */
  flow: string;
  kafkaTopic: string;
}

/** The flows file the runtime loads: the deployed one, else the shipped one when it will be installed. */
export function flowsFileInUse(dataDir: string, config: FlowsConfig): string | undefined {
  if (!config.enabled) return undefined;
  const deployed = path.join(dataDir, 'node-red', 'flows.json');
  if (existsSync(deployed)) return deployed;
  return config.installDefaultFlows ? SHIPPED : undefined;
}

/** The `cloud out` nodes' topics of a flows file; an unreadable file yields none (the runtime reports it). */
export function flowKafkaTopics(file: string): FlowOutput[] {
  let nodes: unknown;
  try {
    nodes = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return [];
  }
  if (!Array.isArray(nodes)) return [];
  const list = nodes as { type?: unknown; id?: unknown; z?: unknown; label?: unknown; kafkaTopic?: unknown }[];
  const tabs = new Map(list.filter((n) => n.type === 'tab').map((n) => [n.id, String(n.label ?? n.id)]));
  return list
    .filter((n) => n.type === 'cloud out' && typeof n.kafkaTopic === 'string' && n.kafkaTopic !== '')
    .map((n) => ({ flow: tabs.get(n.z) ?? String(n.z ?? ''), kafkaTopic: n.kafkaTopic as string }));
}
