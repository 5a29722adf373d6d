// What a chaos run gives back, and the options it takes (one gateway's rig, or a fleet of gateways).
import type { LocalKafka } from '../../test/harness/kafka.ts';
import type { VerifyReport } from '../analyze.ts';
import type { Ledger } from '../ledger.ts';
import type { ProgressSample } from '../progress.ts';
import type { FailoverFigures } from './failover-figures.ts';
import type { GatewayFleetFigures } from './fleet-figures.ts';
import type { Gauges } from './gauges.ts';
import type { CheckResult, RunFigures } from './outage.ts';
import type { PowerFigures } from './power.ts';

export interface ChaosEvent {
  /** ms since the load started */
  t: number;
  label: string;
}

export interface ChaosResult {
  scenario: string;
  ledger: Ledger;
  report: VerifyReport;
  events: ChaosEvent[];
  samples: ProgressSample[];
  /** The gateway's gauges once a second (ms since the load started), until its backlog drained after the verify. */
  gauges: Gauges;
  figures: RunFigures;
  /** The scenario's explicit checks (none unless it has `checks`). */
  checks: CheckResult[];
  /** With disk: { kind: powercut }: the cuts, the store after each, acknowledged and lost per cut. */
  power?: PowerFigures;
  /** With kafka: { cluster: 3 }: per broker step the ISR, the link problem and its reason, the drain; duplicates. */
  failover?: FailoverFigures;
  /** With gateways: N: each gateway checked apart, its volume wipes, the ids across the fleet. */
  gatewayFleet?: GatewayFleetFigures;
  /** The verify passed, every check held and the store opened after every power cut: the run's exit status. */
  ok: boolean;
  gatewayStarts: number;
}

export interface ChaosOptions {
  log?: (line: string) => void;
  ledger?: string;
  quiet?: boolean;
  /** Use an existing Kafka harness instead of starting one (tests). */
  kafka?: LocalKafka;
  /** gateways: N: give every gateway one configured id instead of its own (a weaker deployment: the run must fail). */
  sameId?: boolean;
}
