/**
 * The module factory's orchestration functions against moto in the security account: builders launched
 * from the right AMI with the factory's profile, subnet, security group, IMDSv2, shutdown behaviour and
 * user data; overdue builders terminated; the engine's build requests; build reports merged into
 * index.json only for files whose SHA-256 reads back as reported (compare-and-swap under concurrency);
 * AVML staged only when its hash is the pinned one; one SNS report per build (read from an SQS queue).
 */
import * as assert from "assert";
import { createHash } from "crypto";
import * as fs from "fs";
import * as http from "http";
import { AddressInfo } from "net";
import * as path from "path";
import { gunzipSync } from "zlib";
import Ajv from "ajv";
import {
    CreateSecurityGroupCommand, CreateSubnetCommand, CreateVpcCommand, DescribeImagesCommand, DescribeInstanceAttributeCommand,
    DescribeInstancesCommand, EC2Client, Instance,
} from "@aws-sdk/client-ec2";
import { CreateInstanceProfileCommand, CreateRoleCommand } from "@aws-sdk/client-iam";
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { CreateTopicCommand, SubscribeCommand } from "@aws-sdk/client-sns";
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { clientsFor, DEFAULT_REGION, harnessCredentials } from "../../emulator/aws/aws-clients";
import {
    BuildClients, BUILDER_TAG, handleBuildEvent, handleIndexEvent, launchBuild, ModuleFactorySettings, recordBuild, REQUESTED_KERNEL_TAG,
    sweepBuilders,
} from "../../functions/factory/moduleBuild";
import { INDEX_KEY, parseIndex, renderIndex, withModules } from "../../functions/factory/moduleIndex";
import { DEFAULTS } from "../../stacks/config";
import { deployedCallbacks, loadCallback, withEnvironment } from "../support/deployed";
import { PROJECT_ROOT } from "../support/pulumi";
import { SECURITY, useMoto } from "../support/moto";
import { renderSecurity } from "../support/stacks";

const SCRIPT = fs.readFileSync(path.join(PROJECT_ROOT, "imagebuilder", "build-modules.sh"), "utf8");
const SCHEMA = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, "imagebuilder", "module-index.schema.json"), "utf8"));
const BUCKET = `ir-forensics-modules-${SECURITY}-${DEFAULT_REGION}`;
const TOOLS = DEFAULTS.moduleFactory.tools;

const sha256 = (data: Buffer | string): string => createHash("sha256").update(data).digest("hex");

/** The user data a builder was launched with, decoded (base64, gzip). */
async function userDataOf(ec2: EC2Client, instanceId: string): Promise<string> {
    const attr = await ec2.send(new DescribeInstanceAttributeCommand({ InstanceId: instanceId, Attribute: "userData" }));
    return gunzipSync(Buffer.from(attr.UserData!.Value!, "base64")).toString("utf8");
}

async function instance(ec2: EC2Client, instanceId: string): Promise<Instance> {
    const out = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    return out.Reservations![0].Instances![0];
}

const tag = (i: Instance, key: string) => i.Tags?.find((t) => t.Key === key)?.Value;

