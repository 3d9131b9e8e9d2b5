/**
 * The disk branch against moto, one account's side at a time: moto does not show a snapshot shared to
 * another account, nor lets one account use another's KMS key (research/moto.md §2). So the member side
 * runs end to end on moto up to the share (verified with DescribeSnapshotAttribute), the forensic copy
 * runs on its own state from a stand-in snapshot, and the cross-account calls' failures are driven
 * through aws-sdk-client-mock clients.
 */
import * as assert from "assert";
import {
    CopySnapshotCommand, CreateSnapshotCommand, CreateVolumeCommand, DeleteSnapshotCommand, DescribeSnapshotAttributeCommand, DescribeSnapshotsCommand, EC2Client,
    RunInstancesCommand, Snapshot,
} from "@aws-sdk/client-ec2";
import { CreateRoleCommand } from "@aws-sdk/client-iam";
import { CreateAliasCommand, CreateKeyCommand, PutKeyPolicyCommand } from "@aws-sdk/client-kms";
import { mockClient } from "aws-sdk-client-mock";
import { AccountClients, DEFAULT_REGION, TEST_CREDENTIALS, clientsFor } from "../../emulator/aws/aws-clients";
import { MemberClientFactory } from "../../functions/shared/aws";
import type { EngineSettings } from "../../functions/shared/settings";
import { DISK_CASE_TAG, DISK_DEVICE_TAG, DISK_MEMBER_ACCOUNT_TAG, DISK_VOLUME_TAG, DiskProgress, checkSnapshots, cleanupMemberCopies, copyForSharing, copyIntoForensic, diskStepRecord, shareCopies, startSnapshots } from "../../functions/acquisition/disk";
import type { DiskSettings } from "../../functions/shared/settings";
import { FORENSIC, MEMBER, useMoto } from "../support/moto";
import { newCase, stepSettings } from "../support/cases";

const AMI = "ami-04681a1dbd79675a5";
const FORENSIC_REGION = "eu-central-1";
const KEY_ALIAS = "alias/ir-forensics-ebs";

const tagsOf = (snap: Snapshot | undefined): Record<string, string> => Object.fromEntries((snap?.Tags ?? []).map((t) => [t.Key ?? "", t.Value ?? ""]));


/** A progress document as `shareCopies` leaves it, for the forensic-side tests. */
function sharedProgress(copies: { copySnapshotId: string; sourceVolumeId: string; device: string }[]): DiskProgress {
    return {
        caseId: newCase("i-0123456789abcdef0").caseId,
        instance: { accountId: MEMBER, region: DEFAULT_REGION, instanceId: "i-0123456789abcdef0" },
        startedAt: new Date().toISOString(),
        snapshots: copies.map((c, i) => ({
            ...c, sizeGiB: 4, originalSnapshotId: `snap-0rig${i}`, state: "completed", copyState: "completed", sharedWith: [FORENSIC],
        })),
        allCompleted: true,
        failed: [],
        actions: [],
        checks: 0,
    };
}

