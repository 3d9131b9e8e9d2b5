/**
 * npm run drill: the real response, rehearsed without an AWS account.
 *
 *   npm run drill -- [--instances N] [--enis N] [--ipv6] [--asg] [--target-group] [--ram-mib N] [--volumes N]
 *                    [--member-region R] [--spread] [--cmk-volumes] [--endpoints] [--real-waits] [--lenient]
 *                    [--scenario NAME[,NAME]] [--json] [--forensic-config FILE] [--security-config FILE]
 *
 * 1. starts moto on a free 127.0.0.1 port (stopped by PID on exit, Ctrl-C included) behind the strict layer
 *    (emulator/strict/: every request is authenticated and authorized as AWS would), with the SSM host
 *    emulator between the two (emulator/host/ssm-host.ts: commands run the real host script locally with shims,
 *    through a network gate that lets through only what the victim's VPC would);
 * 2. deploys both stacks onto moto from their Pulumi.<stack>.yaml (emulator/deploy/mock-deploy.ts): every resource
 *    the response touches is created in moto in its provider's account; the types it could not create are
 *    listed first;
 * 3. launches victim instances in the first member account and region, tags them
 *    SecurityIncidentStatus=Analyze and puts the tag-change event on the member's bus: the stacks' own rules
 *    forward it to the engine's bus and on to the queue that stands in for the opener Lambda;
 * 4. runs every case: the deployed callbacks (the code Pulumi generated, with the environment the stack gives
 *    it, each in its own sandbox with its own execution role's credentials) are invoked from that queue and as
 *    the task handlers of the deployed state machine definition, executed by aws-local-stepfunctions (Wait
 *    states shortened; the optimized integrations act with the state machine's role);
 * 5. reports a timeline per case (trigger → isolated → memory → disk → contained, in ms and AWS calls), the
 *    manifest (or the case table's fallback record when the bucket refused it), and checks every artifact as
 *    `npm run verify` does; whether a case is contained is read from the instance itself
 *    (`containmentOnInstance`: the contained group alone and without rules on every ENI, the deny-all profile,
 *    the revocation, the tags), never from the manifest;
 * 6. with `--scenario release`: releases every contained victim through the case commands' library
 *    (functions/response/caseCommands.ts, as a responder role of the security account assuming the member release
 *    role), checks on the instance that exactly the recorded state is back, then tags it `Contain` again, which
 *    opens a new contain case, and judges that one from the instance too.
 *
 * Exit code 0 when every case ended contained and holds every artifact it should, each verified (the metadata;
 * the memory image when SSM was online at the start; one evidence snapshot per EBS volume, in the forensic
 * account), 1 otherwise (each missing artifact is printed with its reason), 2 when the drill could not run.
 *
 * This file runs the steps; beside it: options.ts (command line and scenarios), world.ts (moto, both stacks,
 * the module store, the victims), cases.ts (each case triggered, run, judged on the instance, its artifacts
 * verified), release.ts (`--scenario release`), report.ts (the report and its printing), progress.ts (the live
 * lines) and concurrency.ts (the quota figures).
 */
import "../../emulator/node-compat";
import * as fs from "fs";
import { cachePath } from "../../emulator/paths";
import { ArtifactKind, DrillOptions, SCENARIO_DETAILS, UsageError, parseDrillArgs } from "./options";
import { ArtifactCheck, CaseReport, DrillReport, printReport } from "./report";
import { Progress } from "./progress";
import { DrillHooks, launchVictims, prepareWorld, Victim, World } from "./world";
import { placementOf, runCase, triggerCases, verifyArtifacts } from "./cases";
import { peakPerSecond } from "./concurrency";
import { releaseAndContainAgain, responderSession } from "./release";

// The drill's library, as the lab, the bench and the tests use it.
export { ArtifactKind, DrillOptions, parseDrillArgs, SCENARIO_DETAILS, SCENARIOS, UsageError } from "./options";
export { ArtifactCheck, CaseReport, DrillReport, InstanceVerdict, ReleaseReport, TimelineEntry } from "./report";
export { Progress } from "./progress";
export { DeployedWorld, DrillHooks, ModuleStoreWriters, ResponderSession } from "./world";

