// TLS material from the config: a value that starts with `-----BEGIN` is the PEM text itself (so a certificate can
// come from a balena device variable), anything else is the path of a PEM file. One helper for every TLS setting:
// the MQTT listener, the HTTP port, the Kafka connection.
import { readFileSync } from 'node:fs';
import { GatewayError } from './errors.ts';

export const isPemText = (value: string): boolean => value.trimStart().startsWith('-----BEGIN');

/**
 * The PEM text of `value` (text or file path); `key` names the setting in errors. Device variables often carry
 * the newlines as literal `\n`: those are turned back into line breaks.
 */
export function readPem(value: string, key: string): string {
  if (isPemText(value)) {
    const text = value.trim();
    return text.includes('\n') ? `${text}\n` : `${text.replace(/(?:\\r)?\\n/g, '\n')}\n`;
  }
  let text: string;
  try {
    text = readFileSync(value, 'utf8');
  } catch (err) {
    throw new GatewayError(
      'GW_ERR_CONFIG',
      `${key}: cannot read ${JSON.stringify(value)} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); give a file path or the PEM text itself`,
      { cause: err },
    );
  }
  if (!text.includes('-----BEGIN')) {
    throw new GatewayError('GW_ERR_CONFIG', `${key}: ${JSON.stringify(value)} holds no PEM block (-----BEGIN ...)`);
  }
  return text;
}
