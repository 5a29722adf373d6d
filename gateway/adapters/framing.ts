// Serial framing: splits a byte stream into frames at a delimiter and turns each frame into a JSON-able value.
import { parseNmea } from './nmea.ts';

/** Accumulates chunks and returns complete frames. A frame over `maxLength` bytes is dropped and counted. */
export class LineSplitter {
  readonly #delimiter: Buffer;
  readonly #maxLength: number;
  #buf: Buffer = Buffer.alloc(0);
  overflows = 0;

  constructor(delimiter: string, maxLength: number) {
    this.#delimiter = Buffer.from(delimiter, 'utf8');
    this.#maxLength = maxLength;
  }

  push(chunk: Buffer): string[] {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    const out: string[] = [];
    let start = 0;
    for (;;) {
      const i = this.#buf.indexOf(this.#delimiter, start);
      if (i === -1) break;
      if (i - start <= this.#maxLength) out.push(this.#buf.subarray(start, i).toString('utf8').replace(/\r$/, ''));
      else this.overflows++;
      start = i + this.#delimiter.length;
    }
    this.#buf = this.#buf.subarray(start);
    if (this.#buf.length > this.#maxLength) {
      // No delimiter in sight: a runaway frame or the wrong baud rate. Drop it rather than grow without bound.
      this.overflows++;
      this.#buf = Buffer.alloc(0);
    }
    return out;
  }

  reset(): void {
    this.#buf = Buffer.alloc(0);
  }
}

export interface FramingOptions {
  framing: 'lines' | 'json' | 'nmea';
  fields: readonly string[];
  separator: string;
}

export type FrameResult = { ok: true; value: Record<string, unknown> } | { ok: false; reason: string } | null;

function scalar(s: string): string | number {
  const t = s.trim();
  if (t !== '' && /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(t)) return Number(t);
  return t;
}

/** Decodes one frame. null means "nothing to publish" (empty line, NMEA sentence of another type). */
export function decodeFrame(line: string, o: FramingOptions): FrameResult {
  if (line.trim() === '') return null;
  switch (o.framing) {
    case 'lines': {
      if (o.fields.length === 0) return { ok: true, value: { line } };
      const parts = line.split(o.separator);
      const value: Record<string, unknown> = {};
      o.fields.forEach((name, i) => {
        const p = parts[i];
        if (p !== undefined) value[name] = scalar(p);
      });
      return { ok: true, value };
    }
    case 'json': {
      try {
        const v: unknown = JSON.parse(line);
        return {
          ok: true,
          value:
            v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : { value: v },
        };
      } catch {
        return { ok: false, reason: 'json' };
      }
    }
    case 'nmea': {
      try {
        const fix = parseNmea(line);
        return fix === null ? null : { ok: true, value: { ...fix } };
      } catch (err) {
        return {
          ok: false,
          reason: (err as { code?: string }).code === 'GW_ERR_NMEA_CHECKSUM' ? 'checksum' : 'format',
        };
      }
    }
  }
}
