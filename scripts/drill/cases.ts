/** The drill's cases: tag-change events through the stacks' rules, each case run by the deployed state machine and callbacks, judged on the instance, its manifest read and its artifacts verified. */
import { CreateTagsCommand, ModifyInstanceAttributeCommand, TerminateInstancesCommand } from "@aws-sdk/client-ec2";
import { PutEventsCommand } from "@aws-sdk/client-eventbridge";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import { DescribeExecutionCommand, StopExecutionCommand } from "@aws-sdk/client-sfn";
import { PublishCommand } from "@aws-sdk/client-sns";
import { DeleteMessageCommand, ReceiveMessageCommand, SendMessageCommand } from "@aws-sdk/client-sqs";
import { STATUS_TAG } from "../../functions/shared/types";
import type { EngineSettings } from "../../functions/shared/settings";
import { containmentOnInstance } from "../../functions/response/containmentCheck";
import { getCaseRecord } from "../../functions/response/registry";
import { AccountClients, clientsFor } from "../../emulator/aws/aws-clients";
import { ArtifactVerdict, verifyCase } from "../../functions/acquisition/verify";
import type { LambdaHandler } from "../../emulator/deploy/deployed";
import { DrillOptions, STAGES, TIMELINE_LABELS } from "./options";
import { ArtifactCheck, CaseReport, InstanceVerdict } from "./report";
import { Progress } from "./progress";
import { allStates, Json, Placement, sleep, tagChangeEvent, Victim, World } from "./world";

/** Tags the victims `SecurityIncidentStatus=<value>` and delivers the tag-change events to the opener; what it answered, by instance. */
export async function triggerCases(world: World, victims: Victim[], value: string): Promise<{ opened: Map<string, Opened>; triggeredAt: Map<string, number> }> {
    const triggeredAt = new Map<string, number>();
    for (const v of victims) {
        await v.placement.clients.ec2.send(new CreateTagsCommand({ Resources: [v.instanceId], Tags: [{ Key: STATUS_TAG, Value: value }] }));
    }
    // moto emits no tag-change events: put the one EventBridge would, on the member's default bus, where the
    // member rule (deployed from the stack) forwards it to the engine's bus.
    const put: PutEvent[] = [];
    for (const v of victims) {
        triggeredAt.set(v.instanceId, Date.now());
        const entry = tagChangeEvent(v.placement.account, v.placement.region, v.instanceId, value);
        const out = await v.placement.clients.events.send(new PutEventsCommand({ Entries: [entry] }));
        if (out.FailedEntryCount) {
            throw new Error(`PutEvents failed: ${JSON.stringify(out.Entries)}`);
        }
        put.push({ id: out.Entries?.[0]?.EventId, detail: entry.Detail, account: v.placement.account, resources: entry.Resources });
    }
    const opened = await deliverRoutedEvents(world, victims.length, put);
    return { opened, triggeredAt };
}

/** An event the drill put, with the envelope fields AWS keeps when a rule forwards it to another bus. */
interface PutEvent {
    id?: string;
    detail: string;
    account: string;
    resources: string[];
}

/**
 * moto drops `account` and `resources` when a rule forwards an event to another bus (AWS keeps both, and the
 * opener needs them): put them back from the event as it was put, found by id or, failing that, by detail.
 */
function restoreEnvelope(event: Json, put: PutEvent[]): Json {
    const original = put.find((p) => p.id && p.id === event.id) ?? put.find((p) => JSON.stringify(JSON.parse(p.detail)) === JSON.stringify(event.detail));
    if (!original) {
        return event;
    }
    return {
        ...event,
        account: event.account ?? original.account,
        resources: Array.isArray(event.resources) && event.resources.length > 0 ? event.resources : original.resources,
    };
}

interface Opened {
    outcome?: string;
    caseId?: string;
    executionArn?: string;
    /** When the opener answered (ms since the epoch): the execution had started. */
    at?: number;
}

/**
 * Drains the queues that stand in for the Lambda targets of the stacks' rules and invokes the deployed
 * function of each, as EventBridge would; returns what the opener answered, by instance.
 */
