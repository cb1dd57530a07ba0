import { isGrpcServiceError, WorkflowUpdateRPCTimeoutOrCancelledError, type Client } from '@temporalio/client';

/*
 * Whether a request that failed may have reached Temporal. A 503 must mean nothing was done, so a failure is called
 * "not sent" only when that is known: the connection's channel was never ready while the call was under way (gRPC
 * dispatches a call only on a ready connection), or Temporal itself answered with a refusal. Everything else that
 * left no answer (a deadline, a broken connection) may have been recorded: its outcome is unknown.
 */

/** grpc-js connectivity states (not imported: @grpc/grpc-js is the SDK's dependency, not Leadline's). */
const READY = 2;
const SHUTDOWN = 4;

interface ChannelLike {
  getConnectivityState(tryToConnect: boolean): number;
  watchConnectivityState(currentState: number, deadline: number, callback: (error?: Error) => void): void;
}

/**
 * gRPC codes by which Temporal (or gRPC before dispatch) refuses a request without acting on it: it checks these
 * before it admits an update. Absent: codes a long-polling update call may end with after the workflow acted on it,
 * such as NOT_FOUND and FAILED_PRECONDITION when the run ends meanwhile (a fault run found a command answered 503
 * "Workflow Update failed", its code one of a wider set, whose append was in the log: its run had failed after it),
 * and DEADLINE_EXCEEDED, CANCELLED, UNAVAILABLE, UNKNOWN, INTERNAL, ABORTED, which leave no answer at all.
 */
const REFUSED_BEFORE_ACTING = new Set([
  3, // INVALID_ARGUMENT
  6, // ALREADY_EXISTS
  7, // PERMISSION_DENIED
  8, // RESOURCE_EXHAUSTED (Temporal's rate limits answer before doing anything)
  12, // UNIMPLEMENTED
  16, // UNAUTHENTICATED
]);

/** The gRPC status code in an error or its causes (the SDK wraps them: ServiceError, WorkflowUpdateRPCTimeout...). */
export function grpcCodeOf(error: unknown): number | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current !== undefined && current !== null; depth++) {
    if (isGrpcServiceError(current)) return current.code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * Counts the times the Temporal connection's channel became ready, with one watcher at a time (re-armed on each
 * change; none once the channel shuts down), so a call can tell whether it could have been dispatched while it ran.
 */
export class SentToTemporal {
  private readyEntries = 0;
  private readonly channel: ChannelLike | undefined;

  constructor(temporal: Client) {
    // A Connection from @temporalio/client has its grpc-js client; anything else (a mock, another transport) cannot
    // be watched, and then every failure without Temporal's answer counts as possibly sent.
    const client = (temporal.connection as { client?: { getChannel?: () => ChannelLike } } | undefined)?.client;
    this.channel = typeof client?.getChannel === 'function' ? client.getChannel() : undefined;
    if (this.channel !== undefined) this.watch(this.channel, this.channel.getConnectivityState(false));
  }

  private watch(channel: ChannelLike, state: number) {
    if (state === SHUTDOWN) return;
    try {
      // No deadline: no timer, nothing that keeps the process alive; it fires on the next change of state.
      channel.watchConnectivityState(state, Infinity, () => {
        const now = channel.getConnectivityState(false);
        if (now === READY) this.readyEntries++;
        this.watch(channel, now);
      });
    } catch {
      // The channel was closed meanwhile: nothing more to watch.
    }
  }

  /**
   * Call just before sending. The function returned tells, after the call failed, whether the request may have
   * reached Temporal: the channel was ready when it began, became ready meanwhile, or cannot be watched.
   */
  begin(): (error: unknown) => boolean {
    const channel = this.channel;
    if (channel === undefined) return (error) => mayHaveActed(error);
    const readyAtStart = channel.getConnectivityState(false) === READY;
    const entriesAtStart = this.readyEntries;
    return (error) =>
      mayHaveActed(error) &&
      (readyAtStart || this.readyEntries > entriesAtStart || channel.getConnectivityState(false) === READY);
  }
}

/** A gRPC failure that is not Temporal's refusal: no answer came, so it may have acted. Local errors are not. */
function mayHaveActed(error: unknown): boolean {
  if (error instanceof WorkflowUpdateRPCTimeoutOrCancelledError) return true;
  const code = grpcCodeOf(error);
  return code !== undefined && !REFUSED_BEFORE_ACTING.has(code);
}
