/**
 * The acquisition branches round by round, as the state machine drives them (Begin, Advance until
 * `done`, Finish), against moto. moto cannot show a snapshot shared with another account, so the disk
 * branch's "forensic" copy is made here with a second client of the member account (the copy logic and
 * the stage order are what is tested; disk.spec.ts tests each account's side on its own). EBS snapshot
 * lock is not in moto 5.2.1: a lock refused by the service is recorded and keeps the evidence; a lock
 * granted is tested with a mocked client.
 */
import * as assert from "assert";
import { CreateSnapshotCommand, CreateSnapshotsCommand, EC2Client, LockSnapshotCommand, RunInstancesCommand } from "@aws-sdk/client-ec2";
import { CreateEventBusCommand, PutRuleCommand, PutTargetsCommand } from "@aws-sdk/client-eventbridge";
import { CreateAliasCommand, CreateKeyCommand } from "@aws-sdk/client-kms";
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import { mockClient } from "aws-sdk-client-mock";
import { MemberClientFactory } from "../../functions/shared/aws";
import type { EngineSettings } from "../../functions/shared/settings";
import { lockEvidence } from "../../functions/acquisition/disk";
import { DiskBranchDeps, DiskRound, advanceDisk, beginDisk, finishDisk } from "../../functions/acquisition/diskBranch";
import { finishMemory, missingModule } from "../../functions/acquisition/memoryBranch";
import { MemoryProgress } from "../../functions/acquisition/memory";
import { AccountClients, DEFAULT_REGION, clientsFor } from "../../emulator/aws/aws-clients";
import { newCase, stepSettings } from "../support/cases";
import { MEMBER, SECURITY, useMoto } from "../support/moto";

const AMI = "ami-04681a1dbd79675a5";