async function deliverRoutedEvents(world: World, expected: number, put: PutEvent[]): Promise<Map<string, Opened>> {
    const opened = new Map<string, Opened>();
    const routes = [...world.forensic.routes, ...world.security.routes];
    const queues = new Map<string, AccountClients>();
    const sqsFor = (account: string, region: string) => {
        const key = `${account}/${region}`;
        if (!queues.has(key)) {
            queues.set(key, clientsFor(world.emulator.endpoint, account, region));
        }
        return (queues.get(key) as AccountClients).sqs;
    };
    // EventBridge invokes the targets asynchronously, many at once: so do these deliveries. Polling stops once
    // every expected instance's event was delivered, or when no message came for 30 s.
    const delivered = new Set<string>();
    const invocations: Promise<void>[] = [];
    const invoke = async (handler: LambdaHandler, event: unknown, body: Json) => {
        // An asynchronous invocation, as EventBridge makes it: Lambda tries a failed one twice more.
        let answer: Opened = {};
        for (let attempt = 1; attempt <= 3; attempt++) {
            try {
                answer = { ...(await handler(event, {})) as Opened, at: Date.now() };
                break;
            } catch (err) {
                answer = { outcome: `failed ${attempt} time(s): ${err instanceof Error ? err.message : String(err)}` };
            }
        }
        const instanceId = /instance\/(i-[0-9a-f]+)/.exec(JSON.stringify(body))?.[1] ?? (answer as { instance?: { instanceId?: string } })?.instance?.instanceId;
        if (instanceId && (answer?.executionArn || !opened.has(instanceId))) {
            opened.set(instanceId, answer);
        }
    };
    for (let lastSeen = Date.now(); delivered.size < expected && Date.now() - lastSeen < 30_000;) {
        let seen = 0;
        for (const route of routes) {
            const sqs = sqsFor(route.placement.account, route.placement.region);
            const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl: route.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
            for (const m of got.Messages ?? []) {
                seen++;
                await sqs.send(new DeleteMessageCommand({ QueueUrl: route.queueUrl, ReceiptHandle: m.ReceiptHandle }));
                const handler = world.handlers[route.targetArn];
                if (!handler) {
                    continue;
                }
                const body = restoreEnvelope(JSON.parse(m.Body ?? "{}"), put);
                const event = route.via === "sns" ? { Records: [{ EventSource: "aws:sns", Sns: body }] } : body;
                const instanceId = /instance\/(i-[0-9a-f]+)/.exec(JSON.stringify(body))?.[1];
                if (instanceId) {
                    delivered.add(instanceId);
                }
                invocations.push(invoke(handler, event, body));
            }
        }
        if (seen === 0) {
            await sleep(100);
        } else {
            lastSeen = Date.now();
        }
    }
    await Promise.all(invocations);
    queues.forEach((c) => Object.values(c).forEach((client) => client.destroy()));
    return opened;
}

export async function runCase(options: DrillOptions, world: World, victim: Victim, opened: Opened | undefined, triggeredAt: number, progress: Progress): Promise<CaseReport> {
    const report: CaseReport = {
        caseId: opened?.caseId ?? null, instanceId: victim.instanceId, placement: `${victim.placement.account}/${victim.placement.region}`, openedAt: opened?.at, status: "not-opened", timeline: [], artifacts: [], failures: [], states: [], memoryTools: [], missing: [],
    };
    if (!opened?.executionArn) {
        report.error = `the tag event opened no case (${JSON.stringify(opened ?? "no event reached the opener")})`;
        progress.finish(victim.instanceId, report.status);
        return report;
    }
    report.executionArn = opened.executionArn;
    const described = await world.clients.security.sfn.send(new DescribeExecutionCommand({ executionArn: opened.executionArn }));
    const machine = world.security.resources.find((r) => r.type === "aws:sfn/stateMachine:StateMachine" && r.state.arn === described.stateMachineArn);
    if (!machine) {
        report.error = `no deployed state machine ${described.stateMachineArn}`;
        progress.finish(victim.instanceId, "failed");
        return report;
    }
    const definition = JSON.parse(machine.inputs.definition);
    let terminated = false;
    const handlers: Record<string, (input: Json) => Promise<unknown>> = {};
    const waits: Record<string, number> = {};
    for (const [name, state] of allStates(definition)) {
        if (state.Type === "Wait" && !options.realWaits) {
            // The deployed durations, shortened: moto's snapshots complete at once; an SSM agent reconnecting or a
            // capture running is looked at every second (a floor, so that a polling storm would show in the call counts).
            waits[name] = 1000;
        }
        if (state.Type !== "Task") {
            continue;
        }
        const task = taskHandler(world, state);
        handlers[name] = async (input) => {
            progress.stage(victim.instanceId, name);
            report.states.push(name);
            const out = await task(input);
            if (options.scenarios.includes("terminated") && !terminated && JSON.stringify(out).includes("\"step\":\"isolation\"")) {
                terminated = true;
                await terminate(world, victim.instanceId);
            }
            return out;
        };
    }
    try {
        const { StateMachine } = await import("aws-local-stepfunctions");
        const execution = new StateMachine(definition, { validationOptions: { checkArn: false, checkPaths: false } }).run(JSON.parse(described.input ?? "{}"), {
            overrides: { taskResourceLocalHandlers: handlers as never, waitTimeOverrides: waits, retryIntervalOverrides: Object.fromEntries(Object.keys(handlers).map((n) => [n, 100])) },
            context: { Execution: { Id: opened.executionArn, Name: opened.executionArn.split(":").pop() }, State: { EnteredTime: new Date().toISOString() } } as never,
        });
        const result = (await execution.result) as { outcome?: string };
        report.status = result?.outcome ?? "unknown";
    } catch (err) {
        report.error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
        report.status = "failed";
    }
    // moto only recorded the execution (it runs here): its record would say RUNNING for ever, which the case
    // commands read as "still acquiring". The run has ended, so the record is stopped.
    await world.clients.security.sfn.send(new StopExecutionCommand({ executionArn: opened.executionArn, cause: "drill: run by aws-local-stepfunctions" })).catch(() => undefined);
    await readManifest(world, report, triggeredAt);
    // The verdict is the instance's own, not the record's: a case whose record failed may still have contained it.
    report.outcome = report.status;
    report.onInstance = await judgeOnInstance(world, victim.instanceId, report.caseId);
    if (report.onInstance.contained) {
        report.status = "contained";
    } else if (report.status === "contained") {
        report.status = "uncontained";
    }
    progress.finish(victim.instanceId, report.status);
    return report;
}

