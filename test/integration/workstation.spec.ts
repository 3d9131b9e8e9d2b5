/**
 * The workstation launcher against moto in the forensic account: an analysis VPC with three subnets in
 * three AZs, evidence snapshots tagged as the disk branch tags them, the SIFT AMI id in SSM. The launcher's
 * own code runs first as a plain function, then as the callback the forensic stack would deploy.
 */
import * as assert from "assert";
import {
    CreateSecurityGroupCommand, CreateSnapshotCommand, DescribeSnapshotsCommand, CreateSubnetCommand, CreateVolumeCommand, CreateVpcCommand, DescribeInstanceAttributeCommand,
    DescribeInstancesCommand, DescribeVolumesCommand, EC2Client, Instance, SnapshotState, StopInstancesCommand,
} from "@aws-sdk/client-ec2";
import { CreatePolicyCommand, GetInstanceProfileCommand, GetRoleCommand, GetRolePolicyCommand } from "@aws-sdk/client-iam";
import { CreateBucketCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { DeleteParameterCommand, PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { mockClient } from "aws-sdk-client-mock";
import * as fs from "fs";
import * as path from "path";
import { AccountClients, DEFAULT_REGION, clientConfig, clientsFor, forAccount, harnessCredentials } from "../../emulator/aws/aws-clients";
import { DISK_CASE_TAG, DISK_DEVICE_TAG, DISK_MEMBER_ACCOUNT_TAG, DISK_SOURCE_SNAPSHOT_TAG, DISK_VOLUME_TAG } from "../../functions/acquisition/disk";
import {
    CASE_POLICY_NAME, LaunchDeps, LaunchResult, WORKSTATION_CASE_TAG, WorkstationSettings, caseRoleName, caseSnapshots, launchWorkstation, onManifestWritten,
} from "../../functions/workstation/workstation";
import { deployedCallbacks, loadCallback, withEnvironment } from "../support/deployed";
import { FORENSIC, MEMBER, useMoto } from "../support/moto";
import { one, PROJECT_ROOT, renderStack } from "../support/pulumi";
import * as aws from "@pulumi/aws";

const AMI = "ami-04681a1dbd79675a5";
const AMI_PARAMETER = "/ir-forensics/sift/ami-id";
const ZONES = ["eu-west-1a", "eu-west-1b", "eu-west-1c"];
const EVIDENCE_BUCKET = "irf-evidence-workstation";
const SCRIPTS = {
    mountEvidence: fs.readFileSync(path.join(PROJECT_ROOT, "imagebuilder", "mount-evidence.sh"), "utf8"),
    idleStop: fs.readFileSync(path.join(PROJECT_ROOT, "imagebuilder", "idle-stop.sh"), "utf8"),
};

const EVIDENCE_DEVICE = /^\/dev\/sd[f-z]$/;

const caseId = (n: number) => `${MEMBER}-eu-west-1-i-0123456789abcdef${n}-20261123T1015${String(n).padStart(2, "0")}Z`;

describe("workstation launcher (moto, forensic account)", function () {
    this.timeout(60_000);
    const moto = useMoto();
    let forensic: AccountClients;
    let ssm: SSMClient;
    let settings: WorkstationSettings;
    let subnets: { id: string; zone: string }[];
    const sleeps: number[] = [];
    const deps = (ec2: EC2Client = forensic.ec2): LaunchDeps & { s3: AccountClients["s3"] } => ({
        ec2, iam: forensic.iam, ssm, s3: forensic.s3, settings, scripts: SCRIPTS, sleep: async (ms) => { sleeps.push(ms); },
    });

    /** An evidence snapshot as copyIntoForensic leaves it: made from a volume in `zone`, tagged with the case. */
    async function evidenceSnapshot(forCase: string, device: string, sizeGiB: number, zone = "eu-west-1c"): Promise<string> {
        const volume = await forensic.ec2.send(new CreateVolumeCommand({ AvailabilityZone: zone, Size: sizeGiB }));
        const snap = await forensic.ec2.send(new CreateSnapshotCommand({
            VolumeId: volume.VolumeId,
            Description: `evidence of ${device}`,
            TagSpecifications: [{
                ResourceType: "snapshot",
                Tags: [
                    { Key: DISK_CASE_TAG, Value: forCase }, { Key: DISK_VOLUME_TAG, Value: `vol-0src${device.slice(-1)}` },
                    { Key: DISK_DEVICE_TAG, Value: device }, { Key: DISK_MEMBER_ACCOUNT_TAG, Value: MEMBER },
                    { Key: DISK_SOURCE_SNAPSHOT_TAG, Value: "snap-0original" },
                ],
            }],
        }));
        return snap.SnapshotId!;
    }

    async function instance(id: string): Promise<Instance> {
        const out = await forensic.ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
        return out.Reservations![0].Instances![0];
    }

    async function attachedVolumes(instanceId: string) {
        const out = await forensic.ec2.send(new DescribeVolumesCommand({ Filters: [{ Name: "attachment.instance-id", Values: [instanceId] }] }));
        return out.Volumes ?? [];
    }

    before(async () => {
        await moto().reset();
        forensic = clientsFor(moto().endpoint, FORENSIC);
        ssm = forAccount(new SSMClient(clientConfig(moto().endpoint)), FORENSIC);
        const vpc = await forensic.ec2.send(new CreateVpcCommand({ CidrBlock: "10.66.0.0/16" }));
        subnets = [];
        for (const [i, zone] of ZONES.entries()) {
            const s = await forensic.ec2.send(new CreateSubnetCommand({ VpcId: vpc.Vpc!.VpcId, CidrBlock: `10.66.${i}.0/24`, AvailabilityZone: zone }));
            subnets.push({ id: s.Subnet!.SubnetId!, zone });
        }
        // A subnet of another VPC: never a place for a workstation.
        const other = await forensic.ec2.send(new CreateVpcCommand({ CidrBlock: "10.67.0.0/24" }));
        await forensic.ec2.send(new CreateSubnetCommand({ VpcId: other.Vpc!.VpcId, CidrBlock: "10.67.0.0/24", AvailabilityZone: "eu-west-1a" }));
        const sg = await forensic.ec2.send(new CreateSecurityGroupCommand({ GroupName: "analysis-workstation", Description: "workstations", VpcId: vpc.Vpc!.VpcId }));
        const boundary = await forensic.iam.send(new CreatePolicyCommand({
            PolicyName: "ir-forensics-case-workstation-boundary",
            Path: "/ir-forensics/investigator/",
            PolicyDocument: JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "s3:GetObject", Resource: `arn:aws:s3:::${EVIDENCE_BUCKET}/cases/*` }] }),
        }));
        await ssm.send(new PutParameterCommand({ Name: AMI_PARAMETER, Value: AMI, Type: "String" }));
        await forensic.s3.send(new CreateBucketCommand({ Bucket: EVIDENCE_BUCKET, CreateBucketConfiguration: { LocationConstraint: DEFAULT_REGION } }));
        settings = {
            partition: "aws",
            region: DEFAULT_REGION,
            accountId: FORENSIC,
            evidenceBucket: EVIDENCE_BUCKET,
            evidenceKeyArn: `arn:aws:kms:${DEFAULT_REGION}:${FORENSIC}:key/0000-1111`,
            casesPrefix: "cases/",
            moduleStore: { bucketName: "ir-forensics-modules-222233334444-eu-west-1", symbolsPrefix: "symbols/", accountId: "222233334444" },
            amiParameterName: AMI_PARAMETER,
            vpcId: vpc.Vpc!.VpcId!,
            securityGroupId: sg.GroupId!,
            instanceType: "m6i.xlarge",
            idleStopHours: 4,
            access: "eic",
            instanceConnectEndpointId: "eice-0123456789abcdef0",
            casePath: "/ir-forensics/investigator/case/",
            permissionsBoundaryArn: boundary.Policy!.Arn!,
        };
    });

    after(() => {
        forensic?.ec2.destroy();
        ssm?.destroy();
    });

    describe("a case with two disks", () => {
        let result: LaunchResult;
        let snapshots: string[];
        let other: string;

        before(async () => {
            snapshots = [await evidenceSnapshot(caseId(1), "/dev/xvdf", 20), await evidenceSnapshot(caseId(1), "/dev/xvda", 8)];
            other = await evidenceSnapshot(caseId(9), "/dev/xvda", 8);
            result = await launchWorkstation({ caseId: caseId(1), requestToken: "req-1" }, deps());
        });

        it("launches the latest SIFT AMI into an analysis subnet without a public IP, IMDSv2 only, stopping on shutdown", async () => {
            assert.strictEqual(result.outcome, "launched");
            const i = await instance(result.instanceId);
            assert.strictEqual(i.ImageId, AMI);
            assert.strictEqual(i.InstanceType, "m6i.xlarge");
            assert.ok(subnets.some((s) => s.id === i.SubnetId && s.zone === i.Placement?.AvailabilityZone), `${i.SubnetId} is not an analysis subnet`);
            assert.strictEqual(i.SubnetId, result.subnetId);
            assert.strictEqual(i.PublicIpAddress, undefined);
            assert.deepStrictEqual(i.NetworkInterfaces?.map((n) => [n.SubnetId, n.Groups?.map((g) => g.GroupId), n.Association?.PublicIp]), [
                [result.subnetId, [settings.securityGroupId], undefined],
            ]);
            assert.strictEqual(i.MetadataOptions?.HttpTokens, "required");
            const shutdown = await forensic.ec2.send(new DescribeInstanceAttributeCommand({ InstanceId: result.instanceId, Attribute: "instanceInitiatedShutdownBehavior" }));
            assert.strictEqual(shutdown.InstanceInitiatedShutdownBehavior?.Value, "stop");
            assert.ok(i.Tags?.some((t) => t.Key === WORKSTATION_CASE_TAG && t.Value === caseId(1)));
        });

        it("creates a volume from each of the case's snapshots, in the instance's AZ, attached to it", async () => {
            const volumes = await attachedVolumes(result.instanceId);
            const evidence = volumes.filter((v) => v.SnapshotId && snapshots.includes(v.SnapshotId));
            assert.deepStrictEqual(evidence.map((v) => v.SnapshotId).sort(), [...snapshots].sort());
            assert.ok(!volumes.some((v) => v.SnapshotId === other), "attached another case's evidence");
            for (const v of evidence) {
                assert.strictEqual(v.AvailabilityZone, result.availabilityZone);
                assert.strictEqual(v.Attachments?.[0].State, "attached");
            }
            // Made for the workstation, gone with it: the evidence snapshot is what is kept.
            const mappings = (await instance(result.instanceId)).BlockDeviceMappings ?? [];
            for (const device of ["/dev/sdf", "/dev/sdg"]) {
                assert.strictEqual(mappings.find((m) => m.DeviceName === device)?.Ebs?.DeleteOnTermination, true, device);
            }
            // Device order follows the source devices: /dev/xvda's evidence first.
            assert.deepStrictEqual(result.evidence.map((e) => [e.device, e.snapshotId, e.sourceDevice]), [
                ["/dev/sdf", snapshots[1], "/dev/xvda"],
                ["/dev/sdg", snapshots[0], "/dev/xvdf"],
            ]);
            const byDevice = Object.fromEntries(evidence.map((v) => [v.Attachments![0].Device, v.SnapshotId]));
            assert.deepStrictEqual(byDevice, { "/dev/sdf": snapshots[1], "/dev/sdg": snapshots[0] });
        });

        it("gives the instance a per-case role under the boundary that reads only cases/<case-id>/", async () => {
            const name = caseRoleName(caseId(1));
            assert.ok(name.length <= 64);
            const role = (await forensic.iam.send(new GetRoleCommand({ RoleName: name }))).Role!;
            assert.strictEqual(role.Path, "/ir-forensics/investigator/case/");
            assert.strictEqual(role.PermissionsBoundary?.PermissionsBoundaryArn, settings.permissionsBoundaryArn);
            assert.strictEqual(result.roleArn, role.Arn);
            const doc = JSON.parse(decodeURIComponent((await forensic.iam.send(new GetRolePolicyCommand({ RoleName: name, PolicyName: CASE_POLICY_NAME }))).PolicyDocument!));
            assert.strictEqual(doc.Statement.find((s: any) => s.Sid === "ReadCaseEvidence").Resource, `arn:aws:s3:::${EVIDENCE_BUCKET}/cases/${caseId(1)}/*`);
            const profile = (await forensic.iam.send(new GetInstanceProfileCommand({ InstanceProfileName: name }))).InstanceProfile!;
            assert.deepStrictEqual(profile.Roles?.map((r) => r.RoleName), [name]);
            assert.strictEqual((await instance(result.instanceId)).IamInstanceProfile?.Arn, profile.Arn);
        });

        it("boots with user data that mounts the case's evidence and says how to connect", async () => {
            const attr = await forensic.ec2.send(new DescribeInstanceAttributeCommand({ InstanceId: result.instanceId, Attribute: "userData" }));
            const userData = Buffer.from(attr.UserData!.Value!, "base64").toString("utf8");
            assert.ok(userData.includes(`CASE_ID=${caseId(1)}\nEVIDENCE_DISKS=2\n`));
            assert.ok(userData.includes(SCRIPTS.mountEvidence));
            assert.strictEqual(result.mountRoot, `/cases/${caseId(1)}`);
            assert.strictEqual(result.connect,
                `aws ec2-instance-connect ssh --region eu-west-1 --instance-id ${result.instanceId} --connection-type eice --instance-connect-endpoint-id eice-0123456789abcdef0 --os-user ubuntu`);
            assert.strictEqual(result.memoryImages, `s3://${EVIDENCE_BUCKET}/cases/${caseId(1)}/memory/`);
        });

        it("returns the same workstation when invoked again, and starts it when it was stopped", async () => {
            const again = await launchWorkstation({ caseId: caseId(1), requestToken: "req-2" }, deps());
            assert.deepStrictEqual([again.outcome, again.instanceId], ["running", result.instanceId]);
            await forensic.ec2.send(new StopInstancesCommand({ InstanceIds: [result.instanceId] }));
            const started = await launchWorkstation({ caseId: caseId(1) }, deps());
            assert.deepStrictEqual([started.outcome, started.instanceId], ["started", result.instanceId]);
            assert.strictEqual((await instance(result.instanceId)).State?.Name, "running");
        });
    });

    describe("more cases", () => {
        it("spreads parallel cases over the analysis subnets, each to a least-used one", async () => {
            const load = async () => {
                const all = await forensic.ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: "tag-key", Values: [WORKSTATION_CASE_TAG] }] }));
                const bySubnet: Record<string, number> = Object.fromEntries(subnets.map((s) => [s.id, 0]));
                for (const i of all.Reservations!.flatMap((r) => r.Instances!)) {
                    bySubnet[i.SubnetId!] += 1;
                }
                return bySubnet;
            };
            for (const n of [2, 3, 4, 14]) {
                await evidenceSnapshot(caseId(n), "/dev/xvda", 8);
                const before = await load();
                const r = await launchWorkstation({ caseId: caseId(n) }, deps());
                assert.strictEqual(before[r.subnetId!], Math.min(...Object.values(before)), `case ${n} went to a busier subnet`);
            }
            const after = Object.values(await load());
            assert.ok(Math.max(...after) - Math.min(...after) <= 1, `unbalanced: ${after.join(", ")}`);
        });

        it("tries the next AZ when one has no capacity, and waits for a new instance profile to propagate", async () => {
            const ec2 = forAccount(new EC2Client(clientConfig(moto().endpoint)), FORENSIC);
            const tried: string[] = [];
            ec2.middlewareStack.add((next, context) => async (args) => {
                const input = args.input as { NetworkInterfaces?: { SubnetId?: string }[] };
                if (context.commandName === "RunInstancesCommand") {
                    const subnet = input.NetworkInterfaces?.[0].SubnetId ?? "";
                    tried.push(subnet);
                    if (tried.length === 1) {
                        throw Object.assign(new Error("Value (arn) for parameter iamInstanceProfile.arn is invalid. Invalid IAM Instance Profile ARN"), { name: "InvalidParameterValue" });
                    }
                    if (tried.length === 2) {
                        throw Object.assign(new Error(`We currently do not have sufficient m6i.xlarge capacity in the AZ of ${subnet}.`), { name: "InsufficientInstanceCapacity" });
                    }
                }
                return next(args);
            }, { step: "initialize", name: "capacityAndPropagation" });
            sleeps.length = 0;
            try {
                await evidenceSnapshot(caseId(5), "/dev/xvda", 8);
                const r = await launchWorkstation({ caseId: caseId(5) }, deps(ec2));
                assert.strictEqual(r.outcome, "launched");
                assert.strictEqual(tried[0], tried[1], "the propagation retry went to another subnet");
                assert.notStrictEqual(tried[2], tried[1], "the capacity failure was retried in the same AZ");
                assert.strictEqual(r.subnetId, tried[2]);
                assert.deepStrictEqual(sleeps, [3000]);
            } finally {
                ec2.destroy();
            }
        });

        it("launches for a memory-only case with no volumes, and refuses bad case ids and a missing image", async () => {
            const r = await launchWorkstation({ caseId: caseId(6) }, deps());
            assert.deepStrictEqual(r.evidence, []);
            assert.deepStrictEqual((await attachedVolumes(r.instanceId)).filter((v) => EVIDENCE_DEVICE.test(v.Attachments?.[0].Device ?? "")), []);
            await assert.rejects(launchWorkstation({ caseId: "../other" }, deps()), /caseId must be/);
            await assert.rejects(launchWorkstation({ caseId: "a b" }, deps()), /caseId must be/);
            await ssm.send(new DeleteParameterCommand({ Name: AMI_PARAMETER }));
            try {
                await assert.rejects(launchWorkstation({ caseId: caseId(7) }, deps()), /ParameterNotFound|no SIFT image yet/);
            } finally {
                await ssm.send(new PutParameterCommand({ Name: AMI_PARAMETER, Value: AMI, Type: "String" }));
            }
        });
    });

    it("skips snapshots still copying, and any beyond the 21 device names, saying why", async () => {
        // moto completes snapshots at once: the states come from a mocked client.
        const ec2 = new EC2Client({ region: DEFAULT_REGION });
        const mock = mockClient(ec2);
        const snap = (i: number, state: SnapshotState) => ({ SnapshotId: `snap-${String(i).padStart(17, "0")}`, State: state, VolumeSize: 8, Tags: [{ Key: DISK_DEVICE_TAG, Value: `/dev/xvd${String(i).padStart(2, "0")}` }] });
        mock.on(DescribeSnapshotsCommand).resolves({ Snapshots: [snap(0, "pending"), ...Array.from({ length: 22 }, (_, i) => snap(i + 1, "completed"))] });
        try {
            const { evidence, skipped } = await caseSnapshots(ec2, caseId(20));
            assert.strictEqual(evidence.length, 21);
            assert.deepStrictEqual([evidence[0].device, evidence[20].device], ["/dev/sdf", "/dev/sdz"]);
            assert.deepStrictEqual(skipped.map((x) => [x.snapshotId, x.reason]), [
                [snap(0, "pending").SnapshotId, "snapshot is pending"],
                [snap(22, "completed").SnapshotId, "more than 21 evidence volumes: attach it by hand"],
            ]);
            const input = mock.commandCalls(DescribeSnapshotsCommand)[0].args[0].input;
            assert.deepStrictEqual([input.OwnerIds, input.Filters], [["self"], [{ Name: `tag:${DISK_CASE_TAG}`, Values: [caseId(20)] }]]);
        } finally {
            mock.restore();
        }
    });

    describe("at case end", () => {
        const event = (key: string, bucket = EVIDENCE_BUCKET) => ({ "detail-type": "Object Created", detail: { bucket: { name: bucket }, object: { key } } });
        async function manifest(id: string, status: string, mode = "analyze") {
            await forensic.s3.send(new PutObjectCommand({
                Bucket: EVIDENCE_BUCKET, Key: `cases/${id}/manifest.json`, Body: JSON.stringify({ caseId: id, mode, status, steps: [] }),
            }));
        }

        it("ignores manifests of running cases, contain-only cases and other objects", async () => {
            await manifest(caseId(10), "running");
            assert.match(String((await onManifestWritten(event(`cases/${caseId(10)}/manifest.json`), deps()) as { ignored: string }).ignored), /still running/);
            await manifest(caseId(11), "contained", "contain");
            assert.match(String((await onManifestWritten(event(`cases/${caseId(11)}/manifest.json`), deps()) as { ignored: string }).ignored), /contain only/);
            assert.ok("ignored" in await onManifestWritten(event(`cases/${caseId(10)}/memory/i-0.lime`), deps()));
            assert.ok("ignored" in await onManifestWritten(event(`cases/${caseId(10)}/manifest.json`, "another-bucket"), deps()));
            const none = await forensic.ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: `tag:${WORKSTATION_CASE_TAG}`, Values: [caseId(10), caseId(11)] }] }));
            assert.deepStrictEqual(none.Reservations, []);
        });

        it("launches when the final manifest of an analyzed case is written", async () => {
            const snapshot = await evidenceSnapshot(caseId(12), "/dev/xvda", 8);
            await manifest(caseId(12), "contained");
            const r = await onManifestWritten(event(`cases/${caseId(12)}/manifest.json`), deps()) as LaunchResult;
            assert.strictEqual(r.outcome, "launched");
            assert.deepStrictEqual((await attachedVolumes(r.instanceId)).filter((v) => EVIDENCE_DEVICE.test(v.Attachments?.[0].Device ?? "")).map((v) => v.SnapshotId), [snapshot]);
        });
    });

    it("works as the callback the forensic stack deploys", async function () {
        this.timeout(120_000);
        const stack = await renderStack("forensic");
        const callbacks = await deployedCallbacks(stack);
        const launcher = callbacks["workstation-launcher"];
        assert.ok(launcher, `no workstation-launcher among ${Object.keys(callbacks).join(", ")}`);
        assert.strictEqual(one(stack, aws.lambda.Function, "workstation-launcher").state.arn, launcher.arn);
        const deployedSettings = JSON.parse(launcher.environment.IRF_SETTINGS);
        assert.deepStrictEqual(Object.keys(deployedSettings).sort(), Object.keys(settings).sort());
        // The account root (the harness): the rendered stack names mock resources, so its roles cannot be
        // deployed here; the drill runs each function with its own deployed role.
        const creds = harnessCredentials(FORENSIC);
        const restore = withEnvironment({
            AWS_ENDPOINT_URL: moto().endpoint,
            AWS_REGION: DEFAULT_REGION,
            AWS_ACCESS_KEY_ID: creds.accessKeyId,
            AWS_SECRET_ACCESS_KEY: creds.secretAccessKey,
            
        });
        try {
            // The stack's settings, with the ids of what moto holds in their place.
            const handler = loadCallback({ ...launcher, environment: { ...launcher.environment, IRF_SETTINGS: JSON.stringify({ ...deployedSettings, ...settings }) } });
            const snapshot = await evidenceSnapshot(caseId(13), "/dev/xvda", 8);
            const r = await handler({ caseId: caseId(13) }, { awsRequestId: "0f0e0d0c-request" }) as LaunchResult;
            assert.strictEqual(r.outcome, "launched");
            assert.ok((await instance(r.instanceId)).IamInstanceProfile?.Arn?.endsWith(`/ir-forensics/investigator/case/${caseRoleName(caseId(13))}`));
            assert.deepStrictEqual((await attachedVolumes(r.instanceId)).filter((v) => EVIDENCE_DEVICE.test(v.Attachments?.[0].Device ?? "")).map((v) => v.SnapshotId), [snapshot]);
        } finally {
            restore();
        }
    });
});
