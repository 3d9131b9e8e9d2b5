/**
 * Benchmarks. Print figures, assert nothing.
 *
 *   npm run bench [-- --runs 7 --fleet 20,50 --image-mib 1024,8192 --verify-mib 3072 --round-mib 512 --calls-ram-mib 4096 --outbreak 200
 *                    --only isolation,fleets,throughput,packages,render,strict,timeline,verification,calls,outbreak --lenient --json]
 *
 * Sections 1 and 2 run on moto behind the strict layer (--lenient turns its checks off, for comparison).
 *
 * 1. Trigger to isolation (moto on 127.0.0.1): from the tag event reaching the case opener to the
 *    acquisition-isolation group on every ENI of a two-ENI, dual-stack instance: wall time and AWS calls
 *    (all accounts), for the first case in a VPC (which creates the groups) and the median of the next runs.
 * 2. Fleets (moto): N instances tagged at once, every case run through the incident definition to the end
 *    (acquisition branches recorded as skipped: moto runs no SSM commands and no cross-account KMS): wall
 *    time, calls, how many ended contained, and whether any case touched another's instance.
 * 3. Host-script throughput (scripts/bench/host-script.ts): imagebuilder/acquire-memory.sh with each of its
 *    streamers on images of --image-mib MiB (default 1 GiB and 8 GiB), against sha256sum of the same file.
 * 4. Lambda packages: each CallbackFunction (and any other function archive) of both stacks, as a real
 *    zip built in memory (deflate, zlib's default level) from the archive Pulumi generated.
 * 5. Rendering both stacks under Pulumi mocks: the first render (loads the program) and the median of
 *    three more; the idle monthly cost of those renders, as `npm run plan` prices it.
 * 6. The strict layer's cost: the drill (1 instance) under the strict layer, then with --lenient, in one run.
 * 7. Trigger to contained and to closed, on a simulated clock with the definition's real Wait durations
 *    (2 volumes, first snapshots and their copies of 30 min each): containment does not wait for the copies.
 * 8. Memory verification in rounds (--verify-mib, default 3 GiB, in rounds of --round-mib, default 512):
 *    MiB/s per round and the 1/4/24 TiB projections (rounds, history events, wall time). Run in a process
 *    of its own: once a stack has been rendered, Pulumi's closure serializer keeps the V8 debugger enabled
 *    (@pulumi/pulumi runtime/closure/v8Hooks.js: an inspector session and Debugger.enable), and under it
 *    WebAssembly runs in its debugging tier: hash-wasm hashed 16 MiB/s in such a process, 172 MiB/s in a
 *    fresh one, on this machine. Lambda never loads Pulumi, so only the fresh figure says anything.
 *
 * 9. Engine calls per case at the deployed Wait durations: the drill with a --calls-ram-mib image (default
 *    4 GiB) and --real-waits, the deployed code's calls by operation and the host's presigned requests.
 *
 * 10. Outbreak (--outbreak, default 200): instances tagged at once over every member account and region,
 *    throttling injected, the strict layer on; contained, verified, calls per case, quotas.
 *
 * The functions are the ones the Lambdas run; the member role is assumed through moto's STS as on AWS.
 */
import { spawn } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as zlib from "zlib";
import { DescribeNetworkInterfacesCommand, DescribeSecurityGroupsCommand } from "@aws-sdk/client-ec2";
import { CreateBucketCommand, CreateMultipartUploadCommand, PutBucketVersioningCommand, UploadPartCommand } from "@aws-sdk/client-s3";
import { createSHA256 } from "hash-wasm";
import * as aws from "@pulumi/aws";
import { STSClient } from "@aws-sdk/client-sts";
import { incidentDefinition } from "../../components/security/incidentDefinition";
import { ENGINE_NAMES } from "../../components/security/responseEngine";
import { assumingMemberClients, MemberClientFactory, MemberClients } from "../../functions/shared/aws";
import type { EngineSettings } from "../../functions/shared/settings";
import { openCase } from "../../functions/response/cases";
import { contain } from "../../functions/response/containment";
import { isolate } from "../../functions/response/isolation";
import { closeCase, recordCase } from "../../functions/response/record";
import { completeUpload, DEFAULT_VERIFY_ROUND, MemoryProgress, verifyCapture } from "../../functions/acquisition/memory";
import { getInstance } from "../../functions/response/registry";
import { triage } from "../../functions/response/triage";
import { CaseInput, CaseState, InstanceRef, STATUS_TAG } from "../../functions/shared/types";
import { MEMBER_NAMES } from "../../components/shared/conventions";
import { clientConfig, clientsFor, DEFAULT_REGION, forAccount } from "../../emulator/aws/aws-clients";
import { hostScriptTable, hostScriptThroughput, HostScriptFigures } from "./host-script";
import { allStates, launchSuspect, prepareEngine, runIncident, suspectNetwork } from "../../emulator/deploy/emulated-engine";
import { keepEngineGroups } from "../../functions/response/groupKeeper";
import { startEmulator } from "../../emulator";
import { cachePath, PROJECT_ROOT } from "../../emulator/paths";
import { forensicStandIn, providerName } from "../plan/plan";
import { idleCost } from "../plan/prices";
import { loadStackConfig, ofType, RenderedStack, renderStack, resolve } from "../../emulator/deploy/render";
import { Assets, entryFiles } from "../../emulator/deploy/deployed";
import { limeImage } from "../../emulator/host/lime-image";

const ACCOUNTS = { forensic: "111122223333", security: "222233334444", member: "444455556666" };

/** Every AWS call made through the clients it is attached to, with its time. */
class CallLog {
    readonly calls: { name: string; at: number }[] = [];