/** The engine's settings as its deployed functions have them (partition, member-side names). */
export function engineSettings(world: World): EngineSettings {
    for (const cb of Object.values(world.callbacks)) {
        try {
            const settings = JSON.parse(cb.environment.IRF_SETTINGS ?? "{}") as EngineSettings;
            if (settings?.member?.containedProfileName) {
                return settings;
            }
        } catch {
            // not this one
        }
    }
    throw new Error("no deployed function carries the engine's settings (IRF_SETTINGS)");
}

/**
 * Whether the victim is contained, read from the instance itself (containmentOnInstance, as the member
 * account's root sees it): the contained group alone and without rules on every ENI, the deny-all profile,
 * the workload role's and the IR role's credentials denied to it, the tags naming `caseId`.
 */
async function judgeOnInstance(world: World, instanceId: string, caseId: string | null): Promise<InstanceVerdict> {
    const settings = engineSettings(world);
    const { clients: member, account, region } = placementOf(world, instanceId);
    try {
        const view = await containmentOnInstance({ ec2: member.ec2, iam: member.iam }, { accountId: account, region, instanceId }, settings, {
            revokedRoleNames: [...(world.workloadRole ? [world.workloadRole] : []), settings.member.irProfileName],
            ...(caseId ? { caseId } : {}),
        });
        return { contained: view.contained, open: view.open };
    } catch (err) {
        return { contained: false, open: [`the instance could not be read: ${err instanceof Error ? err.message : String(err)}`] };
    }
}

/** A Task state's handler: the deployed callback its Lambda ARN names, or the optimized integration it uses. */
function taskHandler(world: World, state: Json): (input: Json) => Promise<unknown> {
    const resource = String(state.Resource ?? "");
    const direct = world.handlers[resource];
    if (direct) {
        return (input) => direct(input, {});
    }
    if (/^arn:aws:states:::lambda:invoke/.test(resource)) {
        return async (params: { FunctionName?: string; Payload?: unknown }) => {
            const found = Object.entries(world.handlers).find(([arn]) => arn === params.FunctionName || arn.endsWith(`:function:${params.FunctionName}`));
            if (!found) {
                throw new Error(`no deployed function ${params.FunctionName}`);
            }
            // Lambda is not emulated over HTTP: the state machine role's lambda:InvokeFunction is checked here.
            const principal = world.machine.principal;
            if (principal && !world.emulator.layer.lenient) {
                const decision = await world.emulator.layer.authorize(principal, { action: "lambda:InvokeFunction", resource: found[0], resourceAccount: found[0].split(":")[4], context: {} }, found[0].split(":")[3]);
                if (!decision.allowed) {
                    throw Object.assign(new Error(`User: ${principal.arn} is not authorized to perform: lambda:InvokeFunction on resource: ${found[0]} because ${decision.reason}`), { name: "Lambda.AccessDeniedException" });
                }
            }
            return { StatusCode: 200, Payload: await found[1](params.Payload, {}) };
        };
    }
    if (/^arn:aws:states:::sns:publish/.test(resource)) {
        return async (params: Json) => world.machine.sns.send(new PublishCommand(params as never));
    }
    if (/^arn:aws:states:::sqs:sendMessage/.test(resource)) {
        return async (params: Json) => world.machine.sqs.send(new SendMessageCommand(params as never));
    }
    if (/^arn:aws:states:::events:putEvents/.test(resource)) {
        return async (params: Json) => world.machine.events.send(new PutEventsCommand(params as never));
    }
    return async () => {
        throw new Error(`the drill cannot run Task resource ${resource}`);
    };
}

