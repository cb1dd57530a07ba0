/**
 * Preloaded into each workflow thread's sandbox before the SDK freezes its globals (bundlerOptions.preloadModules,
 * see worker/worker.ts), when LEADLINE_WORKFLOW_STACK_TRACES is `off`.
 *
 * The TypeScript SDK captures and formats a stack trace for every promise workflow code creates, to answer the
 * stack-trace query (the UI's "Call Stack"). That was about a third of the workflow thread's time in the bench.
 * With no frames to capture, a workflow error carries its type and message but no stack; a worker started with
 * LEADLINE_WORKFLOW_STACK_TRACES=full replays the lead and shows it.
 */
Error.stackTraceLimit = 0;

export {};
