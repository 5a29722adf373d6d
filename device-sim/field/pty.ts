// A pseudo-terminal pair from socat: the simulator writes to one end, the gateway's serial adapter opens the other,
// exercising the real serialport bindings.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';

export interface PtyPair {
  /** The end the simulator opens. */
  sim: string;
  /** The end to give the gateway (or any serial reader). */
  peer: string;
  close: () => Promise<void>;
}

export async function openPtyPair(timeoutMs = 10_000): Promise<PtyPair> {
  let proc: ChildProcess;
  try {
    proc = spawn('socat', ['-d', '-d', 'pty,raw,echo=0', 'pty,raw,echo=0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    throw new Error(`socat is needed for pty pairs (apt-get install socat): ${(err as Error).message}`, { cause: err });
  }
  const paths: string[] = [];
  let text = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`socat gave no pty pair in ${timeoutMs} ms: ${text}`)), timeoutMs);
    proc.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`socat is needed for pty pairs (apt-get install socat): ${err.message}`, { cause: err }));
    });
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (s: string) => {
      text += s;
      for (const m of s.matchAll(/PTY is (\S+)/g)) paths.push(m[1]!);
      // socat is ready to relay once it says so; both ptys exist by then.
      if (paths.length >= 2 && text.includes('starting data transfer loop')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return {
    sim: paths[0]!,
    peer: paths[1]!,
    close: async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = once(proc, 'exit');
        proc.kill('SIGTERM');
        await exited;
      }
    },
  };
}