/** The victim's placement (a victim opened by a hook that the drill did not launch: the first placement). */
export function placementOf(world: World, instanceId: string): Placement {
    return world.placementOf.get(instanceId) ?? world.placements[0];
}

/** An operator lifts the termination protection isolation set, and terminates the victim mid-case. */
async function terminate(world: World, instanceId: string): Promise<void> {
    const member = placementOf(world, instanceId).clients;
    await member.ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: instanceId, DisableApiTermination: { Value: false } }));
    await member.ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
    world.host.removeHost(instanceId);
}

async function readManifest(world: World, report: CaseReport, triggeredAt: number): Promise<void> {
    if (!report.caseId) {
        return;
    }
    const bucket = String(world.forensic.outputs.evidenceBucketName);
    report.manifestKey = `cases/${report.caseId}/manifest.json`;
    let manifest: Json;
    try {
        const got = await world.investigator.send(new GetObjectCommand({ Bucket: bucket, Key: report.manifestKey }));
        manifest = JSON.parse(await got.Body?.transformToString() ?? "{}");
        report.record = "bucket";
    } catch (err) {
        const why = err instanceof Error ? err.message : String(err);
        // When the bucket refused the manifest, the case table keeps the record (`cases show` reads it too).
        const fallback = await getCaseRecord(world.clients.security.dynamodb, String(world.security.outputs.casesTableName), report.caseId).catch(() => undefined);
        if (!fallback) {
            report.record = "none";
            report.failures.push({ step: "drill", error: `manifest unreadable: ${why}; no fallback record in the case table` });
            return;
        }
        manifest = fallback.record as Json;
        report.record = "case-table";
        report.failures.push({ step: "record", error: `no manifest in the evidence bucket (${why}); the case table keeps the record: ${fallback.writeError}` });
    }
    if (report.status === "failed" && manifest.status) {
        report.status = manifest.status;
    }
    report.failures.push(...(manifest.failures ?? []));
    const steps: Json[] = manifest.steps ?? [];
    report.timeline = STAGES.map((stage) => {
        const s = steps.filter((x) => x.step === stage).pop();
        const calls = steps.filter((x) => x.step === stage).flatMap((x) => x.actions ?? []).filter((a: Json) => /^[a-z0-9-]+:[A-Z]/.test(a.action)).length;
        return { stage: TIMELINE_LABELS[stage], ms: s?.endedAt ? Date.parse(s.endedAt) - triggeredAt : null, calls, status: s?.status ?? "not-run" };
    });
    report.memoryTools = steps.filter((x) => x.step === "memory").flatMap((x) => x.detail?.attempts ?? []).filter((a: Json) => a.report).map((a: Json) => a.report.tool ?? null);
    report.artifacts = (manifest.artifacts ?? []).map((a: Json) => ({ kind: a.kind, key: a.key, versionId: a.versionId, bytes: a.bytes, sha256: a.sha256, verification: "missing" as const }));
}

/** Every artifact's SHA-256 as stored in the evidence bucket, against the manifest's. */
/** The case's artifacts checked as `npm run verify` checks them, plus memory images against the victim's image. */
export async function verifyArtifacts(world: World, report: CaseReport): Promise<ArtifactCheck[]> {
    const bucket = String(world.forensic.outputs.evidenceBucketName);
    const verdicts: Record<ArtifactVerdict, ArtifactCheck["verification"]> = {
        "verified": "verified", "mismatch": "mismatch", "missing": "missing", "no-digest": "no-digest", "snapshot-ok": "snapshot-verified",
        "snapshot-missing": "missing", "snapshot-not-evidenced": "not-evidenced", "unchecked": "missing",
    };
    const checked = report.caseId
        ? (await verifyCase(report.caseId, { s3: world.investigator, bucket, ec2: world.clients.forensic.ec2 })).artifacts
        : [];
    const isHostImage = async (a: ArtifactCheck, stored: string | undefined): Promise<boolean> => {
        if (stored === undefined) {
            return false;
        }
        if (world.hooks.isHostImage) {
            return world.hooks.isHostImage(report.instanceId, { bucket, key: a.key ?? "", versionId: a.versionId, sha256: stored }, world.investigator);
        }
        return stored === world.images.get(report.instanceId);
    };
    const matches = await Promise.all(report.artifacts.map((a, i) => (a.kind === "memory" ? isHostImage(a, checked[i]?.found?.sha256) : Promise.resolve(undefined))));
    return report.artifacts.map((a, i) => {
        const c = checked[i];
        const stored = c?.found?.sha256;
        return {
            ...a,
            verification: c ? verdicts[c.verdict] : "missing",
            ...(stored ? { storedSha256: stored } : {}),
            ...(a.kind === "memory" ? { matchesHostImage: matches[i] } : {}),
            ...(a.kind === "disk-snapshot" && c?.target ? { key: c.target } : {}),
        };
    });
}