    attach<T extends object>(client: T): T {
        (client as unknown as { middlewareStack: { add(m: unknown, o: object): void } }).middlewareStack.add(
            (next: (a: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: unknown) => {
                this.calls.push({ name: (context.commandName ?? "?").replace(/Command$/, ""), at: Date.now() });
                return next(args);
            },
            { step: "initialize", name: `benchCallLog${Math.random()}` },
        );
        return client;
    }

    since(t: number, until = Infinity): string[] {
        return this.calls.filter((c) => c.at >= t && c.at <= until).map((c) => c.name);
    }
}

function option(name: string, fallback: string): string {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];

function tagEvent(ref: InstanceRef): object {
    return {
        "version": "0", "id": `bench-${ref.instanceId}`, "detail-type": "Tag Change on Resource", "source": "aws.tag",
        "account": ref.accountId, "time": new Date().toISOString(), "region": ref.region,
        "resources": [`arn:aws:ec2:${ref.region}:${ref.accountId}:instance/${ref.instanceId}`],
        "detail": { "changed-tag-keys": [STATUS_TAG], "service": "ec2", "resource-type": "instance", "version": 1, "tags": { [STATUS_TAG]: "Analyze" } },
    };
}

/** Runs `fn` without the functions' own log lines (on AWS they go to CloudWatch Logs), keeping the figures readable. */
async function quietly<T>(fn: () => Promise<T>): Promise<T> {
    const original = console.log;
    console.log = () => undefined;
    try {
        return await fn();
    } finally {
        console.log = original;
    }
}

const elapsedMs = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

/** A zip archive of `files` (deflate), as the Lambda service receives it. */
function zipArchive(files: Array<{ name: string; data: Buffer }>): Buffer {
    const DOS_DATE_1980_01_01 = (1 << 5) | 1;
    const chunks: Buffer[] = [];
    const central: Buffer[] = [];
    let offset = 0;
    for (const f of files) {
        const name = Buffer.from(f.name, "utf8");
        const data = zlib.deflateRawSync(f.data);
        const crc = zlib.crc32(f.data) >>> 0;
        const local = Buffer.alloc(30);
        local.writeUInt32LE(0x04034b50, 0);
        local.writeUInt16LE(20, 4); // version needed: 2.0 (deflate)
        local.writeUInt16LE(0x0800, 6); // UTF-8 names
        local.writeUInt16LE(8, 8); // deflate
        local.writeUInt16LE(0, 10);
        local.writeUInt16LE(DOS_DATE_1980_01_01, 12);
        local.writeUInt32LE(crc, 14);
        local.writeUInt32LE(data.length, 18);
        local.writeUInt32LE(f.data.length, 22);
        local.writeUInt16LE(name.length, 26);
        chunks.push(local, name, data);
        const entry = Buffer.alloc(46);
        entry.writeUInt32LE(0x02014b50, 0);
        entry.writeUInt16LE(0x0314, 4); // made by: Unix, 2.0
        entry.writeUInt16LE(20, 6);
        entry.writeUInt16LE(0x0800, 8);
        entry.writeUInt16LE(8, 10);
        entry.writeUInt16LE(0, 12);
        entry.writeUInt16LE(DOS_DATE_1980_01_01, 14);
        entry.writeUInt32LE(crc, 16);
        entry.writeUInt32LE(data.length, 20);
        entry.writeUInt32LE(f.data.length, 24);
        entry.writeUInt16LE(name.length, 28);
        entry.writeUInt32LE((0o100644 << 16) >>> 0, 38); // regular file, rw-r--r--
        entry.writeUInt32LE(offset, 42);
        central.push(entry, name);
        offset += local.length + name.length + data.length;
    }
    const directory = Buffer.concat(central);
    const end = Buffer.alloc(22);
    end.writeUInt32LE(0x06054b50, 0);
    end.writeUInt16LE(files.length, 8);
    end.writeUInt16LE(files.length, 10);
    end.writeUInt32LE(directory.length, 12);
    end.writeUInt32LE(offset, 16);
    return Buffer.concat([...chunks, directory, end]);
}

/** The files of a function's code archive (string and file assets; nested archives by their path). */
async function archiveFiles(code: unknown): Promise<Array<{ name: string; data: Buffer }>> {
    const archive = await resolve<Record<string, unknown>>(code as never);
    const assets = (await archive.assets) as Assets | undefined;
    if (!assets) {
        throw new Error(`not an asset archive (${Object.keys(archive).join(", ")})`);
    }
    const entries = await Promise.all(Object.entries(assets).map(([name, asset]) => entryFiles(name, asset)));
    return entries.flat().map(([name, data]) => ({ name, data }));
}

/** Each Lambda function's package: files, bytes, zipped bytes. */
async function lambdaPackages(stacks: Record<string, RenderedStack>) {
    const out: { stack: string; name: string; files: number; bytes: number; zipped: number; note?: string }[] = [];
    for (const [stack, rendered] of Object.entries(stacks)) {
        for (const fn of ofType(rendered, aws.lambda.Function)) {
            try {
                const files = await archiveFiles(fn.props.code);
                out.push({ stack, name: fn.name, files: files.length, bytes: files.reduce((n, f) => n + f.data.length, 0), zipped: zipArchive(files).length });
            } catch (err) {
                out.push({ stack, name: fn.name, files: 0, bytes: 0, zipped: 0, note: String((err as Error).message ?? err) });
            }
        }
    }
    return out;
}

/** Renders both committed stacks: the first render of each (loads the program) and the median of three more. */
async function renderBoth() {
    const security = () => renderStack("security", { stackOutputs: forensicStandIn(loadStackConfig("security")) });
    const stacks: Record<string, () => Promise<RenderedStack>> = { forensic: () => renderStack("forensic"), security };
    const rendered: Record<string, RenderedStack> = {};
    const times: { stack: string; resources: number; firstMs: number; medianMs: number }[] = [];
    for (const [name, render] of Object.entries(stacks)) {
        let t0 = process.hrtime.bigint();
        rendered[name] = await render();
        const firstMs = elapsedMs(t0);
        const again: number[] = [];
        for (let i = 0; i < 3; i++) {
            t0 = process.hrtime.bigint();
            await render();
            again.push(elapsedMs(t0));
        }
        times.push({ stack: name, resources: rendered[name].resources.length, firstMs: Math.round(firstMs), medianMs: Math.round(median(again)) });
    }
    return { rendered, times };
}

const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;

/** Sections 1 and 2, on moto: trigger to isolation (when `withIsolation`) and fleets of `fleets` instances. */
async function responseBenchmarks(runs: number, fleets: number[], withIsolation: boolean, lenient: boolean, log: (line: string) => void) {
    // moto behind the strict layer (the harness acts as each account's root; the engine's member calls through the
    // responder role the fixtures create): what AWS would refuse is refused, unless --lenient.
    const moto = await startEmulator({ lenient, organization: { id: "o-a1b2c3d4e5", accounts: Object.values(ACCOUNTS) } });
    // Clients the functions build themselves (member clients from assumed credentials) go to the emulator too.
    process.env.AWS_ENDPOINT_URL = moto.endpoint;
    process.env.AWS_REGION = DEFAULT_REGION;
    try {
        const calls = new CallLog();
        const forensic = clientsFor(moto.endpoint, ACCOUNTS.forensic);
        const security = clientsFor(moto.endpoint, ACCOUNTS.security);
        const member = clientsFor(moto.endpoint, ACCOUNTS.member);
        const settings: EngineSettings = {
            partition: "aws",
            evidenceBucket: "ir-forensics-bench-evidence",
            evidenceKeyArn: `arn:aws:kms:${DEFAULT_REGION}:${ACCOUNTS.forensic}:key/bench`,
            casesTable: ENGINE_NAMES.casesTable,
            topicArn: `arn:aws:sns:${DEFAULT_REGION}:${ACCOUNTS.security}:${ENGINE_NAMES.topic}`,
            stateMachineArn: `arn:aws:states:${DEFAULT_REGION}:${ACCOUNTS.security}:stateMachine:${ENGINE_NAMES.stateMachine}`,
            member: {
                responderRolePath: MEMBER_NAMES.path,
                responderRoleName: MEMBER_NAMES.responderRoleName,
                irProfileName: MEMBER_NAMES.irProfileName,
                containedProfileName: MEMBER_NAMES.containedProfileName,
                protectedRolePathPrefix: MEMBER_NAMES.path,
            },
            isolation: { enabled: true, fallbackHttpsEgress: "0.0.0.0/0" },
        };
        settings.evidenceKeyArn = (await prepareEngine(settings, { forensic, security, member })).evidenceKeyArn;

        // The engine's own clients (security account), counted.
        for (const c of [security.dynamodb, security.sfn, security.sns, security.s3]) {
            calls.attach(c);
        }
        const sts = calls.attach(forAccount(new STSClient(clientConfig(moto.endpoint)), ACCOUNTS.security));
        const assume = assumingMemberClients(sts, settings);
        const memberClients: MemberClientFactory = async (ref, session) => {
            const clients = await assume(ref, session);
            for (const c of (Object.values(clients) as MemberClients[keyof MemberClients][]).filter((x) => x !== undefined)) {
                calls.attach(c);
            }
            return clients;
        };
        const openerDeps = { dynamodb: security.dynamodb, sfn: security.sfn, sns: security.sns, settings, memberAccounts: [ACCOUNTS.member] };
        const prepare = (input: CaseInput, executionArn: string): CaseState => ({ ...input, executionArn, steps: [], artifacts: [] });

        // 1. Trigger to isolation.
        let isolation: {
            firstInVpc: { ms: number; callsToIsolated: number };
            firstInNewVpc: { ms: number; callsToIsolated: number };
            warm: { runs: number; medianMs: number; medianCallsToIsolated: number };
            warmCallSequence: string[];
            keeper: { ms: number; calls: number; vpcs: number };
        } | undefined;
        if (withIsolation) {
            const sample = async (net: Awaited<ReturnType<typeof suspectNetwork>>) => {
                const { ref } = await launchSuspect(member, ACCOUNTS.member, net);
                const t0 = Date.now();
                const opened = await quietly(() => openCase(tagEvent(ref), openerDeps)) as { caseId: string; executionArn: string };
                const input: CaseInput = {
                    caseId: opened.caseId, mode: "analyze", instance: ref, openedAt: new Date(t0).toISOString(),
                    trigger: { source: "tag", requested: "analyze", eventId: "bench", eventTime: new Date(t0).toISOString() },
                };
                // The cut comes first (isolation describes the instance itself); triage's reads follow it.
                const state = await isolate(prepare(input, opened.executionArn), { member: memberClients, settings });
                await triage(state, { member: memberClients, s3: security.s3, settings });
                const moves = state.steps.find((s) => s.step === "isolation")?.actions.filter((a) => a.action === "isolate-eni") ?? [];
                const cutAt = Math.max(...moves.map((a) => Date.parse(a.at)));
                // The ENI moves are the only ModifyNetworkInterfaceAttribute calls before containment: the cut is the last of them.
                const names = calls.since(t0);
                const upToCut = names.slice(0, names.lastIndexOf("ModifyNetworkInterfaceAttribute") + 1);
                return { ms: cutAt - t0, calls: names.length, callsToIsolated: upToCut.length, names: upToCut };
            };
            const net = await suspectNetwork(member, 0);
            // As deployed: the security stack's deploy-time invocation of the group keeper, before any case.
            const k0 = Date.now();
            const kept = await quietly(() => keepEngineGroups([{ accountId: ACCOUNTS.member, region: DEFAULT_REGION }], { member: memberClients, settings }));
            const keeper = { ms: Date.now() - k0, calls: calls.since(k0).length, vpcs: kept.vpcs.length };
            const samples = [];
            for (let i = 0; i < runs + 1; i++) {
                samples.push(await sample(net));
            }
            // A VPC created after the keeper's last run: the case creates the groups itself.
            const fresh = await sample(await suspectNetwork(member, 1));
            const [cold, ...warm] = samples;
            isolation = {
                firstInVpc: { ms: cold.ms, callsToIsolated: cold.callsToIsolated },
                firstInNewVpc: { ms: fresh.ms, callsToIsolated: fresh.callsToIsolated },
                warm: { runs: warm.length, medianMs: median(warm.map((s) => s.ms)), medianCallsToIsolated: median(warm.map((s) => s.callsToIsolated)) },
                warmCallSequence: warm[0]?.names ?? [],
                keeper,
            };
            log("\n## Trigger to isolation (2 ENIs, dual stack, moto on loopback)\n");
            log("| case | time to isolation | AWS calls to isolation |");
            log("|---|---|---|");
            log(`| first case in a VPC the group keeper has seen | ${cold.ms} ms | ${cold.callsToIsolated} |`);
            log(`| median of ${warm.length} further cases | ${isolation.warm.medianMs} ms | ${isolation.warm.medianCallsToIsolated} |`);
            log(`| first case in a VPC created since the keeper's last run (creates the groups) | ${fresh.ms} ms | ${fresh.callsToIsolated} |`);
            log(`\ngroup keeper at deploy time: ${keeper.vpcs} VPC(s), ${keeper.calls} AWS calls, ${keeper.ms} ms (then hourly)`);
            log(`calls of a warm case up to the cut, in order: ${isolation.warmCallSequence.join(", ")}`);
            log("(Publish is the case opener's case-opened notification, after StartExecution; on AWS it runs while the execution starts)");
        }

        // 2. Fleets tagged at once, each case run to the end through the incident definition.
        const functionArns = { triage: "triage", isolate: "isolate", record: "record", contain: "contain", close: "close", memory: "memory", disk: "disk" };
        // As deployed: the state machine receives the definition as JSON.
        const definition = JSON.parse(JSON.stringify(incidentDefinition(functionArns, { partition: "aws", topicArn: settings.topicArn })));
        // Acquisition is not part of these figures: memory needs SSM Run Command on the host and disk copies
        // need cross-account KMS, neither of which moto does (the drill covers them). Each branch records a skip.
        const notAcquired = (step: "memory" | "disk") => async () => {
            const at = new Date().toISOString();
            return { step, status: "skipped", startedAt: at, endedAt: at, actions: [], error: `${step} acquisition is not run by the benchmark` };
        };
        const handlers = {
            MemoryBegin: async () => ({ done: true }),
            MemoryFinish: notAcquired("memory"),
            DiskBegin: async () => ({ done: true }),
            DiskCopyFinish: notAcquired("disk"),
            Triage: (s: CaseState) => triage(s, { member: memberClients, s3: security.s3, settings }),
            TriageContained: (s: CaseState) => triage(s, { member: memberClients, s3: security.s3, settings }),
            Isolate: (s: CaseState) => isolate(s, { member: memberClients, settings, sns: security.sns }),
            Record: (s: CaseState) => recordCase(s, { s3: security.s3, settings }),
            NotifyAcquisition: async () => ({}),
            Contain: (s: CaseState) => contain(s, { member: memberClients, settings, dynamodb: security.dynamodb, sns: security.sns, s3: security.s3 }),
            Close: (s: CaseState) => closeCase(s, { s3: security.s3, dynamodb: security.dynamodb, sns: security.sns, settings }),
        };
        const fleetResults = [];
        for (const [k, size] of fleets.entries()) {
            const nets = await Promise.all([1, 2].map((j) => suspectNetwork(member, 10 * (k + 1) + j)));
            const suspects: Array<{ ref: InstanceRef }> = [];
            for (let i = 0; i < size; i++) {
                suspects.push(await launchSuspect(member, ACCOUNTS.member, nets[i % nets.length]));
            }
            const t0 = Date.now();
            const outcomes = await quietly(() => Promise.all(suspects.map(async ({ ref }) => {
                const opened = await openCase(tagEvent(ref), openerDeps) as { caseId: string; executionArn: string; outcome: string };
                const input: CaseInput = {
                    caseId: opened.caseId, mode: "analyze", instance: ref, openedAt: new Date().toISOString(),
                    trigger: { source: "tag", requested: "analyze", eventId: "bench", eventTime: new Date().toISOString() },
                };
                const result = await runIncident(definition, input, opened.executionArn, handlers as never).catch((e) => ({ outcome: String(e) }));
                return { ref, caseId: opened.caseId, outcome: result.outcome };
            })));
            const wallMs = Date.now() - t0;
            const fleetCalls = calls.since(t0).length;
            // No interference: each instance's ENIs in its VPC's contained group, its registry item naming its own case.
            const containedGroups = new Set((await member.ec2.send(new DescribeSecurityGroupsCommand({
                Filters: [{ Name: "group-name", Values: ["ir-forensics-contained"] }],
            }))).SecurityGroups?.map((g) => g.GroupId));
            let clean = 0;
            for (const o of outcomes) {
                const enis = (await member.ec2.send(new DescribeNetworkInterfacesCommand({
                    Filters: [{ Name: "attachment.instance-id", Values: [o.ref.instanceId] }],
                }))).NetworkInterfaces ?? [];
                const item = await getInstance(security.dynamodb, settings.casesTable, o.ref);
                if (enis.every((e) => e.Groups?.length === 1 && containedGroups.has(e.Groups[0].GroupId)) && item?.status === "contained" && item.caseId === o.caseId) {
                    clean++;
                }
            }
            const contained = outcomes.filter((o) => o.outcome === "contained").length;
            if (contained < size) {
                console.error(`not contained: ${JSON.stringify(outcomes.find((o) => o.outcome !== "contained")?.outcome)}`);
            }
            fleetResults.push({ size, wallMs, calls: fleetCalls, contained, clean });
        }
        log("\n## Instances tagged at once (each case run to the end)\n");
        log("| instances | wall time | AWS calls | contained | own state only |");
        log("|---|---|---|---|---|");
        for (const f of fleetResults) {
            log(`| ${f.size} | ${(f.wallMs / 1000).toFixed(1)} s | ${f.calls} | ${f.contained}/${f.size} | ${f.clean}/${f.size} |`);
        }
        const stats = moto.layer.stats();
        const strict = { lenient, requests: Object.values(stats.requests).reduce((a, b) => a + b, 0), refused: stats.refused };
        log(`\nstrict layer${lenient ? " OFF (--lenient)" : ""}: ${strict.requests} requests, refused ${JSON.stringify(strict.refused)}`);
        return { isolation, fleets: fleetResults, strict };
    } finally {
        await moto.stop();
    }
}

/** The drill (1 instance, 512 MiB) under the strict layer and with --lenient, one after the other: the layer's cost. */
async function strictLayerCost(log: (line: string) => void) {
    const { parseDrillArgs, Progress, runDrill } = await import("../drill/drill");
    const quiet = new Progress(false, new (await import("stream")).Writable({ write: (_c, _e, done) => done() }));
    const rows: { mode: string; deployMs: number; runMs: number; requests: number; refused: number; ok: boolean }[] = [];
    for (const mode of ["strict", "lenient"]) {
        const report = await runDrill(parseDrillArgs(["--instances", "1", "--json", ...(mode === "lenient" ? ["--lenient"] : [])]), quiet);
        const s = report.summary;
        rows.push({
            mode, deployMs: s.deployMs, runMs: s.runMs, ok: s.ok,
            requests: Object.values(s.strict.requests).reduce((a, b) => a + b, 0), refused: Object.values(s.strict.refused).reduce((a, b) => a + b, 0),
        });
    }
    log("\n## The strict layer's cost: the drill (1 instance, 512 MiB), strict then --lenient, in this run\n");
    log("| mode | deploy | response | requests | refused | drill |");
    log("|---|---|---|---|---|---|");
    for (const r of rows) {
        log(`| ${r.mode} | ${(r.deployMs / 1000).toFixed(1)} s | ${(r.runMs / 1000).toFixed(1)} s | ${r.requests} | ${r.refused} | ${r.ok ? "OK" : "FAILED"} |`);
    }
    return rows;
}

/**
 * Default quotas the outbreak is held against (AWS documentation, as of 2026-12): Lambda's concurrent
 * executions per account and region, and Step Functions' StartExecution token bucket for standard
 * workflows (burst, then refill per second) in us-east-1, us-west-2 and eu-west-1 (other regions: 800 and 150).
 */
const QUOTAS = { lambdaConcurrency: 1000, startExecutionBurst: 1300, startExecutionRefillPerSecond: 300 };

/**
 * 10. Outbreak: `instances` victims tagged at once, spread over every member account and region of the
 * security stack, under the strict layer with ThrottlingException bursts injected (the drill's
 * `throttling` scenario), every case run by the deployed code to its end, acquisition included (small
 * memory images; the lab runs real sizes). Contained is read from each instance; every artifact is checked
 * as `npm run verify` does; the strict layer counts any request of a case's session naming another instance.
 */
async function outbreak(instances: number, log: (line: string) => void) {
    const { parseDrillArgs, Progress, runDrill } = await import("../drill/drill");
    const quiet = new Progress(false, new (await import("stream")).Writable({ write: (_c, _e, done) => done() }));
    const report = await runDrill(parseDrillArgs(["--instances", String(instances), "--spread", "--scenario", "throttling", "--ram-mib", "16",
        "--ssm-reregister-seconds", "5", "--json"]), quiet);
    const s = report.summary;
    const contained = report.cases.map((c) => c.timeline.find((t) => t.stage === "contained")?.ms).filter((ms): ms is number => typeof ms === "number");
    const signed = Object.values(s.strict.deployed.signed).reduce((a, b) => a + b, 0);
    const foreign = Object.values(s.strict.foreignInstance.byOperation).reduce((a, b) => a + b, 0);
    const figures = {
        instances, placements: s.placements, ok: s.ok, contained: s.contained, artifacts: s.artifacts, artifactsVerified: s.artifactsVerified,
        runMs: s.runMs, slowestContainedMs: contained.length ? Math.max(...contained) : null, medianContainedMs: contained.length ? median(contained) : null,
        callsPerCase: Math.round(signed / instances), injectedFaults: s.injectedFaults, refused: s.strict.refused,
        foreignInstanceRequests: foreign, foreignSamples: s.strict.foreignInstance.samples,
        lambdaPeakConcurrency: s.lambdaPeakConcurrency, peakExecutionsPerSecond: s.peakExecutionsPerSecond,
    };
    log(`\n## Outbreak: ${instances} instances tagged at once over ${s.placements.join(", ")} (strict layer, throttling injected)\n`);
    log("| figure | value | limit |");
    log("|---|---|---|");
    log(`| contained (read from each instance) | ${s.contained}/${instances} | |`);
    log(`| artifacts verified | ${s.artifactsVerified}/${s.artifacts} | |`);
    log(`| requests naming another case's instance | ${foreign} | 0 |`);
    log(`| wall time, first tag to last case closed | ${(s.runMs / 1000).toFixed(0)} s | |`);
    log(`| trigger to contained, slowest case (median) | ${((figures.slowestContainedMs ?? 0) / 1000).toFixed(0)} s (${((figures.medianContainedMs ?? 0) / 1000).toFixed(0)} s) | |`);
    log(`| AWS calls per case (deployed code, signed) | ${figures.callsPerCase} | |`);
    log(`| ThrottlingException injected | ${s.injectedFaults} | |`);
    log(`| refused by the strict layer | ${Object.values(s.strict.refused).reduce((a, b) => a + b, 0)} | 0 |`);
    log(`| Lambda invocations in flight at once, all functions | ${s.lambdaPeakConcurrency.total} | ${QUOTAS.lambdaConcurrency} per account and region |`);
    log(`| incident executions started in one second | ${s.peakExecutionsPerSecond} | burst ${QUOTAS.startExecutionBurst}, then ${QUOTAS.startExecutionRefillPerSecond}/s |`);
    log(`\npeak in flight by function: ${Object.entries(s.lambdaPeakConcurrency.byFunction).map(([f, n]) => `${f} ${n}`).join(", ")}`);
    for (const sample of figures.foreignSamples) {
        log(`foreign: ${sample}`);
    }
    // Why cases were not contained (the instance's own answer, else the execution's), most common first.
    const reasons = new Map<string, number>();
    for (const c of report.cases.filter((x) => x.status !== "contained")) {
        const why = `${c.status}: ${(c.onInstance?.open ?? []).join("; ") || c.outcome || c.error || "no reason recorded"}`.replace(/i-[0-9a-f]{17}/g, "i-…");
        reasons.set(why, (reasons.get(why) ?? 0) + 1);
    }
    for (const [why, n] of [...reasons].sort((a, b) => b[1] - a[1])) {
        log(`not contained (${n}): ${why}`);
    }
    const saved = cachePath("bench", "outbreak.json");
    fs.mkdirSync(path.dirname(saved), { recursive: true });
    fs.writeFileSync(saved, JSON.stringify(report, null, 1));
    log(`(the drill's report: ${path.relative(PROJECT_ROOT, saved)})`);
    return figures;
}

/**
 * 9. Engine calls per case at the deployed Wait durations: the drill (1 instance, a `ramMiB` memory image,
 * 2 volumes) with --real-waits, so the memory capture is polled every 20 s and the snapshots every 120 s as
 * on AWS. The deployed code's requests come from the strict layer's count by operation; the host's
 * presigned part uploads are counted apart (one per part, whatever the polling).
 */
async function callsPerCase(ramMiB: number, log: (line: string) => void) {
    const { parseDrillArgs, Progress, runDrill } = await import("../drill/drill");
    const quiet = new Progress(false, new (await import("stream")).Writable({ write: (_c, _e, done) => done() }));
    const report = await runDrill(parseDrillArgs(["--instances", "1", "--volumes", "2", "--ram-mib", String(ramMiB), "--real-waits", "--json"]), quiet);
    const { signed, presigned } = report.summary.strict.deployed;
    const total = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);
    const c = report.cases[0];
    const at = (stage: string) => c?.timeline.find((t) => t.stage === stage)?.ms ?? null;
    // The drill's timeline stages: isolated, memory, disk, contained.
    const figures = {
        ramMiB, ok: report.summary.ok, runMs: report.summary.runMs,
        memoryMs: at("memory"), containedMs: at("contained"),
        signedCalls: total(signed), presignedCalls: total(presigned), byOperation: signed,
        memoryPolls: signed["ssm:GetCommandInvocation"] ?? 0, snapshotLooks: signed["ec2:DescribeSnapshots"] ?? 0,
    };
    log(`\n## Engine calls per case at the deployed Wait durations (drill: 1 instance, ${ramMiB} MiB image, 2 volumes, --real-waits)\n`);
    log(`drill ${figures.ok ? "OK" : "FAILED"} in ${(figures.runMs / 1000).toFixed(0)} s; memory acquired ${figures.memoryMs === null ? "n/a" : `${(figures.memoryMs / 1000).toFixed(0)} s`} after the trigger, contained ${figures.containedMs === null ? "n/a" : `${(figures.containedMs / 1000).toFixed(0)} s`}`);
    log(`deployed code: ${figures.signedCalls} signed calls (memory polls ${figures.memoryPolls}, snapshot looks ${figures.snapshotLooks}); host: ${figures.presignedCalls} presigned requests\n`);
    log("| operation | calls |");
    log("|---|---|");
    for (const [op, n] of Object.entries(signed).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))) {
        log(`| ${op} | ${n} |`);
    }
    return figures;
}

