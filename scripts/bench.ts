/**
 * Benchmarks of the response on the AWS emulator (moto on 127.0.0.1). Prints figures, asserts nothing.
 *
 *   npm run bench [-- --runs 7 --fleet 20,50 --json]
 *
 * 1. Trigger to isolation: from the tag event reaching the case opener to the acquisition-isolation
 *    group on every ENI of a two-ENI, dual-stack instance: wall time and AWS calls (all accounts),
 *    for the first case in a VPC (which creates the groups) and the median of the next runs.
 * 2. Fleets: N instances tagged at once, every case run through the incident definition to the end:
 *    wall time, calls, how many ended contained, and whether any case touched another's instance.
 *
 * The functions are the ones the Lambdas run; the member role is assumed through moto's STS as on AWS.
 */
import { DescribeNetworkInterfacesCommand, DescribeSecurityGroupsCommand } from "@aws-sdk/client-ec2";
import { STSClient } from "@aws-sdk/client-sts";
import { incidentDefinition } from "../components/incidentDefinition";
import { ENGINE_NAMES } from "../components/responseEngine";
import { assumingMemberClients, EngineSettings, MemberClientFactory, MemberClients } from "../functions/aws";
import { openCase } from "../functions/cases";
import { contain } from "../functions/containment";
import { isolate } from "../functions/isolation";
import { closeCase, recordCase } from "../functions/record";
import { getInstance } from "../functions/registry";
import { triage } from "../functions/triage";
import { CaseInput, CaseState, InstanceRef, STATUS_TAG } from "../functions/types";
import { MEMBER_NAMES } from "../stacks/conventions";
import { clientConfig, clientsFor, DEFAULT_REGION, forAccount } from "./aws-clients";
import { launchSuspect, prepareEngine, runIncident, suspectNetwork } from "./emulated-engine";
import { startMoto } from "./moto";

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

async function main(): Promise<void> {
    const runs = Number(option("runs", "7"));
    const fleets = option("fleet", "20,50").split(",").map(Number).filter((n) => n > 0);
    const asJson = process.argv.includes("--json");
    const log = (line: string) => !asJson && console.log(line);

    const moto = await startMoto();
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
        await prepareEngine(settings, { forensic, security, member });

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
        const net = await suspectNetwork(member, 0);
        const samples: { ms: number; calls: number; callsToIsolated: number; names: string[] }[] = [];
        for (let i = 0; i < runs + 1; i++) {
            const { ref } = await launchSuspect(member, ACCOUNTS.member, net);
            const t0 = Date.now();
            const opened = await quietly(() => openCase(tagEvent(ref), openerDeps)) as { caseId: string; executionArn: string };
            const input: CaseInput = {
                caseId: opened.caseId, mode: "analyze", instance: ref, openedAt: new Date(t0).toISOString(),
                trigger: { source: "tag", requested: "analyze", eventId: "bench", eventTime: new Date(t0).toISOString() },
            };
            let state = await triage(prepare(input, opened.executionArn), { member: memberClients, s3: security.s3, settings });
            state = await isolate(state, { member: memberClients, settings });
            const moves = state.steps.find((s) => s.step === "isolation")?.actions.filter((a) => a.action === "isolate-eni") ?? [];
            const cutAt = Math.max(...moves.map((a) => Date.parse(a.at)));
            // The ENI moves are the only ModifyNetworkInterfaceAttribute calls before containment: the cut is the last of them.
            const names = calls.since(t0);
            const upToCut = names.slice(0, names.lastIndexOf("ModifyNetworkInterfaceAttribute") + 1);
            samples.push({ ms: cutAt - t0, calls: names.length, callsToIsolated: upToCut.length, names: upToCut });
        }
        const [cold, ...warm] = samples;
        const isolation = {
            firstInVpc: { ms: cold.ms, callsToIsolated: cold.callsToIsolated },
            warm: { runs: warm.length, medianMs: median(warm.map((s) => s.ms)), medianCallsToIsolated: median(warm.map((s) => s.callsToIsolated)) },
            warmCallSequence: warm[0]?.names ?? [],
        };
        log("\n## Trigger to isolation (2 ENIs, dual stack, moto on loopback)\n");
        log("| case | time to isolation | AWS calls to isolation |");
        log("|---|---|---|");
        log(`| first case in the VPC (creates the groups) | ${cold.ms} ms | ${cold.callsToIsolated} |`);
        log(`| median of ${warm.length} further cases | ${isolation.warm.medianMs} ms | ${isolation.warm.medianCallsToIsolated} |`);
        log(`\ncalls of a warm case up to the cut, in order: ${isolation.warmCallSequence.join(", ")}`);
        log("(UpdateItem and Publish are the case opener recording the execution and notifying, after StartExecution; on AWS they run while the execution starts)");

        // 2. Fleets tagged at once, each case run to the end through the incident definition.
        const definition = incidentDefinition(
            { triage: "triage", isolate: "isolate", record: "record", contain: "contain", close: "close" },
            { partition: "aws", topicArn: settings.topicArn },
        );
        const handlers = {
            Triage: (s: CaseState) => triage(s, { member: memberClients, s3: security.s3, settings }),
            Isolate: (s: CaseState) => isolate(s, { member: memberClients, settings, sns: security.sns }),
            Record: (s: CaseState) => recordCase(s, { s3: security.s3, settings }),
            NotifyAcquisition: async () => ({}),
            Contain: (s: CaseState) => contain(s, { member: memberClients, settings, dynamodb: security.dynamodb, sns: security.sns }),
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
        if (asJson) {
            console.log(JSON.stringify({ isolation, fleets: fleetResults }, null, 2));
        }
    } finally {
        await moto.stop();
    }
}

main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
});
