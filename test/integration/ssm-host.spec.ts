/**
 * The SSM host emulator (emulator/host/ssm-host.ts) driven by the real @aws-sdk/client-ssm: it runs commands
 * with bash and the host shims, answers the command and inventory calls per account, and forwards
 * everything else to moto unchanged.
 */
import * as assert from "assert";
import { createHash, randomBytes } from "crypto";
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import {
    DescribeInstanceInformationCommand, GetCommandInvocationCommand, GetCommandInvocationCommandOutput, GetParameterCommand,
    CreateDocumentCommand, ListCommandInvocationsCommand, PutParameterCommand, SendCommandCommand, SSMClient,
} from "@aws-sdk/client-ssm";
import { AssumeRoleCommand } from "@aws-sdk/client-sts";
import {
    AssociateRouteTableCommand, AuthorizeSecurityGroupEgressCommand, AuthorizeSecurityGroupIngressCommand, CopySnapshotCommand, CreateRouteTableCommand,
    CreateSecurityGroupCommand, CreateSnapshotCommand, CreateSubnetCommand, CreateVolumeCommand, CreateVpcCommand, CreateVpcEndpointCommand,
    DescribeIamInstanceProfileAssociationsCommand, DescribeNetworkInterfacesCommand, DescribeSnapshotsCommand, EC2Client, ModifySnapshotAttributeCommand,
    ModifyVpcAttributeCommand, ReplaceIamInstanceProfileAssociationCommand, RevokeSecurityGroupEgressCommand, RunInstancesCommand,
} from "@aws-sdk/client-ec2";
import { AddRoleToInstanceProfileCommand, AttachRolePolicyCommand, CreateInstanceProfileCommand, CreateRoleCommand, PutRolePolicyCommand } from "@aws-sdk/client-iam";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { clientConfig, clientsFor, DEFAULT_REGION, forAccount, presigningS3Client } from "../../emulator/aws/aws-clients";
import { natRoutedSubnet } from "../../emulator/aws/emulated-vpc";
import { SsmHost, startSsmHost, STDOUT_LIMIT } from "../../emulator/host/ssm-host";
import { instanceId } from "../support/events";
import { FORENSIC, MEMBER, SECURITY, useMoto } from "../support/moto";

const sha256 = (data: Buffer): string => createHash("sha256").update(data).digest("hex");

