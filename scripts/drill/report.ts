/** What the drill reports: a timeline and verified artifacts per case, and the run's summary; and its printing. */
import type { RefusedConnection } from "../../emulator/host/ssm-agent";
import type { LayerStats, RefusalRecord } from "../../emulator/strict/layer";
import { ArtifactKind } from "./options";

export interface TimelineEntry {
    stage: string;
    /** Milliseconds from the trigger (the tag event) to the end of the stage. */
    ms: number | null;
    /** AWS calls the stage recorded. */
    calls: number;
    status: string;
}

export interface ArtifactCheck {
    kind: string;
    key?: string;
    versionId?: string;
    bytes?: number;
    sha256?: string;
    /**
     * Objects: verified | mismatch | missing | no-digest. Evidence snapshots: snapshot-verified (completed,
     * encrypted under the recorded key, tagged with the case) | mismatch | missing | not-evidenced (the
     * disk branch recorded why no evidence copy exists).
     */
    verification: "verified" | "mismatch" | "missing" | "no-digest" | "snapshot-verified" | "not-evidenced";
    storedSha256?: string;
    /** Memory images: is the stored object the victim's whole memory image, byte for byte? */
    matchesHostImage?: boolean;
}

export interface CaseReport {
    caseId: string | null;
    instanceId: string;
    /** The victim's member account and region, "<account>/<region>". */
    placement: string;
    /** When its execution started (ms since the epoch), as the opener answered. */
    openedAt?: number;
    status: string;
    executionArn?: string;
    timeline: TimelineEntry[];
    artifacts: ArtifactCheck[];
    failures: { step: string; action?: string; target?: string; error: string }[];
    manifestKey?: string;
    /** The tool of each memory capture attempt as the host reported it (lime, avml; null when none ran). */
    memoryTools: (string | null)[];
    /** Deployed-state-machine states run, in order. */
    states: string[];
    /** Evidence the case should hold and does not (the scenarios' expected gaps excepted), with why. */
    missing: { kind: ArtifactKind; reason: string }[];
    error?: string;
    /** What the execution (or the case's record) said, when `status` is the instance's own answer. */
    outcome?: string;
    /** Containment read from the instance itself at the end of the case (the drill's verdict). */
    onInstance?: InstanceVerdict;
    /** Where the case's record was read: the evidence bucket, or the case table's fallback record. */
    record?: "bucket" | "case-table" | "none";
    /** --scenario release: the release, the state found on the instance after it, and the new contain case. */
    release?: ReleaseReport;
}

export interface InstanceVerdict {
    contained: boolean;
    /** The parts that do not hold, as containmentOnInstance names them. */
    open: string[];
}

export interface ReleaseReport {
    released: boolean;
    /** Milliseconds the release took (the command's calls). */
    ms: number;
    changes: string[];
    kept: string[];
    /** Every ENI in the groups the case recorded, the recorded profile, no revocation entry left, the Released tag. */
    restored: boolean;
    /** Where the instance differs from the recorded state. */
    problems: string[];
    error?: string;
    /** The case the second `Contain` tag opened, judged from the instance. */
    recontain?: { caseId: string | null; status: string; outcome?: string; onInstance?: InstanceVerdict; error?: string };
}

export interface DrillReport {
    cases: CaseReport[];
    summary: {
        instances: number;
        scenarios: string[];
        contained: number;
        uncontained: number;
        /** --scenario release: victims released to exactly their recorded state and contained again by a new case. */
        released?: number;
        recontained?: number;
        artifacts: number;
        artifactsVerified: number;
        evidenceIntact: boolean;
        /** Artifacts the cases should hold and do not. */
        missingArtifacts: number;
        ok: boolean;
        deployMs: number;
        runMs: number;
        /** API calls through the engine's endpoint (the SSM host emulator), and how many faults it injected. */
        engineCalls: number;
        /** The most invocations in flight at once: of all deployed functions (an account's Lambda concurrency), and per function. */
        lambdaPeakConcurrency: { total: number; byFunction: Record<string, number> };
        /** The most incident executions started within one second (Step Functions' StartExecution rate). */
        peakExecutionsPerSecond: number;
        injectedFaults: number;
        /** The strict layer: requests by operation, refusals by rule (the first 50 in full), its log. */
        strict: LayerStats & { lenient: boolean; refusals: RefusalRecord[]; log: string };
        /** Connections the victims' networks refused (their VPC would not carry them). */
        refusedConnections: RefusedConnection[];
        created: number;
        placeholderTypes: string[];
        routes: { source: string; target: string }[];
        adaptations: string[];
        accounts: { forensic: string; security: string; member: string; region: string };
        /** Where the victims were launched, "<account>/<region>" (one unless --spread). */
        placements: string[];
        /** The functions' log lines (what CloudWatch Logs would hold). */
        functionLog: string;
        moto: { pid: number; stopped: boolean };
    };
}

