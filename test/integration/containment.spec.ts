/**
 * Containment on moto behind the strict layer, with the real steps: it is retried until the instance
 * itself shows every part holding, and names each open part when it cannot; the case is recorded at
 * every attempt, in the case table when the evidence bucket refuses; and the case document the state
 * machine carries stays under 64 KiB (Step Functions fails a state over 256 KiB with an error no Catch
 * sees) with 15 ENIs, 24 volumes and 500 rounds of a disk chain whose snapshot checks are throttled.
 */
import * as assert from "assert";
import { randomBytes } from "crypto";
import { AttachVolumeCommand, CreateVolumeCommand, DescribeInstancesCommand } from "@aws-sdk/client-ec2";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import { DeleteMessageCommand, ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import { STSClient } from "@aws-sdk/client-sts";
import { assumingMemberClients, MemberClientFactory } from "../../functions/shared/aws";
import type { EngineSettings } from "../../functions/shared/settings";
import { DiskRound, advanceDisk, beginDisk, finishDisk } from "../../functions/acquisition/diskBranch";
import { CONTAIN_RETRY_SECONDS, contain } from "../../functions/response/containment";
import { foldAcquisition } from "../../functions/response/fold";
import { isolate } from "../../functions/response/isolation";
import { caseOutcome, manifestKey, recordCase } from "../../functions/response/record";
import { getCaseRecord } from "../../functions/response/registry";
import { triage } from "../../functions/response/triage";
import { CaseState, STATUS_TAG, StepRecord } from "../../functions/shared/types";
import { DEFAULT_REGION, clientConfig, clientsFor, forAccount } from "../../emulator/aws/aws-clients";
import { launchSuspect, prepareEngine, suspectNetwork } from "../../emulator/deploy/emulated-engine";
import { newCase, stepSettings } from "../support/cases";
import { FORENSIC, MEMBER, SECURITY, useMoto } from "../support/moto";

const LIMIT = 64 * 1024;
const size = (doc: unknown) => Buffer.byteLength(JSON.stringify(doc));

/** Makes every `command` of the client fail with `error` (a throttled poll, a refused write) while `when()` holds. */
function failCommand<T extends { middlewareStack: { add: (m: never, o: never) => void } }>(client: T, command: string, error: string, when: () => boolean = () => true): T {
    const middleware = (next: (a: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: unknown) => {
        if (context.commandName === `${command}Command` && when()) {
            throw Object.assign(new Error(`${error} (injected)`), { name: error, $metadata: {} });
        }
        return next(args);
    };
    client.middlewareStack.add(middleware as never, { step: "initialize", name: `fail${command}` } as never);
    return client;
}

describe("containment on moto: retried until it holds on the instance, recorded at every attempt, a bounded case document", function () {
    const moto = useMoto();
    const run = randomBytes(4).toString("hex");
    let settings: EngineSettings;
    let member: MemberClientFactory;
    let state: CaseState;
    const sizes: Record<string, number> = {};
    let refuseTags = false;
    let suspect: { ref: CaseState["instance"]; net: Awaited<ReturnType<typeof suspectNetwork>> };
    let accounts: Record<"forensic" | "security" | "member", ReturnType<typeof clientsFor>>;
    let queueUrl: string;

    before("an instance with 15 ENIs and 24 volumes in the member account; the engine's resources", async function () {
        await moto().reset();
        const endpoint = moto().endpoint;
        process.env.AWS_ENDPOINT_URL = endpoint;
        settings = {
            ...stepSettings({ evidenceBucket: `irf-doc-${run}`, evidenceKeyArn: "" }),
            casesTable: `irf-doc-${run}`,
            topicArn: `arn:aws:sns:${DEFAULT_REGION}:${SECURITY}:irf-doc-${run}`,
            stateMachineArn: `arn:aws:states:${DEFAULT_REGION}:${SECURITY}:stateMachine:irf-doc-${run}`,
        };
        accounts = { forensic: clientsFor(endpoint, FORENSIC), security: clientsFor(endpoint, SECURITY), member: clientsFor(endpoint, MEMBER) };
        const prepared = await prepareEngine(settings, accounts);
        settings.evidenceKeyArn = prepared.evidenceKeyArn;
        queueUrl = prepared.notificationQueueUrl;
        const net = await suspectNetwork(accounts.member, 90);
        const { ref } = await launchSuspect(accounts.member, MEMBER, net, 15);
        suspect = { ref: (await launchSuspect(accounts.member, MEMBER, net, 1)).ref, net };
        const { Reservations } = await accounts.member.ec2.send(new DescribeInstancesCommand({ InstanceIds: [ref.instanceId] }));
        const zone = Reservations?.[0]?.Instances?.[0]?.Placement?.AvailabilityZone ?? `${DEFAULT_REGION}a`;
        for (let i = 1; i < 24; i++) {
            const { VolumeId } = await accounts.member.ec2.send(new CreateVolumeCommand({ AvailabilityZone: zone, Size: 8 }));
            await accounts.member.ec2.send(new AttachVolumeCommand({ VolumeId, InstanceId: ref.instanceId, Device: `/dev/xvd${String.fromCharCode(97 + i)}` }));
        }
        const assume = assumingMemberClients(forAccount(new STSClient(clientConfig(endpoint)), SECURITY), settings);
        member = async (instance, session) => {
            const clients = await assume(instance, session);
            return { ...clients, ec2: failCommand(failCommand(clients.ec2, "DescribeSnapshots", "RequestLimitExceeded"), "CreateTags", "UnauthorizedOperation", () => refuseTags) };
        };
        state = { ...newCase(ref.instanceId), executionArn: `${settings.stateMachineArn.replace(":stateMachine:", ":execution:")}:case` };
        state.caseId = state.caseId.replace(/^\d+-/, `${MEMBER}-`);
    });

    after(function () {
        delete process.env.AWS_ENDPOINT_URL;
    });

    /** Kinds of the notifications published since the last call. */
    async function notified(): Promise<{ kind: string; summary: string }[]> {
        const out: { kind: string; summary: string }[] = [];
        for (;;) {
            const { Messages = [] } = await accounts.security.sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
            if (Messages.length === 0) {
                return out;
            }
            for (const m of Messages) {
                const message = JSON.parse(JSON.parse(m.Body ?? "{}").Message);
                out.push({ kind: message.kind, summary: message.summary });
                await accounts.security.sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle }));
            }
        }
    }

    const containDeps = (s3 = accounts.security.s3) => ({
        member, settings, dynamodb: accounts.security.dynamodb, sns: accounts.security.sns, s3, revocationSettleMs: 0,
    });

    it("a part that does not hold is retried with backoff, named after the last attempt, and holds once it can", async function () {
        const start: CaseState = { ...newCase(suspect.ref.instanceId), mode: "contain" };
        await notified();
        refuseTags = true;
        let attempt = await contain(start, containDeps());
        assert.deepStrictEqual(
            { holds: attempt.containment?.holds, attempts: attempt.containment?.attempts, retryInSeconds: attempt.containment?.retryInSeconds },
            { holds: false, attempts: 1, retryInSeconds: CONTAIN_RETRY_SECONDS[0] });
        assert.ok(attempt.containment?.open.some((p) => p.startsWith(`tag ${STATUS_TAG} is`)), JSON.stringify(attempt.containment?.open));
        // Network, profile and revocation hold already: only the tags are open.
        assert.strictEqual(attempt.containment?.open.length, 2, JSON.stringify(attempt.containment?.open));
        assert.deepStrictEqual(await notified(), [], "nobody is paged while attempts remain");
        for (let i = 1; i < CONTAIN_RETRY_SECONDS.length + 1; i++) {
            attempt = await contain(attempt, containDeps());
        }
        assert.strictEqual(attempt.containment?.attempts, CONTAIN_RETRY_SECONDS.length + 1);
        assert.strictEqual(attempt.containment?.retryInSeconds, undefined, "no attempts left");
        const failed = await notified();
        assert.deepStrictEqual(failed.map((n) => n.kind), ["failed"]);
        assert.match(failed[0].summary, new RegExp(`NOT CONTAINED after ${CONTAIN_RETRY_SECONDS.length + 1} attempt\\(s\\): tag ${STATUS_TAG} is`));
        assert.strictEqual(caseOutcome(attempt), "uncontained");

        refuseTags = false;
        const held = await contain({ ...attempt, containment: { ...attempt.containment!, attempts: 0 } }, containDeps());
        assert.strictEqual(held.containment?.holds, true, JSON.stringify(held.containment));
        assert.deepStrictEqual((await notified()).map((n) => n.kind), ["contained"]);
        assert.strictEqual(caseOutcome(held), "contained");

        // A contain-only case has its record from the first attempt on: the manifest names every attempt.
        const manifest = JSON.parse(await (await accounts.forensic.s3.send(new GetObjectCommand({
            Bucket: settings.evidenceBucket, Key: manifestKey(start.caseId),
        }))).Body!.transformToString());
        assert.strictEqual(manifest.steps.filter((s: StepRecord) => s.step === "containment").length, CONTAIN_RETRY_SECONDS.length + 2);
    });

    it("when the evidence bucket refuses every write, the case table keeps the record and containment still holds", async function () {
        const start: CaseState = { ...newCase(suspect.ref.instanceId), mode: "contain" };
        start.caseId = `${start.caseId}-refused`;
        const refusing = failCommand(clientsFor(moto().endpoint, SECURITY).s3, "PutObject", "AccessDenied");
        const held = await contain(start, containDeps(refusing));
        assert.strictEqual(held.containment?.holds, true, JSON.stringify(held.containment));
        const step = held.steps.at(-1)!;
        assert.ok(step.actions.some((a) => a.action === "record-manifest" && a.outcome === "failed" && /AccessDenied/.test(a.error ?? "")));
        const fallback = await getCaseRecord(accounts.security.dynamodb, settings.casesTable, start.caseId);
        assert.ok(fallback, "a fallback record in the case table");
        assert.match(fallback.writeError, /AccessDenied/);
        assert.strictEqual((fallback.record as { caseId: string }).caseId, start.caseId);
        assert.ok((fallback.record as { steps: StepRecord[] }).steps.some((s) => s.step === "containment"));
    });

    it("isolation, triage, record, acquisition's start, containment and 500 throttled rounds of the disk chain stay under 64 KiB", async function () {
        const security = clientsFor(moto().endpoint, SECURITY);
        state = await isolate(state, { member, settings });
        sizes.isolated = size(state);
        state = await triage(state, { member, s3: security.s3, settings });
        assert.strictEqual(state.facts?.networkInterfaces.length, 15);
        assert.strictEqual(state.facts?.volumeIds.length, 24);
        sizes.triaged = size(state);
        state = await recordCase(state, { s3: security.s3, settings });
        const diskDeps = { member, forensicEc2: async () => security.ec2, settings: { ...settings, disk: { memberKeyAlias: "alias/ir-forensics-ebs", forensicAccountId: FORENSIC, maxChecks: 1000 }, forensicRegion: DEFAULT_REGION } } as never;
        let round: DiskRound = await beginDisk(state, diskDeps);
        assert.strictEqual(round.snapshots.length, 24, JSON.stringify(round.failed));
        const memoryRecord = { step: "memory" as const, status: "failed" as const, startedAt: state.openedAt, endedAt: state.openedAt, actions: [], error: "not run here" };
        state = await contain({ ...state, acquisition: [memoryRecord, round as never] }, {
            member, settings, dynamodb: security.dynamodb, sns: security.sns, s3: security.s3, revocationSettleMs: 0,
        });
        sizes.contained = size(state);
        assert.ok(state.diskProgress, "containment moved the disk chain's document aside");
        round = { ...(state.diskProgress as unknown as DiskRound), allCompleted: false };
        for (let i = 0; i < 500; i++) {
            round = await advanceDisk({ ...round, allCompleted: false }, diskDeps);
            if (i === 0 || i === 499) {
                sizes[`round${i + 1}`] = size({ ...state, diskProgress: round });
            }
        }
        const failedChecks = round.actions.find((a) => a.action === "ec2:DescribeSnapshots" && a.outcome === "failed");
        assert.ok(failedChecks, JSON.stringify(round.actions.slice(0, 3)));
        assert.strictEqual(failedChecks.repeats, 500, "the 500 failed checks are one record counted 500 times");
        const closing = foldAcquisition({ ...state, diskProgress: round as unknown as Record<string, unknown>, diskResult: finishDisk(round) });
        sizes.folded = size(closing);
        process.stdout.write(`      case document, bytes: ${JSON.stringify(sizes)}\n`);
        for (const [when, bytes] of Object.entries(sizes)) {
            assert.ok(bytes < LIMIT, `${when}: ${bytes} bytes ≥ ${LIMIT}`);
        }
    });
});