describe("disk branch: snapshots, re-encrypted copies, sharing, evidence copies", function () {
    this.timeout(60_000);
    const moto = useMoto();
    let member: AccountClients;
    let forensic: AccountClients;
    let settings: EngineSettings & { disk: DiskSettings };
    let evidenceKeyArn: string;

    const factory: MemberClientFactory = async (ref) => {
        assert.strictEqual(ref.accountId, MEMBER);
        return { ec2: member.ec2, autoScaling: member.autoScaling, elbv2: member.elbv2, elb: member.elb, iam: member.iam };
    };
    /** Member clients whose EC2 client is `ec2` (a mocked one). */
    const factoryWith = (ec2: EC2Client): MemberClientFactory => async (ref) => ({ ...(await factory(ref, "test")), ec2 });
    /** A client outside moto for aws-sdk-client-mock (mocking one instance leaves the moto clients alone). */
    const mockedEc2 = (region = FORENSIC_REGION) => {
        const client = new EC2Client({ region, credentials: { ...TEST_CREDENTIALS } });
        return { client, mock: mockClient(client) };
    };

    before(async function () {
        await moto().reset();
        member = clientsFor(moto().endpoint, MEMBER);
        forensic = clientsFor(moto().endpoint, FORENSIC, FORENSIC_REGION);
        const memberKey = await member.kms.send(new CreateKeyCommand({ Description: "ir-forensics member IR key" }));
        await member.kms.send(new CreateAliasCommand({ AliasName: KEY_ALIAS, TargetKeyId: memberKey.KeyMetadata?.KeyId }));
        const evidenceKey = await forensic.kms.send(new CreateKeyCommand({ Description: "ir-forensics evidence key" }));
        evidenceKeyArn = evidenceKey.KeyMetadata?.Arn ?? "";
        settings = {
            ...stepSettings({ evidenceBucket: "irf-evidence", evidenceKeyArn }),
            disk: { memberKeyAlias: KEY_ALIAS, forensicAccountId: FORENSIC },
        };
    });

    after(function () {
        for (const client of [...Object.values(member ?? {}), ...Object.values(forensic ?? {})]) {
            client.destroy();
        }
    });

    it("a volume under a customer-managed key whose policy admits nobody here is not acquired, and the record names the key", async function () {
        // A key policy that neither delegates to IAM nor names the responder (docs/architecture.md "Volumes under customer-managed keys").
        const stranger = `arn:aws:iam::${MEMBER}:role/someone-else`;
        await member.iam.send(new CreateRoleCommand({ RoleName: "someone-else", AssumeRolePolicyDocument: JSON.stringify({ Version: "2012-10-17", Statement: [] }) }));
        // The instance is launched while the key still delegates to IAM; then its owner narrows the policy.
        const key = await member.kms.send(new CreateKeyCommand({ Description: "a workload's own volume key" }));
        const keyArn = key.KeyMetadata?.Arn ?? "";
        const run = await member.ec2.send(new RunInstancesCommand({
            ImageId: AMI, InstanceType: "t3.micro", MinCount: 1, MaxCount: 1, Placement: { AvailabilityZone: `${DEFAULT_REGION}a` },
            BlockDeviceMappings: [{ DeviceName: "/dev/xvda", Ebs: { VolumeSize: 8, Encrypted: true, KmsKeyId: keyArn } }],
        }));
        await member.kms.send(new PutKeyPolicyCommand({
            KeyId: keyArn, PolicyName: "default", BypassPolicyLockoutSafetyCheck: true,
            Policy: JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { AWS: stranger }, Action: "kms:*", Resource: "*" }] }),
        }));
        const state = newCase(run.Instances?.[0].InstanceId ?? "");
        let progress = await startSnapshots(state, { member: factory, settings });
        progress = await checkSnapshots(progress, { member: factory });
        progress = await copyForSharing(progress, { member: factory, settings });
        const [entry] = progress.snapshots;
        assert.strictEqual(entry.copySnapshotId, undefined, "copied although the key refuses");
        // EBS uses the volume's key for the caller: the key's policy refuses, and the failure names the key.
        assert.match(entry.error ?? "", new RegExp(`^copy: .*${keyArn.replace(/[/.]/g, "\\$&")}`));
        const { step } = diskStepRecord(progress);
        assert.strictEqual(step.status, "failed");
    });

    it("member side end to end: per-volume tags, copies under the IR key, shared with the forensic account only, only copies deleted", async function () {
        const run = await member.ec2.send(new RunInstancesCommand({
            ImageId: AMI, InstanceType: "t3.micro", MinCount: 1, MaxCount: 1, Placement: { AvailabilityZone: `${DEFAULT_REGION}a` },
            BlockDeviceMappings: [
                { DeviceName: "/dev/xvda", Ebs: { VolumeSize: 8 } },
                { DeviceName: "/dev/sdf", Ebs: { VolumeSize: 4 } },
            ],
        }));
        const state = newCase(run.Instances?.[0].InstanceId ?? "");

        // 1. Originals: one per volume, tagged at creation with the case (the responder may tag snapshots only
        // then), each naming its own volume; the copies carry volume and device tags.
        let progress = await startSnapshots(state, { member: factory, settings });
        assert.deepStrictEqual(progress.failed, []);
        assert.deepStrictEqual(progress.snapshots.map((s) => [s.device, s.sizeGiB]).sort(), [["/dev/sdf", 4], ["/dev/xvda", 8]]);
        const originalIds = progress.snapshots.map((s) => s.originalSnapshotId ?? "");
        const originals = (await member.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: originalIds }))).Snapshots ?? [];
        for (const entry of progress.snapshots) {
            const original = originals.find((o) => o.SnapshotId === entry.originalSnapshotId);
            assert.deepStrictEqual([tagsOf(original)[DISK_CASE_TAG], original?.VolumeId], [state.caseId, entry.sourceVolumeId]);
        }
        assert.ok(!progress.actions.some((a) => a.action === "ec2:CreateTags"), "no tagging after creation");
        progress = await checkSnapshots(progress, { member: factory });
        assert.strictEqual(progress.allCompleted, true);

        // 2. Copies encrypted under the member's IR key, polled to completion, then shared.
        progress = await copyForSharing(progress, { member: factory, settings });
        assert.strictEqual(progress.allCompleted, false, "new copies are pending until polled");
        progress = await checkSnapshots(progress, { member: factory });
        assert.strictEqual(progress.allCompleted, true);
        const copyIds = progress.snapshots.map((s) => s.copySnapshotId ?? "");
        const copies = (await member.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: copyIds }))).Snapshots ?? [];
        assert.strictEqual(copies.length, 2);
        for (const copy of copies) {
            assert.strictEqual(copy.Encrypted, true);
            assert.strictEqual(copy.KmsKeyId, KEY_ALIAS, "moto echoes the key id as given");
            const entry = progress.snapshots.find((s) => s.copySnapshotId === copy.SnapshotId);
            assert.strictEqual(entry?.copyKmsKeyId, copy.KmsKeyId, "the record holds the key EC2 reports");
            assert.deepStrictEqual(tagsOf(copy)[DISK_VOLUME_TAG], entry?.sourceVolumeId);
        }
        progress = await shareCopies(progress, { member: factory, settings });
        assert.deepStrictEqual(progress.failed, []);
        for (const id of copyIds) {
            const attribute = await member.ec2.send(new DescribeSnapshotAttributeCommand({ SnapshotId: id, Attribute: "createVolumePermission" }));
            assert.deepStrictEqual(attribute.CreateVolumePermissions, [{ UserId: FORENSIC }]);
        }
        for (const id of originalIds) {
            const attribute = await member.ec2.send(new DescribeSnapshotAttributeCommand({ SnapshotId: id, Attribute: "createVolumePermission" }));
            assert.deepStrictEqual(attribute.CreateVolumePermissions ?? [], [], "originals are never shared");
        }

        // 3. The forensic copy (moto cannot show the share to the forensic account): a mocked forensic client.
        const { client: forensicEc2, mock } = mockedEc2();
        let n = 0;
        mock.on(CopySnapshotCommand).callsFake(async () => ({ SnapshotId: `snap-evidence${n++}` }));
        mock.on(DescribeSnapshotsCommand).callsFake(async (input) => ({
            Snapshots: (input.SnapshotIds ?? []).map((id: string) => ({ SnapshotId: id, State: "completed", KmsKeyId: evidenceKeyArn })),
        }));
        progress = await copyIntoForensic(progress, { forensicEc2, settings: { evidenceKeyArn, forensicRegion: FORENSIC_REGION } });
        const requests = mock.commandCalls(CopySnapshotCommand).map((c) => c.args[0].input);
        assert.deepStrictEqual(requests.map((r) => r.SourceSnapshotId).sort(), [...copyIds].sort(), "the shared copies, never the originals");
        assert.ok(requests.every((r) => r.SourceRegion === DEFAULT_REGION && r.Encrypted === true && r.KmsKeyId === evidenceKeyArn));
        progress = await checkSnapshots(progress, { member: factory, forensicEc2 });
        assert.strictEqual(progress.allCompleted, true);

        // 4. Cleanup deletes the shared copies only; the originals stay (default).
        progress = await cleanupMemberCopies(progress, { member: factory, settings });
        assert.deepStrictEqual(progress.actions.filter((a) => a.action === "ec2:DeleteSnapshot").map((a) => a.target).sort(), [...copyIds].sort());
        for (const id of copyIds) {
            await assert.rejects(member.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [id] })), { name: "InvalidSnapshot.NotFound" });
        }
        const kept = await member.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: originalIds }));
        assert.strictEqual(kept.Snapshots?.length, 2);

        // 5. The manifest's record.
        const { step, artifacts } = diskStepRecord(progress);
        assert.strictEqual(step.step, "disk");
        assert.strictEqual(step.status, "succeeded", step.error);
        assert.deepStrictEqual(artifacts.map((a) => a.kind), ["disk-snapshot", "disk-snapshot"]);
        for (const a of artifacts) {
            const d = a.detail ?? {};
            assert.ok(originalIds.includes(d.originalSnapshotId as string) && copyIds.includes(d.memberCopySnapshotId as string));
            assert.match(String(d.evidenceSnapshotId), /^snap-evidence/);
            assert.strictEqual(d.memberKmsKeyId, KEY_ALIAS);
            assert.strictEqual(d.evidenceKmsKeyId, evidenceKeyArn);
            assert.strictEqual(d.memberCopyDeleted, true);
            assert.strictEqual(d.originalDeleted, false);
            assert.ok(typeof d.sizeGiB === "number" && typeof d.device === "string" && typeof d.sourceVolumeId === "string");
        }
        mock.restore();
        forensicEc2.destroy();
    });

    it("forensic side on its own state: the evidence copy is encrypted with the evidence key and tagged", async function () {
        // Stand-in for the member's shared copy: a snapshot the forensic account owns in the member region.
        const forensicInMemberRegion = clientsFor(moto().endpoint, FORENSIC, DEFAULT_REGION);
        const volume = await forensicInMemberRegion.ec2.send(new CreateVolumeCommand({ AvailabilityZone: `${DEFAULT_REGION}a`, Size: 4 }));
        const standIn = await forensicInMemberRegion.ec2.send(new CreateSnapshotCommand({ VolumeId: volume.VolumeId }));
        forensicInMemberRegion.ec2.destroy();

        let progress = sharedProgress([{ copySnapshotId: standIn.SnapshotId ?? "", sourceVolumeId: "vol-0suspect", device: "/dev/xvda" }]);
        progress = await copyIntoForensic(progress, { forensicEc2: forensic.ec2, settings: { evidenceKeyArn, forensicRegion: FORENSIC_REGION } });
        assert.deepStrictEqual(progress.failed, []);
        const evidenceId = progress.snapshots[0].evidenceSnapshotId ?? "";
        progress = await checkSnapshots(progress, { member: factory, forensicEc2: forensic.ec2 });
        assert.strictEqual(progress.allCompleted, true);
        assert.strictEqual(progress.snapshots[0].evidenceState, "completed");

        const evidence = (await forensic.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [evidenceId] }))).Snapshots?.[0];
        assert.strictEqual(evidence?.Encrypted, true);
        assert.strictEqual(evidence?.KmsKeyId, evidenceKeyArn);
        const tags = tagsOf(evidence);
        assert.deepStrictEqual(
            [tags[DISK_CASE_TAG], tags[DISK_VOLUME_TAG], tags[DISK_DEVICE_TAG], tags[DISK_MEMBER_ACCOUNT_TAG]],
            [progress.caseId, "vol-0suspect", "/dev/xvda", MEMBER],
        );
        assert.strictEqual(diskStepRecord(progress).artifacts[0].detail?.evidenceSnapshotId, evidenceId);

        // A forensic client in the wrong region is a recorded failure, not a copy elsewhere.
        const elsewhere = await copyIntoForensic(sharedProgress([{ copySnapshotId: "snap-x", sourceVolumeId: "vol-x", device: "/dev/sdf" }]), {
            forensicEc2: forensic.ec2, settings: { evidenceKeyArn, forensicRegion: "us-east-1" },
        });
        assert.match(elsewhere.failed[0].error, /evidence belongs in us-east-1/);
    });

    it("a forensic CopySnapshot denied by KMS or not finding the share is a recorded failure, not a throw", async function () {
        const { client: forensicEc2, mock } = mockedEc2();
        mock.on(CopySnapshotCommand, { SourceSnapshotId: "snap-copy0" }).rejects(Object.assign(
            new Error("User: arn:aws:sts::111122223333:assumed-role/irf/case is not authorized to perform: kms:CreateGrant on the member key"),
            { name: "AccessDeniedException" },
        ));
        mock.on(CopySnapshotCommand, { SourceSnapshotId: "snap-copy1" }).rejects(Object.assign(
            new Error("The snapshot 'snap-copy1' does not exist."), { name: "InvalidSnapshot.NotFound" },
        ));
        const progress = await copyIntoForensic(sharedProgress([
            { copySnapshotId: "snap-copy0", sourceVolumeId: "vol-0", device: "/dev/xvda" },
            { copySnapshotId: "snap-copy1", sourceVolumeId: "vol-1", device: "/dev/sdf" },
        ]), { forensicEc2, settings: { evidenceKeyArn, forensicRegion: FORENSIC_REGION } });

        assert.deepStrictEqual(progress.failed.map((f) => [f.stage, f.sourceVolumeId, f.snapshotId]), [
            ["evidence", "vol-0", "snap-copy0"], ["evidence", "vol-1", "snap-copy1"],
        ]);
        assert.match(progress.failed[0].error, /^AccessDeniedException: .*kms:CreateGrant/);
        assert.match(progress.failed[1].error, /^InvalidSnapshot\.NotFound/);
        assert.strictEqual(progress.allCompleted, true, "failed chains are not waited for");
        assert.ok(progress.snapshots.every((s) => s.error && !s.evidenceSnapshotId));

        // The branch still ends: cleanup removes the now useless shared copies, the record says what failed.
        const { client: memberEc2, mock: memberMock } = mockedEc2(DEFAULT_REGION);
        memberMock.on(DeleteSnapshotCommand).resolves({});
        const cleaned = await cleanupMemberCopies(progress, { member: factoryWith(memberEc2) });
        assert.deepStrictEqual(cleaned.snapshots.map((s) => s.copyDeleted), [true, true]);
        const { step } = diskStepRecord(cleaned);
        assert.strictEqual(step.status, "failed");
        assert.match(step.error ?? "", /kms:CreateGrant/);
        mock.restore();
        memberMock.restore();
        forensicEc2.destroy();
        memberEc2.destroy();
    });

    it("a snapshot stuck in state error is recorded as failed once, never polled again", async function () {
        // Member side: one original ends in error (the other completes and goes on alone).
        const { client: memberEc2, mock } = mockedEc2(DEFAULT_REGION);
        mock.on(DescribeSnapshotsCommand).resolves({ Snapshots: [
            { SnapshotId: "snap-a", State: "error", StateMessage: "internal error" },
            { SnapshotId: "snap-b", State: "completed", VolumeSize: 4 },
        ] });
        mock.on(CopySnapshotCommand).resolves({ SnapshotId: "snap-copy-b" });
        let progress: DiskProgress = {
            ...sharedProgress([]),
            snapshots: [
                { sourceVolumeId: "vol-a", device: "/dev/xvda", originalSnapshotId: "snap-a", state: "pending" },
                { sourceVolumeId: "vol-b", device: "/dev/sdf", originalSnapshotId: "snap-b", state: "pending" },
            ],
            allCompleted: false,
        };
        progress = await checkSnapshots(progress, { member: factoryWith(memberEc2) });
        assert.strictEqual(progress.allCompleted, true);
        assert.deepStrictEqual(progress.failed.map((f) => [f.stage, f.snapshotId]), [["snapshot", "snap-a"]]);
        assert.match(progress.failed[0].error, /state error: internal error/);
        progress = await copyForSharing(progress, { member: factoryWith(memberEc2), settings });
        assert.deepStrictEqual(mock.commandCalls(CopySnapshotCommand).map((c) => c.args[0].input.SourceSnapshotId), ["snap-b"]);

        // The copy under a key the forensic side cannot use ends in error on AWS (KMS is checked asynchronously).
        mock.on(DescribeSnapshotsCommand).resolves({ Snapshots: [{ SnapshotId: "snap-copy-b", State: "error", StateMessage: "KMS key not accessible" }] });
        progress = await checkSnapshots(progress, { member: factoryWith(memberEc2) });
        const after = await checkSnapshots(progress, { member: factoryWith(memberEc2) });
        assert.deepStrictEqual(after.failed.map((f) => [f.stage, f.snapshotId]), [["snapshot", "snap-a"], ["copy", "snap-copy-b"]]);
        assert.strictEqual(mock.commandCalls(DescribeSnapshotsCommand).length, 2, "nothing left to poll on the third check");
        assert.strictEqual(diskStepRecord(after).step.status, "failed");

        // Pending for too long: a recorded time-out, not an endless loop.
        mock.on(DescribeSnapshotsCommand).resolves({ Snapshots: [{ SnapshotId: "snap-slow", State: "pending" }] });
        const slow = await checkSnapshots({ ...progress, checks: 2, failed: [], snapshots: [{ sourceVolumeId: "vol-s", device: "/dev/sdg", originalSnapshotId: "snap-slow", state: "pending" }] },
            { member: factoryWith(memberEc2), settings: { disk: { maxChecks: 3 } } });
        assert.match(slow.failed[0]?.error ?? "", /not completed after 3 checks/);
        mock.restore();
        memberEc2.destroy();
    });

    it("a member role that cannot be assumed is a recorded failure of the branch", async function () {
        const denied: MemberClientFactory = async () => {
            throw Object.assign(new Error("not authorized to perform: sts:AssumeRole"), { name: "AccessDenied" });
        };
        const progress = await startSnapshots(newCase("i-0deadbeef0000000"), { member: denied, settings });
        assert.deepStrictEqual(progress.snapshots, []);
        assert.match(progress.failed[0].error, /AccessDenied: not authorized/);
        assert.strictEqual(diskStepRecord(progress).step.status, "failed");
    });
});
