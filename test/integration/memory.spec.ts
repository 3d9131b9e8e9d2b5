/**
 * The memory branch's engine side against moto: MEMBER (the instance, SSM), SECURITY (module store),
 * FORENSIC (Object Lock evidence bucket). moto's SSM never runs anything and has no managed-instance
 * inventory (DescribeInstanceInformation → 500, GetCommandInvocation → empty output: research/moto.md §3),
 * so "managed"/"not managed" and the host's report come from aws-sdk-client-mock SSM clients, and the host
 * is simulated by PUTting a test image through the presigned UploadPart URLs with per-part SHA-256
 * checksums, as acquire-memory.sh does. URLs are presigned with credentials assumed into each account
 * (moto maps assumed-role keys to their account).
 */
import * as assert from "assert";
import { spawnSync } from "child_process";
import { createHash, randomBytes } from "crypto";
import { RunInstancesCommand, StopInstancesCommand, TerminateInstancesCommand } from "@aws-sdk/client-ec2";
import {
    CreateBucketCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, PutObjectLockConfigurationCommand, S3Client, UploadPartCommand,
} from "@aws-sdk/client-s3";
import {
    CreateDocumentCommand, DescribeInstanceInformationCommand, GetCommandInvocationCommand, ListCommandsCommand, SSMClient,
} from "@aws-sdk/client-ssm";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { mockClient } from "aws-sdk-client-mock";
import * as fs from "fs";
import * as path from "path";
import { AccountClients, DEFAULT_REGION, TEST_CREDENTIALS, clientConfig, clientsFor, forAccount } from "../../emulator/aws/aws-clients";
import { presigningS3Client } from "../../emulator/aws/aws-clients";
import { limeImage } from "../../emulator/host/lime-image";
import { PROJECT_ROOT } from "../../emulator/paths";
import { MemberClientFactory } from "../../functions/shared/aws";
import type { EngineSettings } from "../../functions/shared/settings";
import { HostReport, MemoryProgress, awaitAgent, completeCapture, completeUpload, memoryDocument, memorySizing, memoryStepRecord, planCapture, pollCapture, sessionKey, verifyCapture, startCapture } from "../../functions/acquisition/memory";
import type { MemorySettings } from "../../functions/shared/settings";
import { CaseState } from "../../functions/shared/types";
import { FORENSIC, MEMBER, SECURITY, useMoto } from "../support/moto";
import { newCase, stepSettings } from "../support/cases";
import { sharedEvidenceKey } from "../support/evidence";

const AMI = "ami-04681a1dbd79675a5";
const MiB = 1024 * 1024;
const KERNEL = "6.1.0-test";
/** One pass of Node's own SHA-256, fed in 1 GiB slices (a single update takes less than 2 GiB). */
function sha256(data: Buffer): string {
    const hash = createHash("sha256");
    for (let offset = 0; offset < data.length; offset += 1024 * MiB) {
        hash.update(data.subarray(offset, offset + 1024 * MiB));
    }
    return hash.digest("hex");
}


function makeImage(size: number, banner: boolean): Buffer {
    return limeImage(size, banner ? {} : { banner: false });
}

/** A standalone (non-moto) SSM client with its mock. */
function mockedSsm(): { client: SSMClient; mock: ReturnType<typeof mockClient> } {
    const client = new SSMClient({ region: DEFAULT_REGION, credentials: { ...TEST_CREDENTIALS } });
    return { client, mock: mockClient(client) };
}


const SCRIPT_TEXT = fs.readFileSync(path.join(PROJECT_ROOT, "imagebuilder", "acquire-memory.sh"), "utf8");
const MEMORY_DOCUMENT = "ir-forensics-acquire-memory";