/** What a case should hold and does not, with the reason (an artifact a scenario expects to miss is not listed). */
function missingEvidence(options: DrillOptions, c: CaseReport): { kind: ArtifactKind; reason: string }[] {
    const expectMissing = new Set(options.scenarios.flatMap((s) => SCENARIO_DETAILS[s].expectMissing));
    const verified = (a: ArtifactCheck) => a.verification === "verified" || a.verification === "snapshot-verified";
    const failureOf = (step: string) => c.failures.filter((f) => f.step === step).map((f) => f.error).join("; ") || c.error || `the ${step} step recorded no failure`;
    const missing: { kind: ArtifactKind; reason: string }[] = [];
    if (!expectMissing.has("metadata") && !c.artifacts.some((a) => a.kind === "metadata" && verified(a))) {
        missing.push({ kind: "metadata", reason: failureOf("triage") });
    }
    if (!expectMissing.has("memory") && !c.artifacts.some((a) => a.kind === "memory" && verified(a) && a.matchesHostImage)) {
        missing.push({ kind: "memory", reason: failureOf("memory") });
    }
    if (!expectMissing.has("disk")) {
        const evidenced = c.artifacts.filter((a) => a.kind === "disk-snapshot" && a.verification === "snapshot-verified").length;
        if (evidenced < options.volumes) {
            missing.push({ kind: "disk", reason: `${evidenced} of ${options.volumes} volumes have a verified evidence snapshot in the forensic account: ${failureOf("disk")}` });
        }
    }
    return missing;
}

/** Tags every victim, puts the tag-change events on the member's bus and runs each case to its end. */
async function runCases(options: DrillOptions, world: World, victims: Victim[], progress: Progress): Promise<CaseReport[]> {
    const { opened, triggeredAt } = await triggerCases(world, victims, "Analyze");
    const reports = await Promise.all(victims.map((v) => runCase(options, world, v, opened.get(v.instanceId), triggeredAt.get(v.instanceId) as number, progress)));
    if (options.scenarios.includes("release")) {
        await releaseAndContainAgain(options, world, victims, reports, progress);
    }
    return reports;
}