describe("module factory orchestration (moto, security account)", function () {
    const moto = useMoto();
    let ec2: EC2Client;
    let s3: S3Client;
    let sqs: SQSClient;
    let clients: BuildClients;
    let settings: ModuleFactorySettings;
    let queueUrl: string;
    let amiX86: string;
    let amiArm: string;
    let subnetId: string;

    before(async () => {
        await moto().reset();
        const c = clientsFor(moto().endpoint, SECURITY);
        ec2 = c.ec2;
        s3 = c.s3;
        sqs = c.sqs;
        await s3.send(new CreateBucketCommand({ Bucket: BUCKET, CreateBucketConfiguration: { LocationConstraint: DEFAULT_REGION } }));
        const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: "10.68.0.0/20" }));
        const subnet = await ec2.send(new CreateSubnetCommand({ VpcId: vpc.Vpc!.VpcId!, CidrBlock: "10.68.0.0/24" }));
        subnetId = subnet.Subnet!.SubnetId!;
        const sg = await ec2.send(new CreateSecurityGroupCommand({ VpcId: vpc.Vpc!.VpcId!, GroupName: "builders", Description: "builders" }));
        await c.iam.send(new CreateRoleCommand({ RoleName: "builder", Path: "/ir-forensics/module-factory/", AssumeRolePolicyDocument: "{}" }));
        const profile = await c.iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: "builder", Path: "/ir-forensics/module-factory/" }));
        const images = await ec2.send(new DescribeImagesCommand({ Owners: ["amazon"] }));
        amiX86 = images.Images!.find((i) => i.Architecture === "x86_64" && i.RootDeviceName)!.ImageId!;
        amiArm = images.Images!.find((i) => i.Architecture === "arm64" && i.RootDeviceName)!.ImageId!;
        assert.ok(amiX86 && amiArm, "moto's default AMIs include both architectures");
        const topic = await c.sns.send(new CreateTopicCommand({ Name: "ir-forensics-notifications" }));
        queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: "reports" }))).QueueUrl!;
        const queueArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["QueueArn"] }))).Attributes!.QueueArn!;
        await c.sns.send(new SubscribeCommand({ TopicArn: topic.TopicArn!, Protocol: "sqs", Endpoint: queueArn, Attributes: { RawMessageDelivery: "true" } }));
        settings = {
            partition: "aws",
            bucket: BUCKET,
            bucketRegion: DEFAULT_REGION,
            topicArn: topic.TopicArn!,
            instanceProfileArn: profile.InstanceProfile!.Arn!,
            networks: { [DEFAULT_REGION]: { subnetIds: [subnetId], securityGroupId: sg.GroupId!, publicIp: true } },
            amiIds: { [DEFAULT_REGION]: [amiX86, amiArm] },
            instanceTypes: { ...DEFAULTS.moduleFactory.instanceTypes },
            maxBuildMinutes: 120,
            maxKernelsPerBuild: 6,
            rootVolumeGiB: 40,
            tools: {
                lime: { ...TOOLS.lime },
                dwarf2json: { ...TOOLS.dwarf2json },
                avml: { version: TOOLS.avml.version, urls: { ...TOOLS.avml.urls }, sha256: { x86_64: "", arm64: "" } },
            },
        };
        clients = { ec2: () => ec2, s3, sns: c.sns };
    });

    /** SNS messages delivered to the test queue since the last call. */
    async function reports(): Promise<any[]> {
        const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
        return (out.Messages ?? []).map((m) => JSON.parse(m.Body!));
    }

    async function putIndexWith(kernels: Array<{ arch: "x86_64" | "arm64"; kernelRelease: string; version?: string }>) {
        const at = new Date().toISOString();
        const index = withModules({ schemaVersion: 1, updatedAt: at, modules: [], avml: [] }, kernels.map((k) => ({
            arch: k.arch, kernelRelease: k.kernelRelease, path: `lime/${k.arch}/${k.kernelRelease}/lime.ko`, sha256: "0".repeat(64),
            version: k.version ?? TOOLS.lime.version, banner: `Linux version ${k.kernelRelease}`, sourceAmi: amiX86, builtAt: at,
            symbolsStatus: "unavailable" as const, symbolsReason: "test",
        })), at);
        await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: INDEX_KEY, Body: renderIndex(index) }));
    }

    describe("launching a builder", () => {
        it("runs the AMI with the factory's profile, subnet, group, IMDSv2, terminate-on-shutdown, tags and the script as user data", async () => {
            await putIndexWith([
                { arch: "x86_64", kernelRelease: "6.1.100-1.amzn2023.x86_64" },
                { arch: "x86_64", kernelRelease: "6.1.90-1.amzn2023.x86_64", version: "1.9.0" },
                { arch: "arm64", kernelRelease: "6.1.100-1.amzn2023.aarch64" },
            ]);
            const launched = await launchBuild(ec2, s3, settings, SCRIPT, { amiId: amiX86, region: DEFAULT_REGION, reason: "deploy" });
            assert.strictEqual(launched.arch, "x86_64");
            // Built with the current LiME: skipped; built with an older LiME: rebuilt; other architecture: not this build's.
            assert.deepStrictEqual(launched.skipKernels, ["6.1.100-1.amzn2023.x86_64"]);
            const i = await instance(ec2, launched.instanceId);
            assert.strictEqual(i.ImageId, amiX86);
            assert.strictEqual(i.InstanceType, "t3.large");
            assert.strictEqual(i.SubnetId, subnetId);
            assert.deepStrictEqual(i.NetworkInterfaces![0].Groups!.map((g) => g.GroupId), [settings.networks[DEFAULT_REGION].securityGroupId]);
            assert.strictEqual(i.IamInstanceProfile!.Arn, settings.instanceProfileArn);
            assert.strictEqual(i.MetadataOptions?.HttpTokens, "required");
            assert.strictEqual(tag(i, BUILDER_TAG), "true");
            assert.strictEqual(tag(i, "ir-forensics:build-id"), launched.buildId);
            assert.strictEqual(tag(i, "ir-forensics:source-ami"), amiX86);
            const shutdown = await ec2.send(new DescribeInstanceAttributeCommand({ InstanceId: launched.instanceId, Attribute: "instanceInitiatedShutdownBehavior" }));
            assert.strictEqual(shutdown.InstanceInitiatedShutdownBehavior?.Value, "terminate");
            const userData = await userDataOf(ec2, launched.instanceId);
            assert.ok(userData.includes(SCRIPT.trimEnd()), "the builder script travels whole in the user data");
            for (const line of [
                `export IRF_BUCKET='${BUCKET}'`,
                `export IRF_BUILD_ID='${launched.buildId}'`,
                `export IRF_SOURCE_AMI='${amiX86}'`,
                `export IRF_LIME_COMMIT='${TOOLS.lime.commit}'`,
                `export IRF_DWARF2JSON_COMMIT='${TOOLS.dwarf2json.commit}'`,
                "export IRF_SKIP_KERNELS='6.1.100-1.amzn2023.x86_64'",
                "export IRF_MAX_MINUTES='120'",
            ]) {
                assert.ok(userData.includes(`\n${line}\n`), line);
            }
            assert.match(userData, /\nexec bash \/root\/irf-build\/build-modules\.sh /);
        });

        it("retries while a new instance profile is not usable yet (IAM is eventually consistent), and only then", async () => {
            let refusals = 0;
            const flaky = {
                send: (command: unknown) => {
                    if ((command as object).constructor.name === "RunInstancesCommand" && refusals < 2) {
                        refusals++;
                        return Promise.reject(new Error("Value (arn:aws:iam::1:instance-profile/x) for parameter iamInstanceProfile.arn is invalid. Invalid IAM Instance Profile ARN"));
                    }
                    return ec2.send(command as never);
                },
            } as unknown as EC2Client;
            const launched = await launchBuild(flaky, s3, settings, SCRIPT, { amiId: amiX86, region: DEFAULT_REGION, reason: "deploy" }, new Date(), 1);
            assert.strictEqual(refusals, 2);
            assert.strictEqual((await instance(ec2, launched.instanceId)).ImageId, amiX86);
            const other = { send: () => Promise.reject(new Error("InsufficientInstanceCapacity")) } as unknown as EC2Client;
            await assert.rejects(launchBuild(other, s3, settings, SCRIPT, { amiId: amiX86, region: DEFAULT_REGION, reason: "deploy" }, new Date(), 1),
                /InsufficientInstanceCapacity/);
        });

        it("takes the architecture from the AMI: an arm64 AMI gets the arm64 instance type", async () => {
            const launched = await launchBuild(ec2, s3, settings, SCRIPT, { amiId: amiArm, region: DEFAULT_REGION, reason: "deploy" });
            assert.strictEqual(launched.arch, "arm64");
            assert.strictEqual((await instance(ec2, launched.instanceId)).InstanceType, "t4g.large");
            assert.deepStrictEqual(launched.skipKernels, ["6.1.100-1.amzn2023.aarch64"]);
        });

        it("a deploy invocation that cannot launch fails, and reports why to the topic", async () => {
            await reports();
            await assert.rejects(
                handleBuildEvent(clients, settings, SCRIPT, { action: "build", amiId: "ami-00000000", region: DEFAULT_REGION }),
                /module builds failed to start: ami-00000000/,
            );
            const [message] = await reports();
            assert.strictEqual(message.kind, "module-build-failed");
            assert.strictEqual(message.failed[0].amiId, "ami-00000000");
        });
    });

    describe("time limit", () => {
        it("terminates builders past their limit (a builder that could not power off) and leaves younger ones", async () => {
            const young = await launchBuild(ec2, s3, settings, SCRIPT, { amiId: amiX86, region: DEFAULT_REGION, reason: "test" });
            const soon = await sweepBuilders(ec2, settings.maxBuildMinutes, new Date(Date.now() + 60 * 60_000));
            assert.deepStrictEqual(soon, []);
            const late = await sweepBuilders(ec2, settings.maxBuildMinutes, new Date(Date.now() + (120 + 16) * 60_000));
            assert.ok(late.includes(young.instanceId));
            const state = (await instance(ec2, young.instanceId)).State!.Name;
            assert.ok(state === "shutting-down" || state === "terminated", state);
            assert.deepStrictEqual(await sweepBuilders(ec2, settings.maxBuildMinutes, new Date(Date.now() + 300 * 60_000)), []);
        });

        it("the scheduled refresh launches every configured AMI", async () => {
            const outcome = await handleBuildEvent(clients, settings, SCRIPT, { action: "refresh" });
            assert.deepStrictEqual(outcome.launched.map((l) => l.amiId).sort(), [amiX86, amiArm].sort());
            assert.deepStrictEqual(outcome.failed, []);
            await sweepBuilders(ec2, 0, new Date(Date.now() + 60 * 60_000));
        });
    });

    describe("the engine's build requests", () => {
        const request = (arch: string, kernelRelease: string) => ({
            "detail-type": "ModuleBuildRequested" as const,
            "detail": { arch, kernelRelease, region: DEFAULT_REGION, instanceId: "i-0123456789abcdef0", accountId: "444455556666" },
        });

        it("starts a builder from the configured AMI of that architecture, asked for that kernel; a second request waits for it", async () => {
            const first = await handleBuildEvent(clients, settings, SCRIPT, request("arm64", "6.1.130-9.amzn2023.aarch64"));
            assert.deepStrictEqual(first.launched.map((l) => [l.amiId, l.arch]), [[amiArm, "arm64"]]);
            const i = await instance(ec2, first.launched[0].instanceId);
            assert.strictEqual(tag(i, REQUESTED_KERNEL_TAG), "arm64/6.1.130-9.amzn2023.aarch64");
            assert.match(await userDataOf(ec2, i.InstanceId!), /\nexport IRF_WANT_KERNELS='6\.1\.130-9\.amzn2023\.aarch64'\n/);
            const second = await handleBuildEvent(clients, settings, SCRIPT, request("arm64", "6.1.130-9.amzn2023.aarch64"));
            assert.deepStrictEqual(second.launched, []);
            assert.match(second.skipped!, /is running/);
        });

        it("does nothing for a kernel the index has, and refuses a malformed request", async () => {
            const known = await handleBuildEvent(clients, settings, SCRIPT, request("x86_64", "6.1.100-1.amzn2023.x86_64"));
            assert.deepStrictEqual(known.launched, []);
            assert.match(known.skipped!, /exists/);
            await assert.rejects(handleBuildEvent(clients, settings, SCRIPT, request("sparc", "6.1")), /needs arch/);
            await assert.rejects(handleBuildEvent(clients, settings, SCRIPT, request("x86_64", "6.1.0; rm -rf /")), /needs arch/);
        });
    });

    describe("build reports", () => {
        async function putBuild(buildId: string, arch: "x86_64" | "arm64", kernels: Array<{ kr: string; tamper?: boolean; fail?: boolean }>) {
            const results = [];
            for (const k of kernels) {
                if (k.fail) {
                    results.push({ kernelRelease: k.kr, status: "failed", step: "lime", reason: `LiME did not build against ${k.kr}` });
                    continue;
                }
                const module = Buffer.from(`lime.ko for ${k.kr}`);
                const isf = Buffer.from(`isf for ${k.kr}`);
                const limePath = `lime/${arch}/${k.kr}/lime.ko`;
                const symbolsPath = `symbols/${arch}/${k.kr}.json.xz`;
                await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: limePath, Body: k.tamper ? Buffer.from("other bytes") : module }));
                await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: symbolsPath, Body: isf }));
                results.push({
                    kernelRelease: k.kr, status: "built", path: limePath, sha256: sha256(module), version: TOOLS.lime.version,
                    banner: `Linux version ${k.kr} (builder@example) (gcc 11) #1 SMP "quoted" {braced}`, builtAt: "2026-11-23T16:00:00Z",
                    symbolsStatus: "available", symbolsPath, symbolsSha256: sha256(isf), dwarf2jsonVersion: TOOLS.dwarf2json.version,
                });
            }
            const key = `builds/${buildId}/report.json`;
            await s3.send(new PutObjectCommand({
                Bucket: BUCKET, Key: key,
                Body: JSON.stringify({
                    schemaVersion: 1, buildId, sourceAmi: amiX86, sourceRegion: DEFAULT_REGION, arch, distribution: "amzn 2023",
                    kernels: results, skipped: [], errors: [],
                }),
            }));
            return key;
        }

        it("indexes only files whose SHA-256 reads back as reported, and reports what was built and what failed", async () => {
            await reports();
            const key = await putBuild("b-1", "x86_64", [{ kr: "6.1.200-1.amzn2023.x86_64" }, { kr: "6.1.201-1.amzn2023.x86_64", tamper: true },
                { kr: "6.1.202-1.amzn2023.x86_64", fail: true }]);
            const out = await handleIndexEvent(clients, settings, { Records: [{ s3: { bucket: { name: BUCKET }, object: { key } } }] });
            assert.deepStrictEqual(out.builds[0].built.map((b) => b.kernelRelease), ["6.1.200-1.amzn2023.x86_64"]);
            assert.deepStrictEqual(out.builds[0].failed.map((f) => [f.kernelRelease, f.step]), [
                ["6.1.201-1.amzn2023.x86_64", "index"], ["6.1.202-1.amzn2023.x86_64", "lime"],
            ]);
            assert.match(out.builds[0].failed[0].reason, /has SHA-256 [0-9a-f]{64}, the report says/);
            const index = parseIndex(await (await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: INDEX_KEY }))).Body!.transformToString());
            const entry = index.modules.find((m) => m.kernelRelease === "6.1.200-1.amzn2023.x86_64")!;
            assert.strictEqual(entry.banner, "Linux version 6.1.200-1.amzn2023.x86_64 (builder@example) (gcc 11) #1 SMP 'quoted' 'braced'");
            assert.strictEqual(entry.symbolsStatus, "available");
            assert.ok(!index.modules.some((m) => m.kernelRelease === "6.1.201-1.amzn2023.x86_64"));
            const [message] = await reports();
            assert.strictEqual(message.kind, "module-build");
            assert.strictEqual(message.buildId, "b-1");
            assert.deepStrictEqual(message.failed.length, 2);
            const validate = new Ajv({ allErrors: true }).compile(SCHEMA);
            assert.ok(validate(JSON.parse(renderIndex(index))), JSON.stringify(validate.errors));
        });

        it("ignores objects that are not build reports of this bucket", async () => {
            const out = await handleIndexEvent(clients, settings, { Records: [
                { s3: { bucket: { name: BUCKET }, object: { key: "lime/x86_64/x/lime.ko" } } },
                { s3: { bucket: { name: "another-bucket" }, object: { key: "builds/x/report.json" } } },
            ] });
            assert.deepStrictEqual(out.builds, []);
        });

        it("builds finishing at the same time all land in the index (compare-and-swap)", async () => {
            const keys = await Promise.all(Array.from({ length: 5 }, (_, i) => putBuild(`c-${i}`, "arm64", [{ kr: `6.1.${300 + i}-1.amzn2023.aarch64` }])));
            await Promise.all(keys.map((k) => recordBuild(s3, BUCKET, k)));
            const index = parseIndex(await (await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: INDEX_KEY }))).Body!.transformToString());
            for (let i = 0; i < 5; i++) {
                assert.ok(index.modules.some((m) => m.arch === "arm64" && m.kernelRelease === `6.1.${300 + i}-1.amzn2023.aarch64`), String(i));
            }
            await reports();
        });
    });

    describe("AVML", () => {
        let server: http.Server;
        let base: string;
        const binaries = { x86_64: Buffer.from("avml x86_64 binary"), arm64: Buffer.from("avml aarch64 binary") };

        before(async () => {
            server = http.createServer((req, res) => {
                const body = req.url === "/avml" ? binaries.x86_64 : req.url === "/avml-aarch64" ? binaries.arm64 : undefined;
                res.writeHead(body ? 200 : 404).end(body);
            });
            await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
            base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
        });
        after(() => new Promise<void>((r) => server.close(() => r())));

        function avmlSettings(hashes: { x86_64: string; arm64: string }): ModuleFactorySettings {
            return { ...settings, tools: { ...settings.tools, avml: { version: "0.20.0", urls: { x86_64: `${base}/avml`, arm64: `${base}/avml-aarch64` }, sha256: hashes } } };
        }

        it("refuses a binary whose SHA-256 is not the pinned one and stages nothing for it", async () => {
            await reports();
            await assert.rejects(
                handleIndexEvent(clients, avmlSettings({ x86_64: "f".repeat(64), arm64: "" }), { action: "stage-avml" }),
                /AVML staging failed: x86_64: AVML 0\.20\.0 for x86_64 has SHA-256 [0-9a-f]{64}, the configured pin is f{64}/,
            );
            await assert.rejects(s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: "avml/x86_64/avml" })));
            const [message] = await reports();
            assert.strictEqual(message.kind, "avml-staging");
        });

        it("stages both architectures under avml/<arch>/avml and lists them in index.json (schema-valid); a re-run changes nothing", async () => {
            const pinned = { x86_64: sha256(binaries.x86_64), arm64: sha256(binaries.arm64) };
            const out = await handleIndexEvent(clients, avmlSettings(pinned), { action: "stage-avml" });
            assert.deepStrictEqual(out.avml!.staged, ["x86_64", "arm64"]);
            for (const arch of ["x86_64", "arm64"] as const) {
                const body = await (await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: `avml/${arch}/avml` }))).Body!.transformToByteArray();
                assert.strictEqual(sha256(Buffer.from(body)), pinned[arch]);
            }
            const text = await (await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: INDEX_KEY }))).Body!.transformToString();
            const index = parseIndex(text);
            assert.deepStrictEqual(index.avml.map((a) => [a.arch, a.path, a.sha256, a.version]), [
                ["arm64", "avml/arm64/avml", pinned.arm64, "0.20.0"], ["x86_64", "avml/x86_64/avml", pinned.x86_64, "0.20.0"],
            ]);
            assert.ok(index.modules.length > 0, "the AVML update kept the modules");
            const validate = new Ajv({ allErrors: true }).compile(SCHEMA);
            assert.ok(validate(JSON.parse(text)), JSON.stringify(validate.errors));
            const again = await handleIndexEvent(clients, avmlSettings(pinned), { action: "stage-avml" });
            assert.deepStrictEqual(again.avml, { staged: [], unchanged: ["x86_64", "arm64"], failed: [] });
        });
    });

    describe("the deployed callbacks (generated Lambda code of the security stack)", () => {
        let restore: (() => void) | undefined;
        after(() => restore?.());

        it("the launcher starts a builder and the indexer merges its report, from the code Pulumi would upload", async () => {
            const callbacks = await deployedCallbacks(await renderSecurity());
            // The account root (the harness): the rendered stack names mock resources, so its roles cannot be
            // deployed here; the drill runs each function with its own deployed role.
            const creds = harnessCredentials(SECURITY);
            restore = withEnvironment({
                AWS_ENDPOINT_URL: moto().endpoint, AWS_REGION: DEFAULT_REGION,
                AWS_ACCESS_KEY_ID: creds.accessKeyId, AWS_SECRET_ACCESS_KEY: creds.secretAccessKey, 
            });
            // The rendered settings hold mock ids (awsx is opaque under mocks): the test's network and topic stand in.
            const environment = { IRF_SETTINGS: JSON.stringify(settings) };
            const launcher = loadCallback({ ...callbacks["modules-build"], environment });
            const out = await launcher({ action: "build", amiId: amiX86, region: DEFAULT_REGION });
            const userData = await userDataOf(ec2, out.launched[0].instanceId);
            assert.ok(userData.includes(SCRIPT.trimEnd()), "the serialized launcher carries the builder script");
            const key = `builds/deployed-1/report.json`;
            await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: JSON.stringify({
                schemaVersion: 1, buildId: "deployed-1", sourceAmi: amiX86, sourceRegion: DEFAULT_REGION, arch: "x86_64", distribution: "amzn 2023",
                kernels: [{ kernelRelease: "6.1.400-1.amzn2023.x86_64", status: "failed", step: "headers", reason: "not offered" }], skipped: [], errors: [],
            }) }));
            const indexer = loadCallback({ ...callbacks["modules-index"], environment });
            const indexed = await indexer({ Records: [{ s3: { bucket: { name: BUCKET }, object: { key } } }] });
            assert.deepStrictEqual(indexed.builds[0].failed, [{ kernelRelease: "6.1.400-1.amzn2023.x86_64", step: "headers", reason: "not offered" }]);
            await sweepBuilders(ec2, 0, new Date(Date.now() + 60 * 60_000));
            await reports();
        });
    });
});
