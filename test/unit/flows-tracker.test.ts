import { describe, expect, it } from 'vitest';
import { CompletionTracker, type FlowResult } from '../../flows/tracker.ts';

function setup(timeoutMs = 1000) {
  let now = 0;
  const results: FlowResult[] = [];
  const tracker = new CompletionTracker({ timeoutMs, onResult: (r) => results.push(r), now: () => now });
  let completions = 0;
  const complete = () => {
    completions++;
  };
  return {
    tracker,
    results,
    complete,
    completions: () => completions,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe('flow completion tracker', () => {
  it('completes at once when the source node has no wires', () => {
    const t = setup();
    t.tracker.track('m1', t.complete, () => {});
    expect(t.completions()).toBe(1);
    expect(t.results).toEqual(['completed']);
  });

  it('waits for every delivery of a fan-out, including deliveries made by downstream nodes', () => {
    const t = setup();
    t.tracker.track('m1', t.complete, () => {
      t.tracker.delivered('m1', 'a');
      t.tracker.delivered('m1', 'b');
    });
    t.tracker.delivered('m1', 'c'); // a sends on to c before completing
    t.tracker.completed('m1', 'a');
    t.tracker.completed('m1', 'b');
    expect(t.completions()).toBe(0);
    t.tracker.completed('m1', 'c');
    expect(t.completions()).toBe(1);
    expect(t.tracker.inFlight).toBe(0);
  });

  it('a node that filters the message out (done, no send) finishes it', () => {
    const t = setup();
    t.tracker.track('m1', t.complete, () => t.tracker.delivered('m1', 'rule'));
    t.tracker.completed('m1', 'rule');
    expect(t.results).toEqual(['completed']);
  });

  it('ignores completions from nodes that were not delivered the message (catch, complete nodes) and repeats', () => {
    const t = setup();
    t.tracker.track('m1', t.complete, () => t.tracker.delivered('m1', 'a'));
    t.tracker.completed('m1', 'catch-node');
    t.tracker.completed('m1', 'unknown');
    expect(t.completions()).toBe(0);
    t.tracker.completed('m1', 'a');
    t.tracker.completed('m1', 'a');
    expect(t.completions()).toBe(1);
    t.tracker.completed('other', 'a');
    t.tracker.delivered(undefined, 'a');
  });

  it('an error from any node is counted as error but still releases the message', () => {
    const t = setup();
    t.tracker.track('m1', t.complete, () => {
      t.tracker.delivered('m1', 'a');
      t.tracker.delivered('m1', 'b');
    });
    t.tracker.completed('m1', 'a', new Error('boom'));
    t.tracker.completed('m1', 'b');
    expect(t.results).toEqual(['error']);
    expect(t.completions()).toBe(1);
  });

  it('releases messages that never complete after the timeout, oldest first, and counts them', () => {
    const t = setup(1000);
    t.tracker.track('m1', t.complete, () => t.tracker.delivered('m1', 'stuck'));
    t.advance(600);
    t.tracker.track('m2', t.complete, () => t.tracker.delivered('m2', 'stuck'));
    t.advance(500);
    t.tracker.sweep();
    expect(t.results).toEqual(['timeout']);
    expect(t.tracker.inFlight).toBe(1);
    t.advance(600);
    t.tracker.sweep();
    expect(t.results).toEqual(['timeout', 'timeout']);
    expect(t.completions()).toBe(2);
    // A late done() for a released message changes nothing.
    t.tracker.completed('m1', 'stuck');
    expect(t.completions()).toBe(2);
  });

  it('stop() forgets in-flight messages without completing them, so they stay journaled', () => {
    const t = setup();
    t.tracker.track('m1', t.complete, () => t.tracker.delivered('m1', 'a'));
    t.tracker.stop();
    t.tracker.completed('m1', 'a');
    expect(t.completions()).toBe(0);
  });

  it('a synchronous delivery completing inside send() does not finish the message early', () => {
    const t = setup();
    t.tracker.track('m1', t.complete, () => {
      t.tracker.delivered('m1', 'a');
      t.tracker.completed('m1', 'a'); // sync delivery: a finished before the source's second wire
      expect(t.completions()).toBe(0);
      t.tracker.delivered('m1', 'b');
    });
    expect(t.completions()).toBe(0);
    t.tracker.completed('m1', 'b');
    expect(t.completions()).toBe(1);
  });
});
