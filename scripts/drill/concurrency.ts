/** What the drill measures of concurrency: Lambda invocations in flight per function, executions started per second (the quota figures). */
import type { LambdaHandler } from "../../emulator/deploy/deployed";

/** Counts the invocations of each function in flight, and keeps the peaks. */
export class ConcurrencyMeter {
    private inFlight = 0;
    private peak = 0;
    private readonly current = new Map<string, number>();
    private readonly peakByFunction: Record<string, number> = {};

    track(name: string, handler: LambdaHandler): LambdaHandler {
        return async (event, context) => {
            this.inFlight++;
            this.peak = Math.max(this.peak, this.inFlight);
            const n = (this.current.get(name) ?? 0) + 1;
            this.current.set(name, n);
            this.peakByFunction[name] = Math.max(this.peakByFunction[name] ?? 0, n);
            try {
                return await handler(event, context);
            } finally {
                this.inFlight--;
                this.current.set(name, (this.current.get(name) ?? 1) - 1);
            }
        };
    }

    peaks(): { total: number; byFunction: Record<string, number> } {
        return { total: this.peak, byFunction: { ...this.peakByFunction } };
    }
}

/** The most of `times` (ms) within any one second. */
export function peakPerSecond(times: number[]): number {
    const sorted = [...times].sort((a, b) => a - b);
    let peak = 0;
    for (let i = 0, j = 0; i < sorted.length; i++) {
        while (sorted[i] - sorted[j] >= 1000) {
            j++;
        }
        peak = Math.max(peak, i - j + 1);
    }
    return peak;
}