describe("acquisition branches, round by round (moto)", function () {
    this.timeout(60_000);
    const moto = useMoto();
    let member: AccountClients;
    let security: AccountClients;
    const factory: MemberClientFactory = async () => ({ ec2: member.ec2, autoScaling: member.autoScaling, elbv2: member.elbv2, elb: member.elb, iam: member.iam });

    before(async () => {
        member = clientsFor(moto().endpoint, MEMBER);
        security = clientsFor(moto().endpoint, SECURITY);
        const key = await member.kms.send(new CreateKeyCommand({ Description: "IR key" }));
        await member.kms.send(new CreateAliasCommand({ AliasName: "alias/ir-forensics-ebs", TargetKeyId: key.KeyMetadata?.KeyId }));
    });
    after(() => [...Object.values(member ?? {}), ...Object.values(security ?? {})].forEach((c) => c.destroy()));

    function diskDeps(lock?: { mode: "governance" | "compliance"; days: number }): DiskBranchDeps {
        const settings: EngineSettings = stepSettings({ evidenceBucket: "unused", evidenceKeyArn: `arn:aws:kms:${DEFAULT_REGION}:${MEMBER}:alias/aws/ebs` });
        return {
            member: factory,
            // The stand-in for the forensic account (see the header): same account, same region.
            forensicEc2: async () => member.ec2,
            settings: {
                ...settings,
                disk: { memberKeyAlias: "alias/ir-forensics-ebs", forensicAccountId: "111122223333", ...(lock ? { lock } : {}) },
                forensicRegion: DEFAULT_REGION,
            },
        };
    }

    async function runDisk(deps: DiskBranchDeps): Promise<{ rounds: DiskRound[]; record: ReturnType<typeof finishDisk> }> {
        const out = await member.ec2.send(new RunInstancesCommand({
            ImageId: AMI, InstanceType: "t3.micro", MinCount: 1, MaxCount: 1,
            Placement: { AvailabilityZone: `${DEFAULT_REGION}a` },
            BlockDeviceMappings: [{ DeviceName: "/dev/xvda", Ebs: { VolumeSize: 8 } }, { DeviceName: "/dev/sdf", Ebs: { VolumeSize: 2 } }],
        }));
        const state = newCase(out.Instances?.[0].InstanceId ?? "");
        const rounds: DiskRound[] = [await beginDisk(state, deps)];
        while (!rounds[rounds.length - 1].done) {
            assert.ok(rounds.length < 20, "the branch ends");
            rounds.push(await advanceDisk(rounds[rounds.length - 1], deps));
        }
        return { rounds, record: finishDisk(rounds[rounds.length - 1]) };
    }

    it("disk: snapshots → member copies under the IR key → shared with the forensic account → evidence copies → cleanup, then its record", async () => {
        const { rounds, record } = await runDisk(diskDeps());
        assert.deepStrictEqual([...new Set(rounds.map((r) => r.stage))], ["snapshots", "copies", "evidence", "finished"]);
        assert.strictEqual(rounds[0].snapshots.length, 2, "root and data volume, one crash-consistent set");
        assert.strictEqual(record.status, "succeeded", record.error);
        assert.strictEqual(record.artifacts?.length, 2);
        for (const a of record.artifacts ?? []) {
            const d = a.detail as Record<string, unknown>;
            assert.ok(d.evidenceSnapshotId && d.memberCopySnapshotId && d.originalSnapshotId);
            assert.strictEqual(d.evidenceState, "completed");
            assert.strictEqual(d.memberCopyDeleted, true);
            assert.strictEqual(d.originalDeleted, false, "originals are kept by default");
        }
        const actions = record.actions.map((a) => a.action);
        assert.deepStrictEqual([...new Set(actions)], ["ec2:CreateSnapshots", "ec2:CopySnapshot", "ec2:ModifySnapshotAttribute", "ec2:DeleteSnapshot"]);
    });

    it("disk: a snapshot lock the service refuses is recorded and the evidence stays; the branch is partial", async () => {
        const { record } = await runDisk(diskDeps({ mode: "compliance", days: 30 }));
        assert.strictEqual(record.status, "partial");
        assert.match(record.error ?? "", /lock/);
        assert.ok(record.actions.some((a) => a.action === "ec2:LockSnapshot" && a.outcome === "failed"));
        assert.ok((record.artifacts ?? []).every((a) => (a.detail as { evidenceState?: string }).evidenceState === "completed"));
    });

    it("disk: a granted lock is recorded per evidence snapshot", async () => {
        const ec2 = new EC2Client({ region: DEFAULT_REGION });
        const mock = mockClient(ec2);
        const until = new Date("2027-01-01T00:00:00Z");
        mock.on(LockSnapshotCommand).resolves({ LockState: "compliance-cooloff", LockExpiresOn: until });
        const progress = {
            caseId: "c", instance: { accountId: MEMBER, region: DEFAULT_REGION, instanceId: "i-1" }, startedAt: "t", allCompleted: true, failed: [], actions: [], checks: 0,
            snapshots: [{ sourceVolumeId: "vol-1", device: "/dev/xvda", state: "completed", evidenceSnapshotId: "snap-e1", evidenceState: "completed" }],
        };
        const locked = await lockEvidence(progress, { forensicEc2: ec2, settings: { lock: { mode: "compliance", days: 30, coolOffHours: 24 } } });
        assert.deepStrictEqual(locked.snapshots[0].evidenceLock, { mode: "compliance-cooloff", lockedUntil: until.toISOString() });
        assert.deepStrictEqual(mock.commandCalls(LockSnapshotCommand)[0].args[0].input, { SnapshotId: "snap-e1", LockMode: "compliance", LockDuration: 30, CoolOffPeriod: 24 });
        mock.restore();
        ec2.destroy();
    });

    it("disk: when the crash-consistent set cannot be made (instance terminated, volumes kept), each volume is snapshotted on its own", async () => {
        const ec2 = new EC2Client({ region: DEFAULT_REGION });
        const mock = mockClient(ec2);
        mock.on(CreateSnapshotsCommand).rejects(Object.assign(new Error("The instance is not in a valid state"), { name: "IncorrectState" }));
        mock.on(CreateSnapshotCommand, { VolumeId: "vol-root" }).resolves({ SnapshotId: "snap-root", VolumeSize: 8, State: "pending" });
        mock.on(CreateSnapshotCommand, { VolumeId: "vol-data" }).rejects(Object.assign(new Error("volume deleted"), { name: "InvalidVolume.NotFound" }));
        const state = {
            ...newCase("i-0terminated"),
            facts: { blockDevices: [{ deviceName: "/dev/xvda", volumeId: "vol-root" }, { deviceName: "/dev/sdf", volumeId: "vol-data" }] } as never,
        };
        const started = await beginDisk(state, { ...diskDeps(), member: async () => ({ ...(await factory(state.instance, "t")), ec2 }) });
        assert.deepStrictEqual(started.snapshots.map((s) => [s.sourceVolumeId, s.originalSnapshotId, s.crashConsistent, s.error]), [
            ["vol-root", "snap-root", false, undefined],
            ["vol-data", undefined, false, "snapshot: no snapshot of this volume: InvalidVolume.NotFound: volume deleted"],
        ]);
        assert.ok(started.failed.some((f) => /^CreateSnapshots: IncorrectState/.test(f.error)), JSON.stringify(started.failed));
        const tags = mock.commandCalls(CreateSnapshotCommand)[0].args[0].input.TagSpecifications?.[0].Tags;
        assert.deepStrictEqual(tags, [
            { Key: "ir-forensics:case", Value: state.caseId }, { Key: "ir-forensics:source-volume", Value: "vol-root" }, { Key: "ir-forensics:device", Value: "/dev/xvda" },
        ]);
        assert.strictEqual(started.done, false, "the snapshot that was made goes on through the chain");
        mock.restore();
        ec2.destroy();
    });

    it("memory: a kernel without a LiME module is reported to the module factory on the engine bus", async () => {
        // The factory's rule stand-in: everything on the bus goes to a queue.
        await security.events.send(new CreateEventBusCommand({ Name: "ir-forensics" }));
        const queue = await security.sqs.send(new CreateQueueCommand({ QueueName: "build-requests" }));
        const queueArn = (await security.sqs.send(new GetQueueAttributesCommand({ QueueUrl: queue.QueueUrl, AttributeNames: ["QueueArn"] }))).Attributes?.QueueArn;
        await security.events.send(new PutRuleCommand({ Name: "build-requests", EventBusName: "ir-forensics", EventPattern: JSON.stringify({ "detail-type": ["ModuleBuildRequested"] }) }));
        await security.events.send(new PutTargetsCommand({ Rule: "build-requests", EventBusName: "ir-forensics", Targets: [{ Id: "q", Arn: queueArn }] }));

        const instance = { accountId: MEMBER, region: DEFAULT_REGION, instanceId: "i-0abc" };
        const progress: MemoryProgress = {
            caseId: "c", instance, startedAt: "t", status: "accepted", polls: 3, actions: [], artifacts: [],
            attempts: [{
                attempt: 1, key: "k", uploadId: "u", startedAt: "t", decision: { accepted: true, reasons: [] },
                report: { tool: "avml", toolVersion: "0.20.0", bytes: 1, sha256: "x", bannerSeen: true, partCount: 1, errors: ["no LiME module in the index for x86_64/6.1.0-99-cloud-amd64"] },
            }],
        };
        assert.deepStrictEqual(missingModule(progress), { arch: "x86_64", kernelRelease: "6.1.0-99-cloud-amd64" });
        const record = await finishMemory(progress, { events: security.events, busName: "ir-forensics" });
        assert.ok(record.actions.some((a) => a.action === "events:PutEvents" && a.outcome === "ok"));
        const got = await security.sqs.send(new ReceiveMessageCommand({ QueueUrl: queue.QueueUrl, WaitTimeSeconds: 1 }));
        const event = JSON.parse(got.Messages?.[0]?.Body ?? "{}");
        assert.strictEqual(event.source, "ir-forensics.engine");
        assert.deepStrictEqual(event.detail, { arch: "x86_64", kernelRelease: "6.1.0-99-cloud-amd64", ...instance });

        // A capture that used LiME asks for nothing.
        const withLime = { ...progress, attempts: [{ ...progress.attempts[0], report: { ...progress.attempts[0].report!, tool: "lime" as const, errors: [] } }] };
        assert.strictEqual(missingModule(withLime), undefined);
    });
});
