import type { Client } from '@temporalio/client';
import { ServiceError } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { SentToTemporal } from '../client/sent-to-temporal';

const IDLE = 0;
const CONNECTING = 1;
const READY = 2;
const TRANSIENT_FAILURE = 3;

/** A grpc-js channel's connectivity, driven by the test. */
class FakeChannel {
  private watchers: { state: number; callback: () => void }[] = [];
  constructor(public state: number) {}
  getConnectivityState(): number {
    return this.state;
  }
  watchConnectivityState(currentState: number, _deadline: number, callback: () => void): void {
    this.watchers.push({ state: currentState, callback });
  }
  set(state: number) {
    this.state = state;
    const fired = this.watchers.filter((w) => w.state !== state);
    this.watchers = this.watchers.filter((w) => w.state === state);
    for (const w of fired) w.callback();
  }
}

function tracker(channel: FakeChannel | undefined): SentToTemporal {
  const connection = channel === undefined ? {} : { client: { getChannel: () => channel } };
  return new SentToTemporal({ connection } as unknown as Client);
}

/** What grpc-js rejects a call with, as the SDK's own check recognises it. */
function grpcError(code: number): Error {
  return Object.assign(new Error(`${code} grpc`), { code, details: 'details', metadata: {} });
}
const DEADLINE_EXCEEDED = 4;
const UNAVAILABLE = 14;
const INVALID_ARGUMENT = 3;

describe('whether a failed call may have reached Temporal', () => {
  it('may have, when the connection was ready as it began and no answer came', () => {
    const sent = tracker(new FakeChannel(READY)).begin();
    expect(sent(grpcError(DEADLINE_EXCEEDED))).toBe(true);
    expect(sent(new ServiceError('Workflow Update failed', { cause: grpcError(UNAVAILABLE) }))).toBe(true);
  });

  it('may have, when the connection became ready while the call ran, even if it broke again', () => {
    const channel = new FakeChannel(TRANSIENT_FAILURE);
    const sent = tracker(channel).begin();
    channel.set(CONNECTING);
    channel.set(READY);
    channel.set(TRANSIENT_FAILURE);
    expect(sent(grpcError(DEADLINE_EXCEEDED))).toBe(true);
  });

  it('has not, when no connection was ready at any moment of the call', () => {
    const channel = new FakeChannel(IDLE);
    const sent = tracker(channel).begin();
    channel.set(CONNECTING);
    channel.set(TRANSIENT_FAILURE);
    expect(sent(grpcError(DEADLINE_EXCEEDED))).toBe(false);
    expect(sent(grpcError(UNAVAILABLE))).toBe(false);
  });

  it("has not acted on it when Temporal answered with a refusal, or the error is the client's own", () => {
    const sent = tracker(new FakeChannel(READY)).begin();
    expect(sent(grpcError(INVALID_ARGUMENT))).toBe(false);
    expect(sent(new TypeError('payload codec failed'))).toBe(false);
  });

  it('assumes it may have when the connection cannot be watched', () => {
    expect(tracker(undefined).begin()(grpcError(DEADLINE_EXCEEDED))).toBe(true);
  });
});
