/**
 * Pulumi mocks for the resource-graph tests: the renderer lives in emulator/deploy/render.ts (the plan and the
 * benchmarks use it too); specs import it from here.
 */
export * from "../../emulator/deploy/render";