describe("SSM host emulator (ssm-host.ts) in front of moto", function () {
    this.timeout(60_000);
    const moto = useMoto();
    let host: SsmHost;
    let ssm: SSMClient;
    const clients: { destroy(): void }[] = [];
    const managed = instanceId();
    const unmanaged = instanceId();
    const image = randomBytes(3 * 1024 * 1024 + 17);

    before(async () => {
        await moto().reset();
        host = await startSsmHost({ motoEndpoint: moto().endpoint, stateEndpoint: moto().moto.endpoint });
        host.registerHost(managed, { kernelRelease: "6.1.0-drill", arch: "aarch64", image, accountId: MEMBER });
        host.registerHost(unmanaged, { image, managed: false, accountId: MEMBER });
        ssm = forAccount(new SSMClient(clientConfig(host.endpoint)), MEMBER);
        clients.push(ssm);
    });

    after(async () => {
        clients.forEach((c) => c.destroy());
        await host?.stop();
    });

    async function send(commands: string[], target = managed, client = ssm): Promise<string> {
        const out = await client.send(new SendCommandCommand({ DocumentName: "AWS-RunShellScript", InstanceIds: [target], Parameters: { commands } }));
        assert.strictEqual(out.Command?.Status, "Pending");
        return out.Command!.CommandId!;
    }

    /** Polls as the engine does, until the invocation leaves Pending/InProgress; returns every status seen. */
    async function wait(commandId: string, target = managed, client = ssm): Promise<{ final: GetCommandInvocationCommandOutput; seen: string[] }> {
        const seen: string[] = [];
        for (;;) {
            const out = await client.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: target }));
            seen.push(out.Status!);
            if (out.Status !== "Pending" && out.Status !== "InProgress") {
                return { final: out, seen };
            }
            await new Promise((r) => setTimeout(r, 50));
        }
    }

    it("runs a command with bash and the host shims, reporting InProgress then Success with its output", async () => {
        const id = await send(["set -e", 'echo "kernel $(uname -r) on $(uname -m)"', 'test -d "$IRF_STAGING_DIRS"', 'echo "port ${IRF_LIME_PORT}"', "sleep 0.3", "echo done"]);
        const { final, seen } = await wait(id);
        assert.ok(seen.includes("InProgress"), seen.join());
        assert.strictEqual(final.Status, "Success", final.StandardErrorContent);
        assert.strictEqual(final.ResponseCode, 0);
        assert.match(final.StandardOutputContent!, /^kernel 6\.1\.0-drill on aarch64\nport \d+\ndone\n$/);
    });

    it("reports a failing command with its exit code and stderr", async () => {
        const { final } = await wait(await send(["echo oops >&2", "exit 3"]));
        assert.strictEqual(final.Status, "Failed");
        assert.strictEqual(final.ResponseCode, 3);
        assert.strictEqual(final.StandardErrorContent, "oops\n");
    });

    it("keeps only the first 24,000 characters of stdout, as SSM does", async () => {
        const { final } = await wait(await send(["head -c 30000 /dev/zero | tr '\\0' x", "echo"]));
        assert.strictEqual(final.Status, "Success");
        assert.strictEqual(final.StandardOutputContent!.length, STDOUT_LIMIT);
    });

    it("insmod serves the host's memory image on the LiME port; rmmod unloads it (assumed-role credentials pick the account)", async () => {
        // No account header: the emulator asks moto which account these keys belong to.
        const sts = clientsFor(moto().endpoint, MEMBER).sts;
        clients.push(sts);
        const creds = (await sts.send(new AssumeRoleCommand({ RoleArn: `arn:aws:iam::${MEMBER}:role/ir`, RoleSessionName: "ssm-host-spec" }))).Credentials!;
        const assumed = new SSMClient({ ...clientConfig(host.endpoint), credentials: { accessKeyId: creds.AccessKeyId!, secretAccessKey: creds.SecretAccessKey!, sessionToken: creds.SessionToken } });
        clients.push(assumed);
        const id = await send([
            "set -euo pipefail",
            'insmod /nonexistent/lime.ko "path=tcp:${IRF_LIME_PORT} format=lime localhostonly=1 timeout=0" &',
            'for _ in $(seq 100); do { exec 3<>"/dev/tcp/127.0.0.1/$IRF_LIME_PORT"; } 2>/dev/null && break; sleep 0.1; done',
            "sha256sum <&3 | cut -d' ' -f1",
            "rmmod lime",
            "cat host.log",
        ], managed, assumed);
        const { final } = await wait(id, managed, assumed);
        assert.strictEqual(final.Status, "Success", final.StandardErrorContent);
        const [digest, ...log] = final.StandardOutputContent!.trim().split("\n");
        assert.strictEqual(digest, sha256(image));
        assert.match(log[0], /^insmod \{.*"params":"path=tcp:\d+ format=lime localhostonly=1 timeout=0"/);
        assert.strictEqual(log[1], "rmmod lime");
        // The same command id is unknown to another account.
        const other = forAccount(new SSMClient(clientConfig(host.endpoint)), SECURITY);
        clients.push(other);
        await assert.rejects(other.send(new GetCommandInvocationCommand({ CommandId: id, InstanceId: managed })), { name: "InvocationDoesNotExist" });
    });

    it("runs a Command document stored in moto (aws:runShellScript), parameters filled in and checked against allowedPattern", async () => {
        const content = {
            schemaVersion: "2.2", description: "drill",
            parameters: {
                word: { type: "String", allowedPattern: "^[a-z]{1,10}$" },
                count: { type: "String", default: "2", allowedPattern: "^[0-9]$" },
                executionTimeout: { type: "String", default: "60" },
            },
            mainSteps: [{ action: "aws:runShellScript", name: "say", inputs: { timeoutSeconds: "{{ executionTimeout }}", runCommand: ["for _ in $(seq {{ count }}); do echo '{{ word }}'; done"] } }],
        };
        await ssm.send(new CreateDocumentCommand({ Name: "irf-drill-say", DocumentType: "Command", DocumentFormat: "JSON", Content: JSON.stringify(content) }));
        const sent = await ssm.send(new SendCommandCommand({ DocumentName: "irf-drill-say", InstanceIds: [managed], Parameters: { word: ["hello"] } }));
        const { final } = await wait(sent.Command!.CommandId!);
        assert.strictEqual(final.Status, "Success", final.StandardErrorContent);
        assert.strictEqual(final.StandardOutputContent, "hello\nhello\n");
        await assert.rejects(ssm.send(new SendCommandCommand({ DocumentName: "irf-drill-say", InstanceIds: [managed], Parameters: { word: ["x'; reboot; '"] } })), { name: "InvalidParameters" });
        await assert.rejects(ssm.send(new SendCommandCommand({ DocumentName: "irf-drill-say", InstanceIds: [managed], Parameters: {} })), { name: "InvalidParameters" });
        await assert.rejects(ssm.send(new SendCommandCommand({ DocumentName: "irf-drill-missing", InstanceIds: [managed], Parameters: {} })), { name: "InvalidDocument" });
    });

    it("lists invocations with their plugin output", async () => {
        const id = await send(["echo listed"]);
        await wait(id);
        const out = await ssm.send(new ListCommandInvocationsCommand({ CommandId: id, Details: true }));
        assert.strictEqual(out.CommandInvocations?.length, 1);
        const [inv] = out.CommandInvocations!;
        assert.deepStrictEqual([inv.InstanceId, inv.Status, inv.CommandPlugins?.[0]?.ResponseCode, inv.CommandPlugins?.[0]?.Output], [managed, "Success", 0, "listed\n"]);
    });

    it("knows only managed hosts of the caller's account, and honours the InstanceIds filter", async () => {
        const filtered = await ssm.send(new DescribeInstanceInformationCommand({ Filters: [{ Key: "InstanceIds", Values: [managed, unmanaged] }] }));
        assert.deepStrictEqual(filtered.InstanceInformationList?.map((i) => [i.InstanceId, i.PingStatus]), [[managed, "Online"]]);
        const none = await ssm.send(new DescribeInstanceInformationCommand({ Filters: [{ Key: "InstanceIds", Values: [unmanaged] }] }));
        assert.deepStrictEqual(none.InstanceInformationList, []);
        const elsewhere = forAccount(new SSMClient(clientConfig(host.endpoint)), FORENSIC);
        clients.push(elsewhere);
        assert.deepStrictEqual((await elsewhere.send(new DescribeInstanceInformationCommand({}))).InstanceInformationList, []);
    });

    it("refuses commands to unmanaged or unknown instances and unknown invocations, with SSM's error codes", async () => {
        await assert.rejects(send(["true"], unmanaged), { name: "InvalidInstanceId" });
        await assert.rejects(send(["true"], instanceId()), { name: "InvalidInstanceId" });
        await assert.rejects(ssm.send(new GetCommandInvocationCommand({ CommandId: "00000000-0000-0000-0000-000000000000", InstanceId: managed })), { name: "InvocationDoesNotExist" });
        await assert.rejects(ssm.send(new SendCommandCommand({ DocumentName: "AWS-RunPowerShellScript", InstanceIds: [managed], Parameters: { commands: ["x"] } })), { name: "InvalidDocument" });
    });

    it("forwards every other call to moto unchanged: SSM parameters and a streamed S3 object, in the caller's account", async () => {
        await ssm.send(new PutParameterCommand({ Name: "/drill/p", Value: "v1", Type: "String" }));
        assert.strictEqual((await ssm.send(new GetParameterCommand({ Name: "/drill/p" }))).Parameter?.Value, "v1");
        const motoSsm = forAccount(new SSMClient(clientConfig(moto().endpoint)), MEMBER);
        clients.push(motoSsm);
        assert.strictEqual((await motoSsm.send(new GetParameterCommand({ Name: "/drill/p" }))).Parameter?.Value, "v1", "not stored in moto's member account");

        const s3 = forAccount(new S3Client(clientConfig(host.endpoint)), FORENSIC);
        clients.push(s3);
        const bucket = `ssm-host-${randomBytes(4).toString("hex")}`;
        await s3.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: DEFAULT_REGION } }));
        await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "image", Body: image }));
        const got = Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "image" }))).Body!.transformToByteArray());
        assert.strictEqual(sha256(got), sha256(image));
        const motoS3 = forAccount(new S3Client(clientConfig(moto().endpoint)), FORENSIC);
        clients.push(motoS3);
        const inForensic = await motoS3.send(new GetObjectCommand({ Bucket: bucket, Key: "image" }));
        assert.strictEqual(inForensic.ContentLength, image.length);
        await inForensic.Body!.transformToByteArray();
    });

    it("injects faults chosen by a hook (e.g. throttling), in the request's protocol", async () => {
        const faulty = await startSsmHost({
            motoEndpoint: moto().endpoint, stateEndpoint: moto().moto.endpoint,
            fault: (call) => (call.service === "ssm" && call.operation === "GetParameter" ? { status: 400, code: "ThrottlingException", message: "Rate exceeded" } : undefined),
        });
        const client = forAccount(new SSMClient({ ...clientConfig(faulty.endpoint), maxAttempts: 1 }), MEMBER);
        try {
            await assert.rejects(client.send(new GetParameterCommand({ Name: "/drill/p" })), { name: "ThrottlingException" });
            await client.send(new PutParameterCommand({ Name: "/drill/q", Value: "v", Type: "String" }));
        } finally {
            client.destroy();
            await faulty.stop();
        }
    });

    it("stop kills every running command (with what it started) by PID and closes the server", async () => {
        const own = await startSsmHost({ motoEndpoint: moto().endpoint, stateEndpoint: moto().moto.endpoint });
        own.registerHost(managed, { image });
        const client = forAccount(new SSMClient({ ...clientConfig(own.endpoint), maxAttempts: 1 }), "123456789012");
        try {
            const out = await client.send(new SendCommandCommand({ DocumentName: "AWS-RunShellScript", InstanceIds: [managed], Parameters: { commands: ["sleep 300 & sleep 300", "wait"] } }));
            let pids: number[] = [];
            for (let i = 0; i < 100 && pids.length === 0; i++) {
                await new Promise((r) => setTimeout(r, 20));
                pids = own.runningPids();
            }
            assert.strictEqual(pids.length, 1, "the command did not start");
            await own.stop();
            assert.deepStrictEqual(own.runningPids(), []);
            for (const pid of pids) {
                assert.throws(() => process.kill(-pid, 0), { code: "ESRCH" }, `process group ${pid} still alive`);
            }
            assert.strictEqual(own.invocations().find((i) => i.commandId === out.Command!.CommandId)?.status, "Failed");
            await assert.rejects(client.send(new DescribeInstanceInformationCommand({})));
        } finally {
            client.destroy();
            await own.stop();
        }
    });

    it("a snapshot shared with another account can be copied there through the proxy (moto keeps accounts apart); an unshared one cannot", async function () {
        const member = clientsFor(host.endpoint, MEMBER);
        const forensic = clientsFor(host.endpoint, FORENSIC);
        try {
            const volume = await member.ec2.send(new CreateVolumeCommand({ AvailabilityZone: `${DEFAULT_REGION}a`, Size: 3 }));
            const shared = await member.ec2.send(new CreateSnapshotCommand({ VolumeId: volume.VolumeId }));
            const unshared = await member.ec2.send(new CreateSnapshotCommand({ VolumeId: volume.VolumeId }));
            await member.ec2.send(new ModifySnapshotAttributeCommand({
                SnapshotId: shared.SnapshotId, Attribute: "createVolumePermission", OperationType: "add", UserIds: [FORENSIC],
            }));
            const copy = await forensic.ec2.send(new CopySnapshotCommand({
                SourceSnapshotId: shared.SnapshotId, SourceRegion: DEFAULT_REGION, Encrypted: true, KmsKeyId: "alias/evidence", Description: "evidence",
                TagSpecifications: [{ ResourceType: "snapshot", Tags: [{ Key: "ir-forensics:case", Value: "c-1" }] }],
            }));
            const made = (await forensic.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [copy.SnapshotId!] }))).Snapshots![0];
            assert.strictEqual(made.OwnerId, FORENSIC);
            assert.strictEqual(made.VolumeSize, 3);
            assert.strictEqual(made.Encrypted, true);
            assert.deepStrictEqual(made.Tags, [{ Key: "ir-forensics:case", Value: "c-1" }]);
            assert.deepStrictEqual(host.emulatedCopies().map((c) => [c.sourceSnapshotId, c.ownerAccount, c.account]), [[shared.SnapshotId, MEMBER, FORENSIC]]);
            await member.ec2.send(new ModifySnapshotAttributeCommand({ SnapshotId: unshared.SnapshotId, Attribute: "createVolumePermission", OperationType: "add", UserIds: [SECURITY] }));
            await assert.rejects(forensic.ec2.send(new CopySnapshotCommand({ SourceSnapshotId: unshared.SnapshotId, SourceRegion: DEFAULT_REGION })), /NotFound/);
        } finally {
            [...Object.values(member), ...Object.values(forensic)].forEach((c) => c.destroy());
        }
    });
});