/**
 * 7. Trigger to contained and to closed on a simulated clock: the deployed definition, with its real
 * Wait durations, run by the local interpreter while a virtual clock advances by each Wait's seconds
 * (a Wait is what stands between two rounds). The case: 2 volumes, memory captured in `memoryMinutes`,
 * each of the three snapshot stages (first snapshots, re-encrypted member copies, forensic copies)
 * taking `snapshotMinutes`. Step latencies are left out (milliseconds beside the waits; section 1 has them).
 */
async function simulatedTimeline(log: (line: string) => void, snapshotMinutes = 30, memoryMinutes = 5) {
    const functionArns = { triage: "triage", isolate: "isolate", record: "record", contain: "contain", close: "close", memory: "memory", disk: "disk" };
    const options = { partition: "aws", topicArn: "arn:aws:sns:us-east-1:222233334444:ir-forensics-notifications" };
    const definition = JSON.parse(JSON.stringify(incidentDefinition(functionArns, options)));
    const waits = Object.fromEntries(allStates(definition).filter(([, st]) => (st as { Type?: string; Seconds?: number }).Type === "Wait" && (st as { Seconds?: number }).Seconds !== undefined)
        .map(([name, st]) => [name, (st as { Seconds?: number }).Seconds ?? 0]));
    let clock = 0;
    const marks: Record<string, number> = {};
    let transitions = 0;
    const step = (name: string, extra: (st: Record<string, unknown>) => Record<string, unknown> = () => ({})) => async (st: Record<string, unknown>) => {
        transitions++;
        marks[name] ??= clock;
        return { ...st, ...extra(st) };
    };
    // Each round after a Wait: the clock moves by that Wait's seconds.
    const memoryDoneAt = memoryMinutes * 60;
    const stageSeconds = snapshotMinutes * 60;
    const at = new Date().toISOString();
    const record = (stepName: string) => ({ step: stepName, status: "succeeded", startedAt: at, endedAt: at, actions: [] });
    const handlers = {
        Isolate: step("isolated"), Triage: step("triaged"), TriageContained: step("triaged"), Record: step("recorded"),
        NotifyAcquisition: async () => ({}),
        MemoryBegin: async () => { transitions++; return { waiting: true, done: false }; },
        MemoryAdvance: async () => { transitions++; clock += waits.MemoryWait; return { waiting: clock < memoryDoneAt, done: clock >= memoryDoneAt }; },
        MemoryFinish: async () => { transitions++; marks.memory = clock; return record("memory"); },
        DiskBegin: async () => { transitions++; marks.snapshotsStarted = clock; return { stage: "snapshots", startedAt: clock, waiting: true, done: false }; },
        DiskCopyAdvance: async (input: { progress: { startedAt: number } }) => {
            transitions++;
            clock += waits.DiskCopyWait;
            const elapsed = clock - input.progress.startedAt;
            return { ...input.progress, waiting: elapsed < 3 * stageSeconds, done: elapsed >= 3 * stageSeconds };
        },
        DiskCopyFinish: async () => { transitions++; marks.evidenceCopied = clock; return record("disk"); },
        Contain: step("contained", (st) => ({ containment: { attempts: 1, holds: true, open: [] }, acquisition: (st.acquisition as object[]).slice(0, 1), diskProgress: (st.acquisition as object[])[1] })),
        Close: step("closed", () => ({ outcome: "contained" })),
    };
    const input = { caseId: "bench", mode: "analyze", instance: { accountId: "444455556666", region: "us-east-1", instanceId: "i-0bench" },
        trigger: { source: "tag", requested: "analyze", eventId: "bench", eventTime: at }, openedAt: at };
    await runIncident(definition, input, "arn:aws:states:us-east-1:222233334444:execution:ir-forensics-incident:bench", handlers as never);
    const minutes = (sec: number | undefined) => sec === undefined ? "n/a" : `${(sec / 60).toFixed(1)} min`;
    log(`\n## Trigger to contained, trigger to closed (simulated clock: memory ${memoryMinutes} min, each snapshot stage ${snapshotMinutes} min, 2 volumes)\n`);
    log("| milestone | after the trigger |");
    log("|---|---|");
    for (const [label, key] of [["isolated (the cut)", "isolated"], ["snapshots started", "snapshotsStarted"], ["memory acquired", "memory"], ["contained", "contained"], ["evidence copies done", "evidenceCopied"], ["closed", "closed"]]) {
        log(`| ${label} | ${minutes(marks[key])} |`);
    }
    log(`\nWait durations of the deployed definition: ${Object.entries(waits).map(([n, sec]) => `${n} ${sec} s`).join(", ")}; task invocations: ${transitions}`);
    return { snapshotMinutes, memoryMinutes, containedAfterSeconds: marks.contained, closedAfterSeconds: marks.closed, taskInvocations: transitions };
}

