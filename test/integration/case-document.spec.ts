/**
 * The case document stays small whatever the instance and however long the polling: Step Functions
 * fails a state over 256 KiB with an error no Catch sees, so the document the state machine carries is
 * held under 64 KiB. The real steps on moto behind the strict layer: an instance with 15 ENIs and 24
 * volumes, isolated, triaged, recorded, its snapshots started, contained, then 500 rounds of the disk
 * chain whose snapshot checks are throttled every time.
 */
import * as assert from "assert";
import { randomBytes } from "crypto";
import { AttachVolumeCommand, CreateVolumeCommand, DescribeInstancesCommand } from "@aws-sdk/client-ec2";
import { STSClient } from "@aws-sdk/client-sts";
import { assumingMemberClients, EngineSettings, MemberClientFactory } from "../../functions/aws";
import { DiskRound, advanceDisk, beginDisk, finishDisk } from "../../functions/diskBranch";
import { contain } from "../../functions/containment";
import { foldAcquisition } from "../../functions/fold";
import { isolate } from "../../functions/isolation";
import { recordCase } from "../../functions/record";
import { triage } from "../../functions/triage";
import { CaseState } from "../../functions/types";
import { DEFAULT_REGION, clientConfig, clientsFor, forAccount } from "../../scripts/aws-clients";
import { launchSuspect, prepareEngine, suspectNetwork } from "../../scripts/emulated-engine";
import { newCase, stepSettings } from "../support/cases";
import { FORENSIC, MEMBER, SECURITY, useMoto } from "../support/moto";

const LIMIT = 64 * 1024;
const size = (doc: unknown) => Buffer.byteLength(JSON.stringify(doc));

/** Makes every DescribeSnapshots of the client fail as AWS throttling does (a poll that never gets an answer). */
function throttleSnapshotChecks<T extends { middlewareStack: { add: (m: never, o: never) => void } }>(client: T): T {
    const middleware = (next: (a: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: unknown) => {
        if (context.commandName === "DescribeSnapshotsCommand") {
            throw Object.assign(new Error("Rate exceeded"), { name: "RequestLimitExceeded", $metadata: {} });
        }
        return next(args);
    };
    client.middlewareStack.add(middleware as never, { step: "initialize", name: "throttleSnapshotChecks" } as never);
    return client;
}

describe("the case document stays under 64 KiB (15 ENIs, 24 volumes, 500 poll rounds)", function () {
    const moto = useMoto();
    const run = randomBytes(4).toString("hex");
    let settings: EngineSettings;
    let member: MemberClientFactory;
    let state: CaseState;
    const sizes: Record<string, number> = {};

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
        const accounts = { forensic: clientsFor(endpoint, FORENSIC), security: clientsFor(endpoint, SECURITY), member: clientsFor(endpoint, MEMBER) };
        settings.evidenceKeyArn = (await prepareEngine(settings, accounts)).evidenceKeyArn;
        const net = await suspectNetwork(accounts.member, 90);
        const { ref } = await launchSuspect(accounts.member, MEMBER, net, 15);
        const { Reservations } = await accounts.member.ec2.send(new DescribeInstancesCommand({ InstanceIds: [ref.instanceId] }));
        const zone = Reservations?.[0]?.Instances?.[0]?.Placement?.AvailabilityZone ?? `${DEFAULT_REGION}a`;
        for (let i = 1; i < 24; i++) {
            const { VolumeId } = await accounts.member.ec2.send(new CreateVolumeCommand({ AvailabilityZone: zone, Size: 8 }));
            await accounts.member.ec2.send(new AttachVolumeCommand({ VolumeId, InstanceId: ref.instanceId, Device: `/dev/xvd${String.fromCharCode(97 + i)}` }));
        }
        const assume = assumingMemberClients(forAccount(new STSClient(clientConfig(endpoint)), SECURITY), settings);
        member = async (instance, session) => {
            const clients = await assume(instance, session);
            return { ...clients, ec2: throttleSnapshotChecks(clients.ec2) };
        };
        state = { ...newCase(ref.instanceId), executionArn: `${settings.stateMachineArn.replace(":stateMachine:", ":execution:")}:case` };
        state.caseId = state.caseId.replace(/^\d+-/, `${MEMBER}-`);
    });

    after(function () {
        delete process.env.AWS_ENDPOINT_URL;
    });

    it("isolation, triage, record, acquisition's start, containment and 500 throttled rounds of the disk chain", async function () {
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