describe("SSM host emulator: the instance's network and its SSM agent (real instances in moto)", function () {
    this.timeout(90_000);
    const moto = useMoto();
    let host: SsmHost;
    let member: ReturnType<typeof clientsFor>;
    let ssm: SSMClient;
    let ec2ViaHost: EC2Client;
    let url: string;
    const doc = (...Statement: object[]) => JSON.stringify({ Version: "2012-10-17", Statement });

    before(async () => {
        member = clientsFor(moto().endpoint, MEMBER);
        host = await startSsmHost({
            motoEndpoint: moto().endpoint, stateEndpoint: moto().moto.endpoint, unreachableDelayMs: 300,
            registration: { credentialRefreshMs: 200, reRegisterMs: 1_500 },
        });
        host.useAuthorizer(moto().layer);
        ssm = forAccount(new SSMClient(clientConfig(host.endpoint)), MEMBER);
        // Profile changes go through the host, which sees them as the agent would feel them.
        ec2ViaHost = forAccount(new EC2Client(clientConfig(host.endpoint)), MEMBER);
        await member.s3.send(new CreateBucketCommand({ Bucket: "irf-network-spec", CreateBucketConfiguration: { LocationConstraint: DEFAULT_REGION } }));
        await member.s3.send(new PutObjectCommand({ Bucket: "irf-network-spec", Key: "index.json", Body: "{}" }));
        const presigner = await presigningS3Client(moto().endpoint, MEMBER);
        url = await getSignedUrl(presigner, new GetObjectCommand({ Bucket: "irf-network-spec", Key: "index.json" }), { expiresIn: 600 });
        presigner.destroy();
        for (const [name, statements] of [["spec-agent", null], ["spec-deny-all", [{ Effect: "Deny", Action: "*", Resource: "*" }]]] as const) {
            await member.iam.send(new CreateRoleCommand({
                RoleName: name, AssumeRolePolicyDocument: doc({ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }),
            }));
            await member.iam.send(new AttachRolePolicyCommand({ RoleName: name, PolicyArn: "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore" }));
            if (statements) {
                await member.iam.send(new PutRolePolicyCommand({ RoleName: name, PolicyName: "deny", PolicyDocument: doc(...statements) }));
            }
            await member.iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: name }));
            await member.iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: name, RoleName: name }));
        }
    });

    after(async () => {
        Object.values(member ?? {}).forEach((c) => c.destroy());
        ssm?.destroy();
        ec2ViaHost?.destroy();
        await host?.stop();
    });

    /** An instance in a new VPC's subnet, routed to a NAT gateway or not at all, carrying `profile`. */
    async function instanceIn(routed: boolean, profile = "spec-agent"): Promise<string> {
        const vpcId = (await member.ec2.send(new CreateVpcCommand({ CidrBlock: "10.77.0.0/16" }))).Vpc?.VpcId ?? "";
        let subnetId: string;
        if (routed) {
            ({ subnetId } = await natRoutedSubnet(member.ec2, { vpcId, privateCidr: "10.77.1.0/24", publicCidr: "10.77.2.0/24", availabilityZone: `${DEFAULT_REGION}a` }));
        } else {
            subnetId = (await member.ec2.send(new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: "10.77.1.0/24", AvailabilityZone: `${DEFAULT_REGION}a` }))).Subnet?.SubnetId ?? "";
            // A route table of its own with no route out (the VPC's main table is left as it is).
            const table = (await member.ec2.send(new CreateRouteTableCommand({ VpcId: vpcId }))).RouteTable?.RouteTableId ?? "";
            await member.ec2.send(new AssociateRouteTableCommand({ RouteTableId: table, SubnetId: subnetId }));
        }
        const run = await member.ec2.send(new RunInstancesCommand({
            ImageId: "ami-04681a1dbd79675a5", InstanceType: "t3.micro", MinCount: 1, MaxCount: 1, SubnetId: subnetId, IamInstanceProfile: { Name: profile },
        }));
        const id = run.Instances?.[0]?.InstanceId ?? "";
        host.registerHost(id, { image: Buffer.alloc(1024), accountId: MEMBER, region: DEFAULT_REGION });
        return id;
    }

    const ping = async (id: string) => (await ssm.send(new DescribeInstanceInformationCommand({ Filters: [{ Key: "InstanceIds", Values: [id] }] })))
        .InstanceInformationList?.[0]?.PingStatus;
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

    async function fetchFrom(id: string): Promise<GetCommandInvocationCommandOutput> {
        const sent = await ssm.send(new SendCommandCommand({
            DocumentName: "AWS-RunShellScript", InstanceIds: [id], Parameters: { commands: [`curl -fsS --max-time 20 -o /dev/null '${url}' && echo fetched`] },
        }));
        for (;;) {
            const out = await ssm.send(new GetCommandInvocationCommand({ CommandId: sent.Command?.CommandId, InstanceId: id }));
            if (out.Status !== "Pending" && out.Status !== "InProgress") {
                return out;
            }
            await sleep(200);
        }
    }

    it("a host whose subnet has no route out cannot reach S3 (the connection hangs, then drops) nor SSM; one behind a NAT gateway can", async () => {
        const cutOff = await instanceIn(false);
        const routed = await instanceIn(true);
        assert.strictEqual(await ping(cutOff), "ConnectionLost", "an agent that reaches no SSM endpoint is not Online");
        assert.strictEqual(await ping(routed), "Online");
        const ok = await fetchFrom(routed);
        assert.strictEqual(ok.Status, "Success", ok.StandardErrorContent);
        // The cut-off host's agent cannot even take the command: it stays Pending (here: delivery times out later).
        const sent = await ssm.send(new SendCommandCommand({ DocumentName: "AWS-RunShellScript", InstanceIds: [cutOff], Parameters: { commands: ["echo never"] }, TimeoutSeconds: 30 }));
        await sleep(500);
        assert.strictEqual((await ssm.send(new GetCommandInvocationCommand({ CommandId: sent.Command?.CommandId, InstanceId: cutOff }))).Status, "Pending");
    });

    it("the gate refuses what the network would not carry, and records why", async () => {
        const routed = await instanceIn(true);
        const eni = (await member.ec2.send(new DescribeNetworkInterfacesCommand({ Filters: [{ Name: "attachment.instance-id", Values: [routed] }] })))
            .NetworkInterfaces?.[0];
        const vpcId = eni?.VpcId ?? "";
        // SSM stays reachable through interface endpoints in the VPC, so the agent keeps taking commands ...
        await member.ec2.send(new ModifyVpcAttributeCommand({ VpcId: vpcId, EnableDnsHostnames: { Value: true } }));
        const endpointGroup = (await member.ec2.send(new CreateSecurityGroupCommand({ GroupName: "spec-endpoints", Description: "endpoints", VpcId: vpcId }))).GroupId ?? "";
        await member.ec2.send(new AuthorizeSecurityGroupIngressCommand({
            GroupId: endpointGroup, IpPermissions: [{ IpProtocol: "tcp", FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: "10.77.0.0/16" }] }],
        }));
        for (const service of ["ssm", "ec2messages"]) {
            await member.ec2.send(new CreateVpcEndpointCommand({
                VpcId: vpcId, VpcEndpointType: "Interface", ServiceName: `com.amazonaws.${DEFAULT_REGION}.${service}`, SubnetIds: [eni?.SubnetId ?? ""],
                SecurityGroupIds: [endpointGroup], PrivateDnsEnabled: true,
            }));
        }
        // ... while the host's egress now allows HTTPS inside the VPC only, so S3 (through the NAT gateway) is out of reach.
        for (const g of eni?.Groups ?? []) {
            await member.ec2.send(new RevokeSecurityGroupEgressCommand({ GroupId: g.GroupId, IpPermissions: [{ IpProtocol: "-1", IpRanges: [{ CidrIp: "0.0.0.0/0" }] }] }));
            await member.ec2.send(new AuthorizeSecurityGroupEgressCommand({
                GroupId: g.GroupId, IpPermissions: [{ IpProtocol: "tcp", FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: "10.77.0.0/16" }] }],
            }));
        }
        assert.strictEqual(await ping(routed), "Online", "the agent reaches SSM through its endpoints");
        const before = host.refusedConnections().length;
        const failed = await fetchFrom(routed);
        assert.strictEqual(failed.Status, "Failed");
        assert.match(failed.StandardErrorContent ?? "", /curl: \(52\)/, "the connection dropped without a reply");
        const refused = host.refusedConnections().slice(before);
        assert.ok(refused.some((r) => r.instanceId === routed && /^s3 in eu-west-1: .*egress/.test(r.reason)), JSON.stringify(refused));
    });

    it("after a profile swap the agent is offline until it registers again, and registers only if the new role lets it", async () => {
        const id = await instanceIn(true);
        assert.strictEqual(await ping(id), "Online");
        const association = async () => (await member.ec2.send(new DescribeIamInstanceProfileAssociationsCommand({ Filters: [{ Name: "instance-id", Values: [id] }] })))
            .IamInstanceProfileAssociations?.[0]?.AssociationId;
        await ec2ViaHost.send(new ReplaceIamInstanceProfileAssociationCommand({ AssociationId: await association(), IamInstanceProfile: { Name: "spec-agent" } }));
        await sleep(400);
        assert.strictEqual(await ping(id), "ConnectionLost", "still Online after its credentials refreshed");
        // A command sent meanwhile waits for the agent, then runs.
        const sent = await ssm.send(new SendCommandCommand({ DocumentName: "AWS-RunShellScript", InstanceIds: [id], Parameters: { commands: ["echo delivered"] } }));
        // Back once it has registered again (1.5 s after the swap here; a loaded machine may take longer).
        for (let i = 0; i < 40 && await ping(id) !== "Online"; i++) {
            await sleep(250);
        }
        assert.strictEqual(await ping(id), "Online");
        for (let i = 0; i < 50; i++) {
            const out = await ssm.send(new GetCommandInvocationCommand({ CommandId: sent.Command?.CommandId, InstanceId: id }));
            if (out.Status === "Success") {
                break;
            }
            assert.ok(i < 49, `the command was never delivered: ${out.Status}`);
            await sleep(200);
        }
        // A role that denies everything never lets the agent register again (containment's deny-all profile).
        await ec2ViaHost.send(new ReplaceIamInstanceProfileAssociationCommand({ AssociationId: await association(), IamInstanceProfile: { Name: "spec-deny-all" } }));
        await sleep(1_900);
        assert.strictEqual(await ping(id), "ConnectionLost");
    });
});