/** History events one verification round adds: the Advance Task (entered, scheduled, started, succeeded, exited) and the Next Choice (entered, exited). */
const EVENTS_PER_ROUND = 7;
/** Step Functions standard workflows: history events and duration of one execution. */
const EXECUTION_EVENT_LIMIT = 25_000;
const EXECUTION_SECONDS_LIMIT = 365 * 24 * 3600;

/**
 * 8. Memory verification in rounds (moto behind the strict layer): a LiME image of `imageMiB` uploaded in
 * parts, completed and read back by verifyCapture in rounds of `roundMiB` (the progress document passed
 * as JSON between rounds, as the state machine does): MiB/s per round, the same SHA-256 as one pass of
 * Node's hash, and from the measured rate the rounds, history events and wall time of 1, 4 and 24 TiB
 * hosts at the default round limits.
 */
async function verificationRounds(imageMiB: number, roundMiB: number, log: (line: string) => void) {
    const MiB = 1024 * 1024;
    const moto = await startEmulator({ organization: { id: "o-a1b2c3d4e5", accounts: Object.values(ACCOUNTS) } });
    try {
        const forensic = clientsFor(moto.endpoint, ACCOUNTS.forensic);
        const bucket = "ir-forensics-bench-verify";
        await forensic.s3.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: DEFAULT_REGION } }));
        await forensic.s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: "Enabled" } }));
        const image = limeImage(imageMiB * MiB);
        const single = createHash("sha256");
        let t = Date.now();
        for (let o = 0; o < image.length; o += 1024 * MiB) {
            single.update(image.subarray(o, o + 1024 * MiB));
        }
        const singlePass = single.digest("hex");
        const nodeHashMiBps = Math.round(imageMiB / ((Date.now() - t) / 1000));
        const key = "cases/bench/memory/i-0bench.lime";
        const { UploadId } = await forensic.s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
        const partSize = 256 * MiB;
        t = Date.now();
        for (let o = 0, n = 1; o < image.length; o += partSize, n++) {
            await forensic.s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: n, Body: image.subarray(o, o + partSize) }));
        }
        const uploadMiBps = Math.round(imageMiB / ((Date.now() - t) / 1000));
        const settings = { evidenceBucket: bucket, evidenceKeyArn: "", memory: { verifyRoundBytes: roundMiB * MiB } };
        const report = { tool: "lime" as const, toolVersion: "1.9.1", bytes: image.length, sha256: singlePass, bannerSeen: true, partCount: Math.ceil(image.length / partSize), errors: [] };
        const started: MemoryProgress = {
            caseId: "bench", instance: { accountId: ACCOUNTS.member, region: DEFAULT_REGION, instanceId: "i-0bench" }, startedAt: new Date().toISOString(),
            status: "uploaded", attempts: [{ attempt: 1, key, uploadId: UploadId ?? "", startedAt: new Date().toISOString(), report }], polls: 0, actions: [], artifacts: [],
        };
        let progress = await completeUpload(started, { s3: forensic.s3, settings });
        const rounds: { mib: number; seconds: number; mibPerSecond: number }[] = [];
        let largestDocument = 0;
        while (progress.status === "verifying") {
            const before = progress.attempts[0].verification?.offset ?? 0;
            const carried = JSON.stringify(progress);
            largestDocument = Math.max(largestDocument, carried.length);
            const t0 = Date.now();
            progress = await verifyCapture(JSON.parse(carried), { s3: forensic.s3, settings });
            const seconds = (Date.now() - t0) / 1000;
            const mib = ((progress.attempts[0].verification?.offset ?? before) - before) / MiB;
            rounds.push({ mib: Math.round(mib), seconds: Math.round(seconds * 100) / 100, mibPerSecond: Math.round(mib / seconds) });
        }
        const sameHash = progress.artifacts[0]?.sha256 === singlePass;
        const hasher = await createSHA256();
        hasher.init();
        t = Date.now();
        for (let o = 0; o < Math.min(image.length, 1024 * MiB); o += 8 * MiB) {
            hasher.update(image.subarray(o, o + 8 * MiB));
        }
        const wasmHashMiBps = Math.round(Math.min(imageMiB, 1024) / ((Date.now() - t) / 1000));
        const rates = rounds.map((r) => r.mibPerSecond).sort((a, b) => a - b);
        const rate = rates[Math.floor(rates.length / 2)];
        const perRoundMiB = Math.min(DEFAULT_VERIFY_ROUND.bytes / MiB, rate * DEFAULT_VERIFY_ROUND.seconds);
        const projections = [1, 4, 24].map((tib) => {
            const mib = tib * 1024 * 1024;
            const n = Math.ceil(mib / perRoundMiB);
            const seconds = mib / rate;
            return { tib, rounds: n, historyEvents: n * EVENTS_PER_ROUND, hours: Math.round(seconds / 360) / 10, withinLimits: n * EVENTS_PER_ROUND < EXECUTION_EVENT_LIMIT && seconds < EXECUTION_SECONDS_LIMIT };
        });
        log(`\n## Memory verification in rounds (${imageMiB} MiB LiME image, rounds of ${roundMiB} MiB, moto behind the strict layer)\n`);
        log(`outcome ${progress.status}; SHA-256 equal to one pass of Node's hash: ${sameHash ? "yes" : "NO"}; largest progress document between rounds: ${largestDocument} characters`);
        log(`upload ${uploadMiBps} MiB/s; hashing alone: hash-wasm ${wasmHashMiBps} MiB/s, Node (OpenSSL) ${nodeHashMiBps} MiB/s\n`);
        log("| round | MiB | seconds | MiB/s |");
        log("|---|---|---|---|");
        rounds.forEach((r, i) => log(`| ${i + 1} | ${r.mib} | ${r.seconds} | ${r.mibPerSecond} |`));
        log(`\nProjected at the median ${rate} MiB/s, default rounds (≤ ${DEFAULT_VERIFY_ROUND.bytes / 1024 / MiB} GiB or ${DEFAULT_VERIFY_ROUND.seconds} s: ${Math.round(perRoundMiB)} MiB each), ${EVENTS_PER_ROUND} history events per round:\n`);
        log("| host memory | rounds | history events (limit 25,000) | wall time | within one execution |");
        log("|---|---|---|---|---|");
        for (const p of projections) {
            log(`| ${p.tib} TiB | ${p.rounds} | ${p.historyEvents} | ${p.hours} h | ${p.withinLimits ? "yes" : "NO"} |`);
        }
        return { imageMiB, roundMiB, outcome: progress.status, sameHash, largestDocument, uploadMiBps, wasmHashMiBps, nodeHashMiBps, rounds, medianMiBps: rate, projections };
    } finally {
        await moto.stop();
    }
}

