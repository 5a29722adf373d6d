// How Node-RED's log reaches the gateway's: one pino logger (src node-red), Node-RED's levels mapped onto pino's, its
// start-up banner folded into one line, and its notices about settings the gateway chose on purpose at debug.
import type { Logger } from 'pino';

interface NodeRedLogMessage {
  level: number;
  msg: unknown;
  type?: string;
  id?: string;
  name?: string;
}

/** Node-RED's start-up notices about settings the gateway chose on purpose: nothing to act on, so debug. */
const NODE_RED_QUIET = [
  /^Projects disabled/,
  /^Palette editor disabled/,
  /flow credentials file is encrypted using a system-generated key/, // the gateway warns about it itself
  /^Encrypted credentials not found/,
];

/**
 * Folds Node-RED's start-up banner ("Welcome to Node-RED", its version, the Node.js version, the OS: four messages)
 * into one line: gives that line in place of the last, `hold` for the others, undefined outside the banner.
 */
function bannerFolder(): (text: string) => string | undefined {
  let banner: Record<string, string> | undefined;
  return (text) => {
    if (/Welcome to Node-RED/.test(text)) {
      banner = {};
      return 'hold';
    }
    if (!banner) return undefined;
    const m = /^(Node-RED|Node\.js)\s+version:\s*(\S+)/.exec(text);
    if (m) {
      banner[m[1] === 'Node-RED' ? 'nodeRed' : 'node'] = m[2] as string;
      return 'hold';
    }
    // The OS line ends the banner.
    const { nodeRed = '?', node = '?' } = banner;
    banner = undefined;
    return `Node-RED ${nodeRed} on Node.js ${node} (${text.trim()})`;
  };
}

/** The log handler Node-RED's settings take (`logging.<name>.handler`), writing to `parent` with src node-red. */
export function nodeRedLogHandler(parent: Logger): (m: NodeRedLogMessage) => void {
  const log = parent.child({ src: 'node-red' });
  const fold = bannerFolder();
  return (m) => {
    const msg = typeof m.msg === 'string' ? m.msg : m.msg instanceof Error ? m.msg.message : JSON.stringify(m.msg);
    const fields = m.id ? { node: { id: m.id, type: m.type, name: m.name } } : {};
    const banner = m.level > 20 ? fold(msg) : undefined;
    if (banner === 'hold') return;
    const text = banner ?? msg;
    if (m.level > 20 && NODE_RED_QUIET.some((re) => re.test(text))) log.debug(fields, text);
    else if (m.level <= 20) log.error(fields, text);
    else if (m.level <= 30) log.warn(fields, text);
    else if (m.level <= 40) log.info(fields, text);
    else log.debug(fields, text);
  };
}
