// The chaos scenario tests' way in: `device-sim chaos -s <scenario> --json -q` as a child process (its ledger in a
// temporary dir), and a scenario text's problems as parseScenario reports them.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseScenario, ScenarioError } from '../../device-sim/chaos/scenario.ts';

export interface ChaosCliRun {
  code: number;
  /** stdout: the result as JSON (empty when the scenario was refused). */
  out: string;
  /** stderr when it was captured, '' otherwise. */
  err: string;
}

/** Runs a scenario through the CLI (with `extra` options); stderr is shown (inherit), dropped (ignore) or returned
 * (capture). */
export async function chaosCli(
  scenario: string,
  stderr: 'inherit' | 'ignore' | 'capture' = 'capture',
  extra: string[] = [],
): Promise<ChaosCliRun> {
  const dir = mkdtempSync(join(tmpdir(), 'chaos-cli-'));
  const args = [
    'device-sim/cli.ts',
    'chaos',
    '-s',
    scenario,
    '--json',
    '-q',
    '--ledger',
    join(dir, 'ledger.json'),
    ...extra,
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', stderr === 'capture' ? 'pipe' : stderr] });
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (s: string) => {
    out += s;
  });
  child.stderr?.setEncoding('utf8').on('data', (s: string) => {
    err += s;
  });
  const [code] = (await once(child, 'exit')) as [number];
  rmSync(dir, { recursive: true, force: true });
  return { code, out, err };
}

/** The problems parseScenario reports for a scenario text; [] when it is valid. */
export function scenarioProblems(text: string): string[] {
  try {
    parseScenario(text);
  } catch (err) {
    if (err instanceof ScenarioError) return err.problems;
    throw err;
  }
  return [];
}