// ------------------------------------------------------------------------------------------ output

export function printReport(report: DrillReport, write: (line: string) => void): void {
    const s = report.summary;
    write("");
    for (const c of report.cases) {
        write(`case ${c.caseId ?? "(none)"}  instance ${c.instanceId}  ${c.status.toUpperCase()}`);
        write(`  ${"trigger".padEnd(10)} ${"0 ms".padStart(10)}`);
        for (const t of c.timeline) {
            write(`  ${t.stage.padEnd(10)} ${(t.ms === null ? "-" : `${t.ms} ms`).padStart(10)}  ${String(t.calls).padStart(3)} AWS calls  ${t.status}`);
        }
        if (c.memoryTools.length > 0) {
            write(`  memory by  ${c.memoryTools.map((t) => t ?? "nothing").join(", then ")}`);
        }
        if (c.manifestKey) {
            write(`  manifest   ${c.manifestKey}`);
        }
        for (const a of c.artifacts) {
            const whole = a.matchesHostImage === undefined ? "" : a.matchesHostImage ? ", the host's whole image" : ", NOT the host's whole image";
            write(`  artifact   ${a.kind.padEnd(13)} ${a.key ?? "(snapshot)"}  ${a.bytes ?? "-"} B  sha256 ${a.sha256?.slice(0, 16) ?? "-"}…  ${a.verification}${whole}`);
        }
        for (const f of c.failures) {
            write(`  failure    ${f.step}${f.action ? ` ${f.action}` : ""}: ${f.error}`);
        }
        for (const m of c.missing) {
            write(`  MISSING    ${m.kind}: ${m.reason}`);
        }
        if (c.onInstance) {
            write(`  instance   ${c.onInstance.contained ? "contained (read from the instance)" : `NOT contained: ${c.onInstance.open.join("; ")}`}`
                + `${c.outcome && c.outcome !== c.status ? `; the execution said ${c.outcome}` : ""}`);
        }
        if (c.release) {
            const r = c.release;
            write(`  release    ${r.released ? `released in ${r.ms} ms (${r.changes.length} changes)` : `FAILED: ${r.error}`}; `
                + `${r.restored ? "the recorded state is back on the instance" : `NOT restored: ${r.problems.join("; ") || r.error}`}`);
            if (r.recontain) {
                write(`  contain    again: case ${r.recontain.caseId ?? "(none)"} ${r.recontain.status.toUpperCase()}${r.recontain.error ? ` (${r.recontain.error})` : ""}`);
            }
        }
        if (c.error) {
            write(`  error      ${c.error}`);
        }
    }
    write("");
    write(`summary: ${s.contained}/${s.instances} contained${s.released !== undefined ? `, ${s.released} released and ${s.recontained} contained again` : ""}, `
        + `${s.artifactsVerified}/${s.artifacts} artifacts verified in the evidence bucket` +
        `${s.scenarios.length ? `, scenarios ${s.scenarios.join(", ")}` : ""}; deploy ${(s.deployMs / 1000).toFixed(1)} s, response ${(s.runMs / 1000).toFixed(1)} s, ` +
        `${s.engineCalls} engine API calls${s.injectedFaults ? ` (${s.injectedFaults} faults injected)` : ""}`);
    const refused = Object.entries(s.strict.refused).map(([rule, n]) => `${rule} ${n}`).join(", ");
    const requests = Object.values(s.strict.requests).reduce((a, b) => a + b, 0);
    write(s.strict.lenient
        ? `strict layer: OFF (--lenient): ${requests} requests passed unchecked`
        : `strict layer: ${requests} requests checked, ${Object.values(s.strict.refused).reduce((a, b) => a + b, 0)} refused${refused ? ` (${refused})` : ""}; `
            + `${s.refusedConnections.length} connection(s) refused by the victims' networks; log ${s.strict.log}`);
    write(s.ok ? "drill: OK" : "drill: FAILED (a case ended uncontained, or lacks evidence it should hold, or evidence did not verify, or a release or the containment after it failed)");
}