const SECTIONS = ["isolation", "fleets", "throughput", "packages", "render", "strict", "timeline", "verification", "calls", "outbreak"];

async function main(): Promise<void> {
    const runs = Number(option("runs", "7"));
    const asJson = process.argv.includes("--json");
    const log = (line: string) => !asJson && console.log(line);
    const only = option("only", SECTIONS.join(",")).split(",");
    const unknown = only.filter((x) => !SECTIONS.includes(x));
    if (unknown.length > 0) {
        throw new Error(`--only takes ${SECTIONS.join(",")}; got ${unknown.join(",")}`);
    }
    const fleets = only.includes("fleets") ? option("fleet", "20,50").split(",").map(Number).filter((n) => n > 0) : [];
    const imageSizes = option("image-mib", "1024,8192").split(",").map(Number);
    if (!imageSizes.every((n) => Number.isInteger(n) && n >= 1)) {
        throw new Error(`--image-mib takes whole numbers of MiB, comma-separated, got ${option("image-mib", "")}`);
    }
    // Figures depend on what else runs: say what the machine was doing.
    const machine = { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? "unknown", loadAverage1m: Math.round(os.loadavg()[0] * 100) / 100, node: process.version };
    const figures: Record<string, unknown> = { machine };
    log(`${machine.cpus} × ${machine.cpuModel}, load average ${machine.loadAverage1m} at start, Node ${machine.node}`);

    if (only.includes("isolation") || fleets.length > 0) {
        Object.assign(figures, await responseBenchmarks(runs, fleets, only.includes("isolation"), process.argv.includes("--lenient"), log));
    }
    if (only.includes("strict")) {
        figures.strictLayerCost = await strictLayerCost(log);
    }
    if (only.includes("timeline")) {
        figures.timeline = await simulatedTimeline(log);
    }

    if (only.includes("outbreak")) {
        figures.outbreak = await outbreak(Number(option("outbreak", "200")), log);
    }

    if (only.includes("calls")) {
        figures.callsPerCase = await callsPerCase(Number(option("calls-ram-mib", "4096")), log);
    }

    if (only.includes("verification")) {
        const [verifyMiB, roundMiB] = [Number(option("verify-mib", "3072")), Number(option("round-mib", "512"))];
        figures.verification = process.argv.includes("--in-fresh-process")
            ? await verificationRounds(verifyMiB, roundMiB, log)
            : await inFreshProcess(["--only", "verification", "--verify-mib", String(verifyMiB), "--round-mib", String(roundMiB)], log);
    }

    if (only.includes("throughput")) {
        figures.hostScript = [];
        for (const imageMiB of imageSizes) {
            const t = await hostScriptThroughput(imageMiB);
            (figures.hostScript as HostScriptFigures[]).push(t);
            hostScriptTable(t, log);
        }
    }

    if (only.includes("render") || only.includes("packages")) {
        const { rendered, times } = await renderBoth();
        if (only.includes("render")) {
            figures.render = times;
            log("\n## Rendering the stacks under Pulumi mocks\n");
            log("| stack | resources | first render (loads the program) | median of 3 more |");
            log("|---|---|---|---|");
            for (const t of times) {
                log(`| ${t.stack} | ${t.resources} | ${(t.firstMs / 1000).toFixed(2)} s | ${(t.medianMs / 1000).toFixed(2)} s |`);
            }
        }
        // The plan's idle cost of the same renders (scripts/plan/prices.ts), so a run records it next to the rest.
        const idle = Object.entries(rendered).map(([stack, r]) => {
            const cost = idleCost(r.resources.map((x) => ({ type: x.type, name: x.name, inputs: x.inputs, provider: providerName(x.provider) })));
            return { stack, totalMonthly: cost.totalMonthly, unpriced: cost.unpriced.length };
        });
        figures.idleCost = idle;
        log("\n## Idle monthly cost of the committed configs (npm run plan)\n");
        log("| stack | idle per month | unpriced resources |");
        log("|---|---|---|");
        for (const c of idle) {
            log(`| ${c.stack} | $${c.totalMonthly.toFixed(2)} | ${c.unpriced} |`);
        }
        if (only.includes("packages")) {
            const packages = await lambdaPackages(rendered);
            figures.lambdaPackages = packages;
            log("\n## Lambda packages (zip built in memory from the generated archive, deflate)\n");
            log("| stack | function | files | unzipped | zipped |");
            log("|---|---|---|---|---|");
            for (const p of packages) {
                log(p.note ? `| ${p.stack} | ${p.name} | not measured: ${p.note} | | |` : `| ${p.stack} | ${p.name} | ${p.files} | ${kb(p.bytes)} | ${kb(p.zipped)} |`);
            }
        }
    }

    const figuresOut = option("figures-out", "");
    if (figuresOut) {
        fs.writeFileSync(figuresOut, JSON.stringify(figures));
    }
    if (asJson) {
        console.log(JSON.stringify(figures, null, 2));
    }
}