/** Runs the drill and returns its report; `progress` shows it live. Stops everything it started. */
export async function runDrill(options: DrillOptions, progress: Progress, hooks: DrillHooks = {}): Promise<DrillReport> {
    const cleanups: (() => Promise<void> | void)[] = [];
    const cleanup = async () => {
        for (const fn of cleanups.splice(0).reverse()) {
            await Promise.resolve(fn()).catch(() => undefined);
        }
    };
    activeCleanup = cleanup;
    const started = Date.now();
    try {
        const world = await prepareWorld(options, progress, cleanups, hooks);
        const deployMs = Date.now() - started;

        const victims = await launchVictims(options, world, progress);
        const runStarted = Date.now();
        await progress.start(victims.map((v) => v.instanceId));
        const cases = await runCases(options, world, victims, progress);
        await progress.stop();
        const runMs = Date.now() - runStarted;

        for (const c of cases) {
            c.artifacts = await verifyArtifacts(world, c);
            c.missing = missingEvidence(options, c);
        }
        await hooks.beforeStop?.({
            endpoint: world.emulator.endpoint, forensic: world.forensic, security: world.security, accounts: world.accounts, cases, victims,
            member: world.clients.member, responder: () => responderSession(world),
            openCase: async (instanceId, value) => (await triggerCases(world, [{ instanceId, enis: [], placement: placementOf(world, instanceId) }], value)).opened.get(instanceId),
        });
        const layer = world.emulator.layer;
        const strict = { lenient: layer.lenient, ...layer.stats(), refusals: layer.refusals().slice(0, 50), log: world.strictLogFile };
        const refusedConnections = world.host.refusedConnections();
        const moto = world.emulator.moto;
        await cleanup();
        const artifacts = cases.flatMap((c) => c.artifacts);
        const intact = artifacts.every((a) => ["verified", "snapshot-verified", "not-evidenced"].includes(a.verification));
        const contained = cases.filter((c) => c.status === "contained").length;
        const releasing = options.scenarios.includes("release");
        const released = cases.filter((c) => c.release?.restored).length;
        const recontained = cases.filter((c) => c.release?.recontain?.status === "contained").length;
        return {
            cases,
            summary: {
                instances: cases.length,
                scenarios: options.scenarios,
                contained,
                uncontained: cases.length - contained,
                ...(releasing ? { released, recontained } : {}),
                artifacts: artifacts.length,
                artifactsVerified: artifacts.filter((a) => a.verification === "verified" || a.verification === "snapshot-verified").length,
                evidenceIntact: intact,
                missingArtifacts: cases.reduce((n, c) => n + c.missing.length, 0),
                // An instance terminated mid-case has nothing left to contain: the case says so ("instance-missing").
                ok: cases.every((c) => (c.status === "contained" || c.status === "instance-missing") && c.missing.length === 0) && intact
                    && (!releasing || cases.every((c) => c.status !== "contained" || c.release?.recontain?.status === "contained")),
                deployMs,
                runMs,
                engineCalls: world.engineCalls,
                lambdaPeakConcurrency: world.concurrency.peaks(),
                peakExecutionsPerSecond: peakPerSecond(cases.map((c) => c.openedAt).filter((t): t is number => t !== undefined)),
                injectedFaults: world.faults,
                strict,
                refusedConnections,
                created: world.forensic.created.length + world.security.created.length,
                placeholderTypes: [...new Set([...world.forensic.placeholders, ...world.security.placeholders].map((p) => p.type))].sort(),
                routes: [...world.forensic.routes, ...world.security.routes].map((r) => ({ source: r.source, target: r.targetArn })),
                adaptations: [
                    ...world.forensic.adaptations, ...world.security.adaptations,
                    ...world.host.emulatedCopies().map((c) =>
                        `snapshot ${c.sourceSnapshotId} shared by ${c.ownerAccount}: copied in ${c.account} as ${c.snapshotId} (moto does not show snapshots shared across accounts)`),
                ],
                accounts: world.accounts,
                placements: world.placements.map((p) => `${p.account}/${p.region}`),
                functionLog: world.logFile,
                moto: { pid: moto.pid, stopped: !moto.running() },
            },
        };
    } finally {
        await progress.stop();
        await cleanup();
        activeCleanup = undefined;
    }
}

/** What stops the running drill (moto, the SSM host emulator, its commands), for signal handlers. */
let activeCleanup: (() => Promise<void>) | undefined;

async function main(): Promise<number> {
    let options: DrillOptions;
    try {
        options = parseDrillArgs(process.argv.slice(2));
    } catch (err) {
        process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
        return err instanceof UsageError && process.argv.includes("--help") ? 0 : 2;
    }
    const progress = new Progress(process.stdout.isTTY === true && !options.json, options.json ? process.stderr : process.stdout);
    const onSignal = (signal: NodeJS.Signals) => {
        interrupted = true;
        // Whoever ends the process first (the cleanup below, or Pulumi's runtime on a deploy cut short), the
        // exit code says "interrupted"; moto's launcher and the host emulator kill their children on exit.
        process.on("exit", () => {
            process.exitCode = 130;
        });
        process.stderr.write(`drill: ${signal}, stopping moto and the host emulator\n`);
        void (activeCleanup?.() ?? Promise.resolve()).finally(() => process.exit(130));
    };
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    fs.mkdirSync(cachePath(), { recursive: true });
    const report = await runDrill(options, progress);
    if (options.json) {
        process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    } else {
        printReport(report, (line) => process.stdout.write(`${line}\n`));
    }
    return report.summary.ok ? 0 : 1;
}

/** Set on Ctrl-C: the signal handler exits (130) once everything is stopped, whatever the run then throws. */
let interrupted = false;

/** `npm run drill`: runs the drill with the command line's options; exit 0 OK, 1 a failed check, 2 usage or error, 130 interrupted. */
export function cli(): void {
    main().then((code) => interrupted || process.exit(code), (err: unknown) => {
        if (interrupted) {
            return;
        }
        process.stderr.write(`drill: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
        process.exit(2);
    });
}