/** The runCommand lines of an SSM document with `{{ name }}` replaced as the agent does, after checking each allowed pattern. */
export function renderedDocument(document: Record<string, any>, parameters: Record<string, string[]>): string {
    const declared = document.parameters as Record<string, { allowedPattern?: string; default?: string }>;
    for (const name of Object.keys(parameters)) {
        assert.ok(declared[name], `parameter ${name} is not declared by the document`);
    }
    const value = (name: string): string => {
        const v = parameters[name]?.[0] ?? declared[name]?.default;
        assert.ok(v !== undefined, `parameter ${name} has no value and no default`);
        if (declared[name].allowedPattern) {
            assert.match(v, new RegExp(declared[name].allowedPattern as string), `parameter ${name} outside its allowed pattern`);
        }
        return v;
    };
    const lines = document.mainSteps[0].inputs.runCommand as string[];
    return lines.map((l) => l.replace(/\{\{ (\w+) \}\}/g, (_, name: string) => value(name))).join("\n");
}

describe("memory branch: plan, presigned multipart capture, poll, verify", function () {
    this.timeout(60_000);
    const moto = useMoto();
    const run = randomBytes(4).toString("hex");
    const storeBucket = `irf-modules-${run}`;
    let member: AccountClients;
    let forensic: AccountClients;
    let security: AccountClients;
    let memberSsm: SSMClient;
    let storePresigner: S3Client;
    let evidencePresigner: S3Client;
    let settings: EngineSettings & { memory: MemorySettings };
    /** URLs presigned by the last startCapture (what the host would receive), by key kind. */
    let presigned: { bucket: string; key: string; part?: number; url: string }[] = [];

    const factory: MemberClientFactory = async (ref) => {
        assert.strictEqual(ref.accountId, MEMBER);
        return { ec2: member.ec2, autoScaling: member.autoScaling, elbv2: member.elbv2, elb: member.elb, iam: member.iam };
    };
    const presign = async (command: GetObjectCommand | UploadPartCommand, expiresIn: number): Promise<string> => {
        const input = command.input as { Bucket?: string; Key?: string; PartNumber?: number };
        const client = input.Bucket === storeBucket ? storePresigner : evidencePresigner;
        const url = command instanceof UploadPartCommand ? await getSignedUrl(client, command, { expiresIn }) : await getSignedUrl(client, command, { expiresIn });
        presigned.push({ bucket: input.Bucket ?? "", key: input.Key ?? "", part: input.PartNumber, url });
        return url;
    };

    const presignerFor = (account: string) => presigningS3Client(moto().endpoint, account);

    async function newInstance(): Promise<CaseState> {
        const out = await member.ec2.send(new RunInstancesCommand({ ImageId: AMI, InstanceType: "t2.nano", MinCount: 1, MaxCount: 1 }));
        return newCase(out.Instances?.[0].InstanceId ?? "");
    }

    /** Plans (moto SSM: managed unknown) and starts a capture; returns the progress. */
    async function planAndStart(): Promise<MemoryProgress> {
        const state = await newInstance();
        const planned = await planCapture(state, { member: factory, ssmFor: async () => memberSsm, settings, options: { minBytes: 1 * MiB } });
        assert.strictEqual(planned.status, "planned", JSON.stringify(planned));
        presigned = [];
        return startCapture(planned, { s3: forensic.s3, store: security.s3, presign, ssm: memberSsm, settings });
    }

    /** What the host script does: PUT each part with its Content-MD5 (a presigned URL admits it unsigned); returns the script-shaped report. */
    async function simulateHost(progress: MemoryProgress, image: Buffer): Promise<HostReport> {
        const partSize = progress.sizing?.partSize ?? 0;
        const key = progress.attempts[progress.attempts.length - 1].key;
        const urls = presigned.filter((p) => p.key === key && p.part !== undefined).sort((a, b) => (a.part ?? 0) - (b.part ?? 0));
        let partCount = 0;
        for (let offset = 0, n = 0; offset < image.length; offset += partSize, n++) {
            const body = image.subarray(offset, offset + partSize);
            const md5 = createHash("md5").update(body).digest("base64");
            const res = await fetch(urls[n].url, { method: "PUT", body, headers: { "content-type": "application/octet-stream", "content-md5": md5 } });
            assert.strictEqual(res.status, 200, await res.text());
            partCount++;
        }
        return {
            tool: "lime", toolVersion: "1.9.1", kernelRelease: KERNEL, arch: "x86_64", bytes: image.length, sha256: sha256(image),
            bannerSeen: image.includes(Buffer.from("Linux version ")), minBytes: 1 * MiB, partCount, errors: [],
        };
    }

    /** pollCapture against a mocked SSM whose invocation printed `report` (moto's output is always empty). */
    async function pollWith(progress: MemoryProgress, report: HostReport, exitCode = 0): Promise<MemoryProgress> {
        const ssm = mockedSsm();
        ssm.mock.on(GetCommandInvocationCommand).resolves({
            Status: exitCode === 0 ? "Success" : "Failed", ResponseCode: exitCode,
            StandardOutputContent: `${JSON.stringify(report)}\n`, StandardErrorContent: "acquire-memory: diagnostics\n",
        });
        return pollCapture(progress, { ssm: ssm.client });
    }

    function assertNoUrls(value: unknown): void {
        const text = JSON.stringify(value);
        assert.doesNotMatch(text, /X-Amz-(Signature|Credential|Security-Token)|https?:\/\//i, "a URL leaked into a record");
        assert.ok(!text.includes(new URL(moto().endpoint).host), "the endpoint leaked into a record");
    }

    before(async function () {
        await moto().reset();
        member = clientsFor(moto().endpoint, MEMBER);
        forensic = clientsFor(moto().endpoint, FORENSIC);
        security = clientsFor(moto().endpoint, SECURITY);
        memberSsm = forAccount(new SSMClient(clientConfig(moto().endpoint)), MEMBER);
        // The member footprint's document (what the stack deploys from the same function).
        await memberSsm.send(new CreateDocumentCommand({
            Name: MEMORY_DOCUMENT, DocumentType: "Command", DocumentFormat: "JSON", Content: JSON.stringify(memoryDocument(SCRIPT_TEXT)),
        }));
        const evidenceBucket = `irf-evidence-${run}`;
        await forensic.s3.send(new CreateBucketCommand({
            Bucket: evidenceBucket, ObjectLockEnabledForBucket: true, CreateBucketConfiguration: { LocationConstraint: DEFAULT_REGION },
        }));
        await forensic.s3.send(new PutObjectLockConfigurationCommand({
            Bucket: evidenceBucket, ObjectLockConfiguration: { ObjectLockEnabled: "Enabled", Rule: { DefaultRetention: { Mode: "GOVERNANCE", Days: 1 } } },
        }));
        await security.s3.send(new CreateBucketCommand({ Bucket: storeBucket, CreateBucketConfiguration: { LocationConstraint: DEFAULT_REGION } }));
        // The store's index: a module for KERNEL on each architecture (only the instance's is presigned).
        const module = (arch: string) => ({ arch, kernelRelease: KERNEL, path: `lime/${arch}/${KERNEL}/lime.ko`, sha256: "0".repeat(64), version: "1.9.1" });
        await security.s3.send(new PutObjectCommand({
            Bucket: storeBucket, Key: "index.json", Body: JSON.stringify({ schemaVersion: 1, modules: [module("x86_64"), module("arm64")], avml: [] }),
        }));
        storePresigner = await presignerFor(SECURITY);
        evidencePresigner = await presignerFor(FORENSIC);
        // S3 refuses SSE-KMS with a key that does not exist (KMS.NotFoundException): a real key of the forensic account.
        const evidenceKeyArn = await sharedEvidenceKey(forensic, FORENSIC, [], `memory spec ${run}`);
        settings = {
            ...stepSettings({ evidenceBucket, evidenceKeyArn }),
            memory: {
                documentName: MEMORY_DOCUMENT,
                moduleStoreBucket: storeBucket,
            },
        };
    });

    after(function () {
        for (const client of [...Object.values(member ?? {}), ...Object.values(forensic ?? {}), ...Object.values(security ?? {})]) {
            client.destroy();
        }
        memberSsm?.destroy();
        storePresigner?.destroy();
        evidencePresigner?.destroy();
    });

    it("the memory document, script included, fits SSM's 64 KB limit on a document's content", function () {
        // CreateDocument refuses Content over 64 KB (SSM quotas: "Maximum size of a document").
        const bytes = Buffer.byteLength(JSON.stringify(memoryDocument(SCRIPT_TEXT)));
        assert.ok(bytes <= 64 * 1024, `${bytes} bytes`);
    });

    it("sizing: ≥ 8 MiB parts, ≤ 10,000 parts with headroom, budget scaled to RAM, presign expiry capped at 12 h", function () {
        const small = memorySizing(4096);
        assert.strictEqual(small.partSize, 8 * MiB);
        assert.ok(small.partCount * small.partSize >= 4096 * MiB * 1.02 + 64 * MiB);
        assert.strictEqual(small.budgetSeconds, 600 + 4 * 60);
        assert.strictEqual(small.presignExpirySeconds, small.budgetSeconds + 900);
        const huge = memorySizing(2 * 1024 * 1024); // 2 TiB
        assert.ok(huge.partCount <= 10_000 && huge.partSize <= 5 * 1024 * MiB && huge.partSize % MiB === 0);
        assert.ok(huge.partCount * huge.partSize >= huge.maxImageBytes);
        assert.strictEqual(huge.presignExpirySeconds, 12 * 3600);
        assert.throws(() => memorySizing(0));
    });

    it("planCapture when the SSM inventory check fails (moto has no DescribeInstanceInformation) → managed unknown (recorded), sized from DescribeInstanceTypes", async function () {
        const state = await newInstance();
        const progress = await planCapture(state, { member: factory, ssmFor: async () => memberSsm, settings });
        assert.strictEqual(progress.status, "planned");
        assert.strictEqual(progress.managed, "unknown");
        const describe = progress.actions.find((a) => a.action === "ssm:DescribeInstanceInformation");
        assert.strictEqual(describe?.outcome, "failed");
        assert.strictEqual(describe?.detail?.managed, "unknown");
        assert.ok(describe?.error, "the failed check is recorded with its error");
        assert.strictEqual(progress.instanceType, "t2.nano");
        assert.strictEqual(progress.sizing?.memoryMiB, 512);
        assert.deepStrictEqual(progress.sizing, memorySizing(512));
    });

    it("planCapture: not managed when the case began (no inventory entry) → not acquirable (no SSM); managed Online → planned", async function () {
        const state = await newInstance();
        state.facts = { state: "running", networkInterfaces: [], volumeIds: [], tags: {}, ssmAtStart: "unmanaged" };
        const ssm = mockedSsm();
        ssm.mock.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [] });
        const progress = await planCapture(state, { member: factory, ssmFor: async () => ssm.client, settings });
        assert.strictEqual(progress.status, "not-acquirable");
        assert.strictEqual(progress.reason, "no SSM (not a managed instance when the case began)");
        const { step, artifacts } = memoryStepRecord(progress);
        assert.strictEqual(step.status, "skipped");
        assert.strictEqual(step.error, "memory: not acquirable (no SSM (not a managed instance when the case began))");
        assert.deepStrictEqual(artifacts, []);
        const filter = ssm.mock.commandCalls(DescribeInstanceInformationCommand)[0].args[0].input.Filters;
        assert.deepStrictEqual(filter, [{ Key: "InstanceIds", Values: [state.instance.instanceId] }]);

        ssm.mock.reset();
        ssm.mock.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [{ InstanceId: state.instance.instanceId, PingStatus: "Online" }] });
        const managed = await planCapture(state, { member: factory, ssmFor: async () => ssm.client, settings });
        assert.strictEqual(managed.status, "planned");
        assert.strictEqual(managed.managed, "yes");
    });

    it("planCapture after the profile swap: an agent that was Online when the case began but lost its connection is waited for, then captured", async function () {
        const state = await newInstance();
        state.facts = { state: "running", networkInterfaces: [], volumeIds: [], tags: {}, ssmAtStart: "Online" };
        const ssm = mockedSsm();
        ssm.mock.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [{ InstanceId: state.instance.instanceId, PingStatus: "ConnectionLost" }] });
        const waiting = await planCapture(state, { member: factory, ssmFor: async () => ssm.client, settings: { ...settings, memory: { ...settings.memory, ssmReconnectSeconds: 300 } } });
        // Today's branch gave up here ("no SSM") seconds after swapping the profile.
        assert.strictEqual(waiting.status, "awaiting-ssm", JSON.stringify(waiting));
        assert.ok(Date.parse(waiting.ssmDeadline ?? "") > Date.now() + 290_000);
        const still = await awaitAgent(waiting, { member: factory, ssmFor: async () => ssm.client });
        assert.strictEqual(still.status, "awaiting-ssm");
        assert.strictEqual(still.pingStatus, "ConnectionLost");
        ssm.mock.reset();
        ssm.mock.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [{ InstanceId: state.instance.instanceId, PingStatus: "Online" }] });
        const planned = await awaitAgent(still, { member: factory, ssmFor: async () => ssm.client });
        assert.strictEqual(planned.status, "planned", JSON.stringify(planned));
        assert.ok(planned.sizing);
        // An agent that never comes back within the wait: not acquirable, saying so.
        ssm.mock.reset();
        ssm.mock.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [{ InstanceId: state.instance.instanceId, PingStatus: "ConnectionLost" }] });
        const gaveUp = await awaitAgent({ ...waiting, ssmDeadline: new Date(Date.now() - 1).toISOString() }, { member: factory, ssmFor: async () => ssm.client });
        assert.strictEqual(gaveUp.status, "not-acquirable");
        assert.match(gaveUp.reason ?? "", /did not reconnect within \d+ s; PingStatus ConnectionLost/);
    });

    it("an agent that lost its connection on an instance that ended or stopped is not waited for: not acquirable at once, naming the state", async function () {
        const ssm = mockedSsm();
        ssm.mock.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [] });
        const long = { ...settings, memory: { ...settings.memory, ssmReconnectSeconds: 600 } };
        const terminated = await newInstance();
        terminated.facts = { state: "running", networkInterfaces: [], volumeIds: [], tags: {}, ssmAtStart: "Online" };
        await member.ec2.send(new TerminateInstancesCommand({ InstanceIds: [terminated.instance.instanceId] }));
        const atOnce = await planCapture(terminated, { member: factory, ssmFor: async () => ssm.client, settings: long });
        assert.strictEqual(atOnce.status, "not-acquirable", JSON.stringify(atOnce));
        assert.match(atOnce.reason ?? "", /^the instance is (shutting-down|terminated): no memory to capture$/);
        // While waiting: the instance stops between two looks, the next look ends the wait.
        const stopped = await newInstance();
        stopped.facts = { state: "running", networkInterfaces: [], volumeIds: [], tags: {}, ssmAtStart: "Online" };
        const waiting = await planCapture(stopped, { member: factory, ssmFor: async () => ssm.client, settings: long });
        assert.strictEqual(waiting.status, "awaiting-ssm", JSON.stringify(waiting));
        await member.ec2.send(new StopInstancesCommand({ InstanceIds: [stopped.instance.instanceId] }));
        const ended = await awaitAgent(waiting, { member: factory, ssmFor: async () => ssm.client });
        assert.strictEqual(ended.status, "not-acquirable", JSON.stringify(ended));
        assert.match(ended.reason ?? "", /^the instance is (stopping|stopped): no memory to capture$/);
        assert.ok(Date.parse(waiting.ssmDeadline ?? "") > Date.now() + 590_000, "ended long before the deadline");
    });

    it("startCapture → host uploads → pollCapture → completeCapture: accepted, artifact recorded, no URL in any record", async function () {
        const progress = await planAndStart();
        assert.strictEqual(progress.status, "running", JSON.stringify(progress.actions));
        const attempt = progress.attempts[0];
        assert.strictEqual(attempt.key, `cases/${progress.caseId}/memory/${progress.instance.instanceId}.lime`);
        assert.ok(attempt.uploadId && attempt.commandId);
        const sizing = progress.sizing;
        assert.ok(sizing);
        const partUrls = presigned.filter((p) => p.part !== undefined);
        assert.strictEqual(partUrls.length, sizing.partCount);
        assert.deepStrictEqual(partUrls.map((p) => p.part), Array.from({ length: sizing.partCount }, (_, i) => i + 1));
        assert.deepStrictEqual(
            presigned.filter((p) => p.bucket === storeBucket).map((p) => p.key).sort(),
            ["avml/arm64/avml", "avml/x86_64/avml", "index.json", `lime/x86_64/${KERNEL}/lime.ko`, sessionKey(attempt.key.split("/")[1], progress.instance.instanceId, 1)],
            "index, AVML for both archs, only the modules for the instance's architecture, and the session file",
        );
        // The session file (module store) carries the part and module URLs, in part order.
        const sessionText = await (await security.s3.send(new GetObjectCommand({
            Bucket: storeBucket, Key: sessionKey(progress.caseId, progress.instance.instanceId, 1),
        }))).Body!.transformToString();
        const sessionLines = sessionText.trim().split("\n");
        assert.deepStrictEqual(sessionLines.filter((l) => l.startsWith("part ")).map((l) => l.slice(5)), partUrls.map((p) => p.url));
        assert.deepStrictEqual(sessionLines.filter((l) => l.startsWith("module ")).map((l) => l.split("=")[0]), [`module x86_64/${KERNEL}`]);
        assertNoUrls(progress);

        // The command as moto stored it: the project's document, URLs only in its parameters, timeout from the budget.
        const listed = await memberSsm.send(new ListCommandsCommand({ CommandId: attempt.commandId }));
        const command = listed.Commands?.[0];
        assert.strictEqual(command?.DocumentName, MEMORY_DOCUMENT);
        const parameters = command?.Parameters ?? {};
        assert.deepStrictEqual(parameters.executionTimeout, [String(sizing.budgetSeconds)]);
        const values = Object.values(parameters).flat().join("\n");
        const inCommand = presigned.filter((p) => values.includes(p.url)).map((p) => p.key).sort();
        assert.deepStrictEqual(inCommand, ["avml/arm64/avml", "avml/x86_64/avml", "index.json", sessionKey(progress.caseId, progress.instance.instanceId, 1)],
            "the command carries the index, AVML and session URLs only (part and module URLs are in the session file)");
        assert.deepStrictEqual(parameters.partSize, [String(sizing.partSize)]);
        assert.deepStrictEqual(parameters.minBytes, ["1048576"]);
        // What the agent would run: the document with the parameters substituted, each within its allowed pattern.
        const script = renderedDocument(memoryDocument(SCRIPT_TEXT), parameters);
        assert.match(script, /^bash -s <<'IRF_SCRIPT_[0-9a-f]{16}'$/m);
        const syntax = spawnSync("bash", ["-n"], { input: script, encoding: "utf8" });
        assert.strictEqual(syntax.status, 0, `the command text is not valid bash: ${syntax.stderr}`);
        assert.deepStrictEqual(progress.actions.find((a) => a.action === "presign")?.detail, {
            partUrls: sizing.partCount, storeObjects: 5, expiresIn: sizing.presignExpirySeconds,
            sessionFile: sessionKey(progress.caseId, progress.instance.instanceId, 1),
        });

        // The host: a 12 MiB image with a banner, two parts.
        const image = makeImage(12 * MiB, true);
        const report = await simulateHost(progress, image);
        const polled = await pollWith(progress, report);
        assert.strictEqual(polled.status, "uploaded");
        assert.strictEqual(polled.attempts[0].poll, "done");
        const done = await completeCapture(polled, { s3: forensic.s3, settings });
        assert.strictEqual(done.status, "accepted", done.reason);
        assert.strictEqual(done.retry, false);
        const artifact = done.artifacts[0];
        assert.strictEqual(artifact.kind, "memory");
        assert.strictEqual(artifact.key, attempt.key);
        assert.strictEqual(artifact.bytes, image.length);
        assert.strictEqual(artifact.sha256, sha256(image));
        assert.ok(artifact.versionId);
        // The upload carries no checksum algorithm (parts are sent with Content-MD5, which S3 checks): the
        // engine's own SHA-256 of what S3 holds is the record.
        assert.strictEqual(artifact.s3Checksum, undefined);
        assert.strictEqual(artifact.producedBy, "acquire-memory.sh lime 1.9.1");
        const stored = await forensic.s3.send(new GetObjectCommand({ Bucket: settings.evidenceBucket, Key: attempt.key, VersionId: artifact.versionId }));
        assert.strictEqual(sha256(Buffer.from(await stored.Body?.transformToByteArray() ?? [])), sha256(image));

        const { step, artifacts } = memoryStepRecord(done);
        assert.strictEqual(step.step, "memory");
        assert.strictEqual(step.status, "succeeded");
        assert.deepStrictEqual(artifacts, done.artifacts);
        assertNoUrls({ done, step });
    });

    it("pollCapture: InProgress and a not-yet-visible invocation are pending; a command without a report fails", async function () {
        const progress = await planAndStart();
        const ssm = mockedSsm();
        ssm.mock.on(GetCommandInvocationCommand).resolvesOnce({ Status: "InProgress" })
            .rejectsOnce(Object.assign(new Error("invocation does not exist"), { name: "InvocationDoesNotExist" }))
            .resolves({ Status: "Failed", ResponseCode: 1, StandardOutputContent: "" });
        let p = await pollCapture(progress, { ssm: ssm.client });
        assert.strictEqual(p.status, "pending");
        p = await pollCapture(p, { ssm: ssm.client });
        assert.strictEqual(p.status, "pending");
        p = await pollCapture(p, { ssm: ssm.client });
        assert.strictEqual(p.status, "failed");
        assert.strictEqual(p.polls, 3);
    });

    it("a capture without a kernel banner is rejected but kept; the retry (AVML) presigns no module", async function () {
        const progress = await planAndStart();
        const image = makeImage(9 * MiB, false);
        const report = await simulateHost(progress, image);
        const done = await completeCapture(await pollWith(progress, report, 5), { s3: forensic.s3, settings });
        assert.strictEqual(done.status, "rejected");
        assert.match(done.reason ?? "", /no kernel banner/);
        assert.strictEqual(done.retry, true, "LiME failed with time left: AVML once");
        const artifact = done.artifacts[0];
        assert.strictEqual(artifact.detail?.accepted, false);
        const head = await forensic.s3.send(new HeadObjectCommand({ Bucket: settings.evidenceBucket, Key: artifact.key, VersionId: artifact.versionId }));
        assert.strictEqual(head.ContentLength, image.length, "the rejected capture stays in the bucket");
        assert.strictEqual(memoryStepRecord(done).step.status, "failed");

        presigned = [];
        const retried = await startCapture(done, { s3: forensic.s3, store: security.s3, presign, ssm: memberSsm, settings });
        assert.strictEqual(retried.status, "running");
        assert.strictEqual(retried.attempts.length, 2);
        assert.strictEqual(retried.attempts[1].forceTool, "avml");
        assert.notStrictEqual(retried.attempts[1].key, retried.attempts[0].key);
        assert.ok(!presigned.some((p) => p.key.startsWith("lime/")), "no module offered to the AVML retry");
        const retryReport = await simulateHost(retried, makeImage(9 * MiB, false));
        const again = await completeCapture(await pollWith(retried, { ...retryReport, tool: "avml", toolVersion: "0.20.0" }, 5), { s3: forensic.s3, settings });
        assert.strictEqual(again.status, "rejected");
        assert.strictEqual(again.retry, false, "only one retry");
        assert.strictEqual(again.artifacts.length, 2);
    });

    it("a SHA-256 mismatch between the host's report and the engine's own record is rejected, the object kept", async function () {
        const progress = await planAndStart();
        const image = makeImage(10 * MiB, true);
        const report = await simulateHost(progress, image);
        const done = await completeCapture(await pollWith(progress, { ...report, sha256: sha256(Buffer.from("something else")) }), { s3: forensic.s3, settings });
        assert.strictEqual(done.status, "rejected");
        assert.match(done.reason ?? "", /SHA-256 mismatch/);
        const artifact = done.artifacts[0];
        assert.strictEqual(artifact.sha256, sha256(image), "the artifact carries the engine's own SHA-256");
        const head = await forensic.s3.send(new HeadObjectCommand({ Bucket: settings.evidenceBucket, Key: artifact.key, VersionId: artifact.versionId }));
        assert.strictEqual(head.ContentLength, image.length);
    });

    it("a stream cut short (host and engine agree on its hash) is rejected as an incomplete LiME image, and kept", async function () {
        const progress = await planAndStart();
        const whole = makeImage(10 * MiB, true);
        const cut = whole.subarray(0, 9 * MiB + 12345);
        const done = await completeCapture(await pollWith(progress, await simulateHost(progress, cut)), { s3: forensic.s3, settings });
        assert.strictEqual(done.status, "rejected");
        assert.match(done.reason ?? "", /not a complete LiME image: truncated: range 2 lacks its last \d+ bytes/);
        assert.deepStrictEqual(done.reason?.split("; ").length, 1, "the truncation is the only finding");
        const artifact = done.artifacts[0];
        assert.deepStrictEqual((artifact.detail as { lime: unknown }).lime, {
            ranges: 2, dataBytes: whole.length - 64, complete: false, error: `truncated: range 2 lacks its last ${whole.length - cut.length} bytes`,
        });
        assert.strictEqual(artifact.bytes, cut.length, "kept as evidence");
    });

    it("verifies in rounds that split a LiME header and the kernel banner, the state carried as JSON, to the single-pass SHA-256", async function () {
        const progress = await planAndStart();
        const image = makeImage(24 * MiB, true);
        const uploaded = await completeUpload(await pollWith(progress, await simulateHost(progress, image)), { s3: forensic.s3, settings });
        assert.strictEqual(uploaded.status, "verifying", uploaded.reason);
        const bannerAt = image.indexOf("Linux version ");
        const secondHeaderAt = 32 + 636 * 1024;
        // Rounds that end 5 bytes into the banner, and 10 bytes into the second range header.
        for (const roundBytes of [bannerAt + 5, secondHeaderAt + 10]) {
            const limits = { ...settings, memory: { ...settings.memory, verifyRoundBytes: roundBytes } };
            let p: MemoryProgress = JSON.parse(JSON.stringify(uploaded));
            let rounds = 0;
            while (p.status === "verifying") {
                // Between rounds the document is JSON in the state machine: nothing may depend on memory.
                p = await verifyCapture(JSON.parse(JSON.stringify(p)), { s3: forensic.s3, settings: limits });
                rounds++;
            }
            assert.strictEqual(p.status, "accepted", p.reason);
            assert.strictEqual(rounds, Math.ceil(image.length / roundBytes));
            const artifact = p.artifacts[0];
            assert.strictEqual(artifact.sha256, sha256(image));
            assert.deepStrictEqual((artifact.detail as any).verification.rounds, rounds);
            assert.deepStrictEqual((artifact.detail as any).lime, { ranges: 2, dataBytes: image.length - 64, complete: true });
            assert.deepStrictEqual((artifact.detail as any).bannerSeen, { host: true, engine: true });
            assert.strictEqual(p.attempts[0].verification?.hashState, undefined, "the carried hash state stays out of the record");
        }
    });

    it("a branch cut short while verifying still lists the stored image, unverified", async function () {
        const progress = await planAndStart();
        const image = makeImage(10 * MiB, true);
        const uploaded = await completeUpload(await pollWith(progress, await simulateHost(progress, image)), { s3: forensic.s3, settings });
        const oneRound = await verifyCapture(uploaded, { s3: forensic.s3, settings: { ...settings, memory: { ...settings.memory, verifyRoundBytes: 4 * MiB } } });
        assert.strictEqual(oneRound.status, "verifying");
        const { step, artifacts } = memoryStepRecord(oneRound);
        assert.strictEqual(step.status, "failed");
        assert.strictEqual(artifacts.length, 1);
        assert.deepStrictEqual([artifacts[0].key, artifacts[0].bytes, artifacts[0].sha256], [uploaded.attempts[0].key, image.length, undefined]);
        assert.deepStrictEqual((artifacts[0].detail as any).verifiedBytes, 4 * MiB);
        assert.ok(!JSON.stringify(step).includes("hashState\":\""), "the hash state is not in the record");
    });

    it("an accepted capture records the LiME structure it was checked against", async function () {
        const progress = await planAndStart();
        const image = makeImage(10 * MiB, true);
        const done = await completeCapture(await pollWith(progress, await simulateHost(progress, image)), { s3: forensic.s3, settings });
        assert.strictEqual(done.status, "accepted", done.reason);
        assert.deepStrictEqual((done.artifacts[0].detail as { lime: unknown }).lime, { ranges: 2, dataBytes: image.length - 64, complete: true });
    });
});