/**
 * Runs the bench with `args` in a new Node process (see section 8 for why), its lines passed to `log`, and
 * returns the figures of its one section.
 */
async function inFreshProcess(args: string[], log: (line: string) => void): Promise<unknown> {
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "irf-bench-")), "figures.json");
    try {
        const child = spawn(process.execPath, [...process.execArgv, process.argv[1], ...args, "--in-fresh-process", "--figures-out", out], {
            cwd: PROJECT_ROOT, stdio: ["ignore", "pipe", "inherit"],
        });
        let pending = "";
        child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
            const lines = (pending + chunk).split("\n");
            pending = lines.pop() ?? "";
            // The child's own machine line is the parent's already.
            lines.filter((line) => !/ load average .* at start, Node /.test(line)).forEach(log);
        });
        const code = await new Promise<number | null>((resolve, reject) => child.on("error", reject).on("close", resolve));
        if (code !== 0) {
            throw new Error(`bench ${args.join(" ")}: the process ended with ${code}`);
        }
        const figures = JSON.parse(fs.readFileSync(out, "utf8")) as Record<string, unknown>;
        return figures[args[1]];
    } finally {
        fs.rmSync(path.dirname(out), { recursive: true, force: true });
    }
}

/** `npm run bench`: runs the sections the command line names and prints their figures. */
export function cli(): void {
    main().catch((err) => {
        console.error(err);
        process.exitCode = 1;
    });
}
